"""Every field of Shopify's documented order webhook, on the orders the emulator sends.

The emulator's orders (:mod:`sandbox.shopify.orders`) carry what its GraphQL view and the
totals need; a real ``orders/*`` payload carries much more (Shopify's own sample is
``tests/integrations/shopify_order_webhook_sample.json``). :func:`complete` adds the rest to a
copy, derived from the order where Shopify derives it (``current_*`` totals, the discount
applications behind the codes, the customer's default address) and otherwise with the value a
plain online-store order has (no app, no duties, no tips, nothing refunded).
"""

from __future__ import annotations

import copy
import hashlib
from decimal import Decimal
from typing import Any

from sandbox.shopify.orders import money, money_set


def _zero_set(currency: str) -> dict[str, Any]:
    return money_set(Decimal(0), currency)


def _order_defaults(order: dict[str, Any], shop: str) -> dict[str, Any]:
    currency = order["currency"]
    token = hashlib.md5(str(order["id"]).encode(), usedforsecurity=False).hexdigest()
    grams = sum(200 * item["quantity"] for item in order["line_items"])
    return {
        "app_id": None,
        "browser_ip": None,
        "buyer_accepts_marketing": False,
        "cart_token": None,
        "checkout_id": order["id"] + 1_000_000,
        "checkout_token": token,
        "client_details": {
            "accept_language": None,
            "browser_height": None,
            "browser_ip": None,
            "browser_width": None,
            "session_hash": None,
            "user_agent": None,
        },
        "confirmation_number": None,
        # Nothing is ever refunded or edited in the emulator: current totals are the originals.
        "current_subtotal_price": order["subtotal_price"],
        "current_subtotal_price_set": copy.deepcopy(order["subtotal_price_set"]),
        "current_total_additional_fees_set": None,
        "current_total_discounts": order["total_discounts"],
        "current_total_discounts_set": copy.deepcopy(order["total_discounts_set"]),
        "current_total_duties_set": None,
        "current_total_tax": order["total_tax"],
        "current_total_tax_set": copy.deepcopy(order["total_tax_set"]),
        "customer_locale": "en",
        "device_id": None,
        "discount_applications": [
            {
                "target_type": "line_item",
                "type": "discount_code",
                "value": code["amount"],
                "value_type": code.get("type", "fixed_amount"),
                "allocation_method": "across",
                "target_selection": "all",
                "code": code["code"],
            }
            for code in order.get("discount_codes", [])
        ],
        "duties_included": False,
        "estimated_taxes": False,
        "landing_site": None,
        "landing_site_ref": None,
        "location_id": None,
        "merchant_business_entity_id": None,
        "merchant_of_record_app_id": None,
        "order_status_url": f"https://{shop}/orders/{token}/authenticate?key={token[:16]}",
        "original_total_additional_fees_set": None,
        "original_total_duties_set": None,
        "payment_terms": None,
        "po_number": None,
        "reference": None,
        "referring_site": None,
        "source_identifier": None,
        "source_url": None,
        "tax_exempt": False,
        "token": token,
        "total_cash_rounding_payment_adjustment_set": _zero_set(currency),
        "total_cash_rounding_refund_adjustment_set": _zero_set(currency),
        "total_tip_received": money(Decimal(0)),
        "total_weight": grams,
        "user_id": None,
    }


def _customer_defaults(customer: dict[str, Any], address: dict[str, Any] | None) -> dict[str, Any]:
    default_address = None
    if address is not None:
        default_address = {
            "id": customer["id"] + 1,
            "customer_id": customer["id"],
            "first_name": address.get("first_name"),
            "last_name": address.get("last_name"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "province": address.get("province"),
            "country": address.get("country"),
            "zip": address.get("zip"),
            "phone": address.get("phone"),
            "name": address.get("name"),
            "province_code": address.get("province_code"),
            "country_code": address.get("country_code"),
            "country_name": address.get("country"),
            "default": True,
        }
    return {
        "state": "enabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": None,
        "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": None, "consent_updated_at": None},
        "sms_marketing_consent": {
            "state": "not_subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": None,
            "consent_collected_from": "OTHER",
        },
        "tax_exemptions": [],
        "default_address": default_address,
    }


def _line_item_defaults(item: dict[str, Any]) -> dict[str, Any]:
    fulfilled = item.get("fulfillment_status") == "fulfilled"
    return {
        "attributed_staffs": [],
        "duties": [],
        "fulfillable_quantity": 0 if fulfilled else item["quantity"],
        "fulfillment_service": "manual",
        "grams": 200,
        "product_id": item["variant_id"] - 30_000_000,
        "properties": [],
        "variant_inventory_management": "shopify",
        "vendor": None,
    }


_SHIPPING_DEFAULTS = {"carrier_identifier": None, "is_removed": False, "phone": None}


def complete(order: dict[str, Any], shop: str) -> dict[str, Any]:
    """A copy of ``order`` with every field of Shopify's order webhook sample (existing values kept)."""
    full = copy.deepcopy(order)
    for key, value in _order_defaults(order, shop).items():
        full.setdefault(key, value)
    if isinstance(full.get("customer"), dict):
        for key, value in _customer_defaults(full["customer"], full.get("billing_address")).items():
            full["customer"].setdefault(key, value)
    for item in full["line_items"]:
        for key, value in _line_item_defaults(item).items():
            item.setdefault(key, value)
    for line in full.get("shipping_lines", []):
        for key, value in {**_SHIPPING_DEFAULTS, "requested_fulfillment_service_id": None}.items():
            line.setdefault(key, value)
    return full
