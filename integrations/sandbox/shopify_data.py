"""The Shopify emulator's orders: seeded in the REST/webhook shape (as Shopify's own samples),
and viewed through the GraphQL Admin API types of ``shopify_admin.graphql``.

One store of truth per shop: the REST-shaped order dict is what ``orders/*`` webhooks carry;
:func:`graphql_order` turns it into the GraphQL ``Order`` the client queries.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from graphql import GraphQLError

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
    tax: tuple[str, str] = ("GST", "0.15"),
    currency: str = "NZD",
    financial_status: str = "pending",
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """A REST-shaped order with consistent totals (taxes excluded, discount spread by value)."""
    created = created_at or datetime(2026, 11, 20, 9, 30, tzinfo=UTC) + timedelta(hours=order_id % 97)
    rate = Decimal(tax[1])
    gross = [Decimal(price) * qty for _, _, qty, price in lines]
    line_total = sum(gross, Decimal(0))
    discount_total = Decimal(discount[1]) if discount else Decimal(0)
    items, tax_total = [], Decimal(0)
    for index, ((title, sku, qty, price), amount) in enumerate(zip(lines, gross, strict=True)):
        share = (discount_total * amount / line_total).quantize(CENT) if line_total else Decimal(0)
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
        "address1": "12 Queen Street",
        "address2": None,
        "city": "Auckland",
        "province": "Auckland",
        "province_code": "AUK",
        "zip": "1010",
        "country": "New Zealand",
        "country_code": "NZ",
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


# -- the GraphQL view --------------------------------------------------------------------------


def _bag(rest: dict[str, Any] | None) -> dict[str, Any] | None:
    if rest is None:
        return None

    def one(m: dict[str, Any]) -> dict[str, Any]:
        return {"amount": m["amount"], "currencyCode": m["currency_code"]}

    return {"shopMoney": one(rest["shop_money"]), "presentmentMoney": one(rest["presentment_money"])}


def _tax_line(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": t["title"],
        "rate": t["rate"],
        "ratePercentage": round(t["rate"] * 100, 4),
        "priceSet": _bag(t["price_set"]),
        "channelLiable": t.get("channel_liable"),
    }


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _index(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return int(base64.b64decode(cursor).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor}") from exc


def connection(items: list[dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A resolver for a Relay connection over ``items`` (first/after, last/before, reverse)."""

    def resolve(
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        reverse: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        if (first is not None and first > 250) or (last is not None and last > 250):
            raise GraphQLError("The maximum number of records per page is 250")
        indexed = list(enumerate(reversed(items) if reverse else items))
        start = _index(after)
        end = _index(before)
        window = [(i, x) for i, x in indexed if (start is None or i > start) and (end is None or i < end)]
        page = window[:first] if first is not None else window[-(last or 0) :]
        return {
            "edges": [{"cursor": _cursor(i), "node": node} for i, node in page],
            "nodes": [node for _, node in page],
            "pageInfo": {
                "hasNextPage": bool(page) and page[-1][0] < window[-1][0],
                "hasPreviousPage": start is not None or (bool(page) and page[0][0] > window[0][0]),
                "startCursor": _cursor(page[0][0]) if page else None,
                "endCursor": _cursor(page[-1][0]) if page else None,
            },
        }

    return resolve


def _line_item(item: dict[str, Any]) -> dict[str, Any]:
    currency = item["price_set"]["shop_money"]["currency_code"]
    allocated = sum((Decimal(a["amount"]) for a in item["discount_allocations"]), Decimal(0))
    unit_after = Decimal(item["price"]) - allocated / item["quantity"]
    return {
        "__typename": "LineItem",
        "id": item["admin_graphql_api_id"],
        "title": item["title"],
        "name": item["name"],
        "sku": item["sku"],
        "quantity": item["quantity"],
        "variant": {
            "__typename": "ProductVariant",
            "id": f"gid://shopify/ProductVariant/{item['variant_id']}",
            "sku": item["sku"],
            "title": item.get("variant_title") or "Default Title",
        },
        "originalUnitPriceSet": _bag(item["price_set"]),
        "discountedUnitPriceAfterAllDiscountsSet": _bag(money_set(unit_after, currency)),
        "totalDiscountSet": _bag(money_set(allocated, currency)),
        "taxLines": lambda _info, **_: [_tax_line(t) for t in item["tax_lines"]],
        "discountAllocations": [{"allocatedAmountSet": _bag(a["amount_set"])} for a in item["discount_allocations"]],
    }


def _address(rest: dict[str, Any] | None) -> dict[str, Any] | None:
    if rest is None:
        return None
    keys = ("name", "company", "address1", "address2", "city", "province", "zip", "country", "phone")
    return {
        **{k: rest.get(k) for k in keys},
        "provinceCode": rest.get("province_code"),
        "countryCodeV2": rest.get("country_code"),
    }


def graphql_order(rest: dict[str, Any]) -> dict[str, Any]:
    customer = rest.get("customer")
    fulfillment = {None: "UNFULFILLED", "partial": "PARTIALLY_FULFILLED", "fulfilled": "FULFILLED"}
    return {
        "__typename": "Order",
        "id": rest["admin_graphql_api_id"],
        "legacyResourceId": str(rest["id"]),
        "name": rest["name"],
        "email": rest.get("email"),
        "note": rest.get("note"),
        "tags": [t for t in rest.get("tags", "").split(", ") if t],
        "test": rest.get("test", False),
        "createdAt": rest["created_at"],
        "updatedAt": rest["updated_at"],
        "processedAt": rest["processed_at"],
        "cancelledAt": rest.get("cancelled_at"),
        "closedAt": rest.get("closed_at"),
        "currencyCode": rest["currency"],
        "presentmentCurrencyCode": rest["presentment_currency"],
        "taxesIncluded": rest["taxes_included"],
        "displayFinancialStatus": (rest.get("financial_status") or "").upper() or None,
        "displayFulfillmentStatus": fulfillment.get(rest.get("fulfillment_status"), "UNFULFILLED"),
        "discountCodes": [d["code"] for d in rest.get("discount_codes", [])],
        "subtotalPriceSet": _bag(rest.get("subtotal_price_set")),
        "totalTaxSet": _bag(rest.get("total_tax_set")),
        "totalShippingPriceSet": _bag(rest["total_shipping_price_set"]),
        "totalDiscountsSet": _bag(rest.get("total_discounts_set")),
        "totalPriceSet": _bag(rest["total_price_set"]),
        "currentTotalPriceSet": _bag(rest["current_total_price_set"]),
        "taxLines": [_tax_line(t) for t in rest.get("tax_lines", [])],
        "customer": None
        if customer is None
        else {
            "__typename": "Customer",
            "id": customer["admin_graphql_api_id"],
            "legacyResourceId": str(customer["id"]),
            "firstName": customer.get("first_name"),
            "lastName": customer.get("last_name"),
            "displayName": f"{customer.get('first_name', '')} {customer.get('last_name', '')}".strip(),
            "email": customer.get("email"),
            "defaultEmailAddress": {"emailAddress": customer["email"]} if customer.get("email") else None,
        },
        "billingAddress": _address(rest.get("billing_address")),
        "shippingAddress": _address(rest.get("shipping_address")),
        "lineItems": connection([_line_item(i) for i in rest["line_items"]]),
        "shippingLines": connection(
            [
                {
                    "id": f"gid://shopify/ShippingLine/{s['id']}",
                    "title": s["title"],
                    "code": s.get("code"),
                    "originalPriceSet": _bag(s["price_set"]),
                    "discountedPriceSet": _bag(s["discounted_price_set"]),
                    "taxLines": [_tax_line(t) for t in s.get("tax_lines", [])],
                }
                for s in rest.get("shipping_lines", [])
            ]
        ),
    }


_TERM = re.compile(r"(\w+):(>=|<=|>|<)?'?([^' ]+)'?")
_SORT = {
    "CREATED_AT": "created_at",
    "UPDATED_AT": "updated_at",
    "PROCESSED_AT": "processed_at",
    "ORDER_NUMBER": "order_number",
    "ID": "id",
}


def search_orders(orders: list[dict[str, Any]], query: str | None, sort_key: str) -> list[dict[str, Any]]:
    """Shopify's search syntax, the part we use: ``field:value`` and ``field:>value`` terms, ANDed."""

    def keep(order: dict[str, Any]) -> bool:
        for field, op, value in _TERM.findall(query or ""):
            have = str(order.get(field if field != "status" else "financial_status") or "")
            if field.endswith("_at"):
                mine = datetime.fromisoformat(have)
                theirs = datetime.fromisoformat(value.replace("Z", "+00:00"))
                ok = {
                    ">": mine > theirs,
                    ">=": mine >= theirs,
                    "<": mine < theirs,
                    "<=": mine <= theirs,
                    "": mine == theirs,
                }[op]
            else:
                ok = have.lower() == value.lower()
            if not ok:
                return False
        return True

    key = _SORT.get(sort_key, "id")
    if key.endswith("_at"):
        return sorted(filter(keep, orders), key=lambda o: datetime.fromisoformat(o[key]))
    return sorted(filter(keep, orders), key=lambda o: o[key])
