"""Shopify's orders as the GraphQL Admin API shows them: ``Order`` objects, cursor connections
and the ``orders(query:, sortKey:)`` search, all read from the REST-shaped orders of
:mod:`sandbox.shopify.orders`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError

from sandbox.shopify.orders import money_set


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
