"""Shopify orders as the client returns them (from the GraphQL Admin API shapes).

Money is a :class:`~decimal.Decimal` in the shop's currency (``currency``); the amount the
customer paid in their own currency is kept as ``presentment_total``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel


def shop_amount(bag: dict[str, Any] | None) -> Decimal:
    """The shop-currency amount of a ``MoneyBag`` (zero when the field is null)."""
    if not bag:
        return Decimal("0")
    return Decimal(str(bag["shopMoney"]["amount"]))


def legacy_id(gid: str) -> int:
    """``gid://shopify/Order/450789469`` -> 450789469."""
    return int(gid.rsplit("/", 1)[1])


def order_gid(order_id: int | str) -> str:
    text = str(order_id)
    return text if text.startswith("gid://") else f"gid://shopify/Order/{text}"


class TaxLine(BaseModel):
    title: str
    rate: float | None  # a fraction (0.15)
    rate_percentage: Decimal | None = None  # the same rate in percent (15.0), exact to 4 places
    amount: Decimal

    @property
    def percent(self) -> Decimal:
        """The rate in percent, from ``ratePercentage`` when Shopify sent it (no float noise)."""
        if self.rate_percentage is not None:
            return self.rate_percentage.normalize()
        return (Decimal(str(self.rate or 0)) * 100).quantize(Decimal("0.0001")).normalize()


class LineItem(BaseModel):
    id: str
    title: str
    sku: str | None
    quantity: int
    variant_id: str | None
    unit_price: Decimal
    total_discount: Decimal
    tax_lines: list[TaxLine]
    # Every discount on the line: its own and its share of order-level ones (Shopify allocates them).
    allocated_discount: Decimal = Decimal(0)


class ShippingLine(BaseModel):
    title: str
    code: str | None
    price: Decimal
    discounted_price: Decimal
    tax_lines: list[TaxLine] = []


class Order(BaseModel):
    id: str  # the GraphQL gid
    legacy_id: int  # the numeric id of REST, webhooks and the admin URL
    name: str
    email: str | None
    customer_email: str | None
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    cancelled_at: datetime | None
    currency: str
    presentment_currency: str
    taxes_included: bool
    financial_status: str | None
    fulfillment_status: str
    discount_codes: list[str]
    tags: list[str]
    subtotal: Decimal
    total_tax: Decimal
    total_shipping: Decimal
    total_discounts: Decimal
    total: Decimal
    presentment_total: Decimal
    tax_lines: list[TaxLine]
    shipping_lines: list[ShippingLine]
    line_items: list[LineItem]


class OrderSummary(BaseModel):
    id: str
    legacy_id: int
    name: str
    updated_at: datetime
    financial_status: str | None
    total: Decimal


def _tax(line: dict[str, Any]) -> TaxLine:
    percentage = line.get("ratePercentage")
    return TaxLine(
        title=line["title"],
        rate=line.get("rate"),
        rate_percentage=None if percentage is None else Decimal(str(percentage)),
        amount=shop_amount(line["priceSet"]),
    )


def line_item(node: dict[str, Any]) -> LineItem:
    return LineItem(
        id=node["id"],
        title=node["title"],
        sku=node.get("sku"),
        quantity=node["quantity"],
        variant_id=(node.get("variant") or {}).get("id"),
        unit_price=shop_amount(node["originalUnitPriceSet"]),
        total_discount=shop_amount(node["totalDiscountSet"]),
        tax_lines=[_tax(t) for t in node.get("taxLines") or []],
        allocated_discount=sum(
            (shop_amount(a["allocatedAmountSet"]) for a in node.get("discountAllocations") or []), Decimal(0)
        ),
    )


def order_from_graphql(node: dict[str, Any], line_items: list[LineItem]) -> Order:
    customer = node.get("customer") or {}
    return Order(
        id=node["id"],
        legacy_id=int(node["legacyResourceId"]),
        name=node["name"],
        email=node.get("email"),
        customer_email=(customer.get("defaultEmailAddress") or {}).get("emailAddress"),
        created_at=node["createdAt"],
        updated_at=node["updatedAt"],
        processed_at=node["processedAt"],
        cancelled_at=node.get("cancelledAt"),
        currency=node["currencyCode"],
        presentment_currency=node["presentmentCurrencyCode"],
        taxes_included=node["taxesIncluded"],
        financial_status=node.get("displayFinancialStatus"),
        fulfillment_status=node["displayFulfillmentStatus"],
        discount_codes=node.get("discountCodes") or [],
        tags=node.get("tags") or [],
        subtotal=shop_amount(node.get("subtotalPriceSet")),
        total_tax=shop_amount(node.get("totalTaxSet")),
        total_shipping=shop_amount(node.get("totalShippingPriceSet")),
        total_discounts=shop_amount(node.get("totalDiscountsSet")),
        total=shop_amount(node["totalPriceSet"]),
        presentment_total=Decimal(str(node["totalPriceSet"]["presentmentMoney"]["amount"])),
        tax_lines=[_tax(t) for t in node.get("taxLines") or []],
        shipping_lines=[
            ShippingLine(
                title=s["title"],
                code=s.get("code"),
                price=shop_amount(s["originalPriceSet"]),
                discounted_price=shop_amount(s["discountedPriceSet"]),
                tax_lines=[_tax(t) for t in s.get("taxLines") or []],
            )
            for s in node["shippingLines"]["nodes"]
        ],
        line_items=line_items,
    )


def summary_from_graphql(node: dict[str, Any]) -> OrderSummary:
    return OrderSummary(
        id=node["id"],
        legacy_id=int(node["legacyResourceId"]),
        name=node["name"],
        updated_at=node["updatedAt"],
        financial_status=node.get("displayFinancialStatus"),
        total=shop_amount(node["totalPriceSet"]),
    )
