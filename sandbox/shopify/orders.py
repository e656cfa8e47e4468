"""The Shopify emulator's orders, in the REST/webhook shape (as Shopify's own samples).

One store of truth per shop: the REST-shaped order dict is what ``orders/*`` webhooks carry;
:mod:`sandbox.shopify.order_view` turns it into the GraphQL ``Order`` the client queries.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def money_set(value: Decimal, currency: str) -> dict[str, Any]:
    amount = {"amount": money(value), "currency_code": currency}
    return {"shop_money": amount, "presentment_money": dict(amount)}


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def make_order(
    order_id: int,
    number: int,
    *,
    email: str,
    customer: tuple[int, str, str],
    lines: list[tuple[str, str, int, str]],
    shipping: tuple[str, str] = ("Standard", "0.00"),
    discount: tuple[str, str] | None = None,
    tax: tuple[str, str] = ("GST", "0.10"),
    currency: str = "AUD",
    financial_status: str = "pending",
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """A REST-shaped order with consistent totals (taxes excluded, discount spread by value, the
    last line taking the remainder so the allocations add up to the discount, as Shopify's do)."""
    created = created_at or datetime(2026, 11, 20, 9, 30, tzinfo=UTC) + timedelta(hours=order_id % 97)
    rate = Decimal(tax[1])
    gross = [Decimal(price) * qty for _, _, qty, price in lines]
    line_total = sum(gross, Decimal(0))
    discount_total = Decimal(discount[1]) if discount else Decimal(0)
    items: list[dict[str, Any]] = []
    tax_total, allocated = Decimal(0), Decimal(0)
    for index, ((title, sku, qty, price), amount) in enumerate(zip(lines, gross, strict=True)):
        share = (discount_total * amount / line_total).quantize(CENT) if line_total else Decimal(0)
        if index == len(lines) - 1:
            share = discount_total - allocated
        allocated += share
        line_tax = ((amount - share) * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        tax_total += line_tax
        item_id = order_id * 1000 + index + 1
        items.append(
            {
                "id": item_id,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{item_id}",
                "name": title,
                "title": title,
                "sku": sku,
                "quantity": qty,
                "current_quantity": qty,
                "variant_id": 39000000 + zlib.crc32(sku.encode()) % 1000000,
                "variant_title": None,
                "product_exists": True,
                "price": money(Decimal(price)),
                "price_set": money_set(Decimal(price), currency),
                "total_discount": "0.00",
                "total_discount_set": money_set(Decimal(0), currency),
                "taxable": True,
                "requires_shipping": True,
                "fulfillment_status": None,
                "gift_card": False,
                "tax_lines": [
                    {
                        "title": tax[0],
                        "rate": float(rate),
                        "price": money(line_tax),
                        "price_set": money_set(line_tax, currency),
                        "channel_liable": False,
                    }
                ],
                "discount_allocations": [
                    {"amount": money(share), "amount_set": money_set(share, currency), "discount_application_index": 0}
                ]
                if share
                else [],
            }
        )
    ship_price = Decimal(shipping[1])
    subtotal = line_total - discount_total
    total = subtotal + ship_price + tax_total
    cust_id, first, last = customer
    address = {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "company": None,
        "address1": "12 George Street",
        "address2": None,
        "city": "Sydney",
        "province": "New South Wales",
        "province_code": "NSW",
        "zip": "2000",
        "country": "Australia",
        "country_code": "AU",
        "phone": None,
        "latitude": None,
        "longitude": None,
    }
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "number": number - 1000,
        "order_number": number,
        "email": email,
        "contact_email": email,
        "phone": None,
        "note": None,
        "tags": "",
        "test": False,
        "created_at": _stamp(created),
        "updated_at": _stamp(created),
        "processed_at": _stamp(created),
        "cancelled_at": None,
        "closed_at": None,
        "cancel_reason": None,
        "confirmed": True,
        "currency": currency,
        "presentment_currency": currency,
        "taxes_included": False,
        "financial_status": financial_status,
        "fulfillment_status": None,
        "total_line_items_price": money(line_total),
        "total_line_items_price_set": money_set(line_total, currency),
        "subtotal_price": money(subtotal),
        "subtotal_price_set": money_set(subtotal, currency),
        "total_discounts": money(discount_total),
        "total_discounts_set": money_set(discount_total, currency),
        "total_tax": money(tax_total),
        "total_tax_set": money_set(tax_total, currency),
        "total_shipping_price_set": money_set(ship_price, currency),
        "total_price": money(total),
        "total_price_set": money_set(total, currency),
        "current_total_price": money(total),
        "current_total_price_set": money_set(total, currency),
        "total_outstanding": money(total if financial_status != "paid" else Decimal(0)),
        "discount_codes": [{"code": discount[0], "amount": money(discount_total), "type": "fixed_amount"}]
        if discount
        else [],
        "tax_lines": [
            {
                "title": tax[0],
                "rate": float(rate),
                "price": money(tax_total),
                "price_set": money_set(tax_total, currency),
                "channel_liable": False,
            }
        ],
        "shipping_lines": [
            {
                "id": order_id + 7,
                "title": shipping[0],
                "code": shipping[0],
                "price": money(ship_price),
                "price_set": money_set(ship_price, currency),
                "discounted_price": money(ship_price),
                "discounted_price_set": money_set(ship_price, currency),
                "source": "shopify",
                "tax_lines": [],
                "discount_allocations": [],
            }
        ],
        "line_items": items,
        "customer": {
            "id": cust_id,
            "admin_graphql_api_id": f"gid://shopify/Customer/{cust_id}",
            "email": email,
            "first_name": first,
            "last_name": last,
            "currency": currency,
            "tags": "",
            "created_at": _stamp(created - timedelta(days=30)),
            "updated_at": _stamp(created - timedelta(days=30)),
        },
        "billing_address": address,
        "shipping_address": dict(address),
        "refunds": [],
        "fulfillments": [],
        "note_attributes": [],
        "payment_gateway_names": ["shopify_payments"],
        "source_name": "web",
    }


def seed_orders() -> dict[int, dict[str, Any]]:
    """Four demo orders, one of them with 60 line items (the client pages through them)."""
    bulk = [(f"Sensor tag {n:02d}", f"TAG-{n:02d}", 2, "14.50") for n in range(1, 61)]
    orders = [
        make_order(
            5100001001,
            1001,
            email="alice@northwind.example",
            customer=(7100001, "Alice", "Nguyen"),
            lines=[("Merino throw", "MT-GRY", 1, "189.00"), ("Kauri coaster set", "KC-4", 2, "34.50")],
            shipping=("Courier", "12.00"),
            discount=("WELCOME10", "10.00"),
        ),
        make_order(
            5100001002,
            1002,
            email="carla@bluefern.example",
            customer=(7100002, "Carla", "Meyer"),
            lines=[("Flax notebook", "FN-A5", 3, "24.00")],
            financial_status="paid",
        ),
        make_order(
            5100001003,
            1003,
            email="dev@kestrel.example",
            customer=(7100003, "Dev", "Patel"),
            lines=bulk,
            shipping=("Freight", "45.00"),
        ),
        make_order(
            5100001004,
            1004,
            email="erin@kestrel.example",
            customer=(7100004, "Erin", "Walsh"),
            lines=[("Pounamu pendant", "PP-1", 1, "420.00")],
            currency="AUD",
            tax=("GST", "0.10"),
        ),
    ]
    return {o["id"]: o for o in orders}
