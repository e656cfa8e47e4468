"""Generated Shopify orders, computed the way Shopify computes them, for the reconciliation property.

An :class:`OrderSpec` is drawn by :func:`order_specs` (hypothesis) and turned into the REST-shaped
order the Shopify sandbox stores (:func:`rest_order`): discounts are allocated to lines (line-level
ones to their line, order-level ones across all lines by value, the last line taking the
remainder), each tax line is rounded on its own from the discounted line amount (``amount × r`` when
prices exclude tax, ``amount × r / (1 + Σr)`` when they include it), and the order's totals are the
sums Shopify reports. Tax kinds per region: the standard GST rate, no tax, a zero-rated tax line,
GST split into two components, a title mapped by the tenant's ``tax_types`` option, and one rate the
organisation does not have (the order must then be refused).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import strategies as st

from sandbox.shopify.orders import make_order, money, money_set

CENT = Decimal("0.01")
# kind -> [(title, rate)] per region; "none" is an item without tax lines.
TAXES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "AU": {
        "gst": [("GST", "0.10")],
        "mapped": [("Goods and Services Tax", "0.10")],
        "split": [("GST", "0.05"), ("State levy", "0.05")],
        "zero": [("GST", "0.0")],
        "none": [],
        "unmappable": [("VAT", "0.20")],
    },
    "NZ": {
        "gst": [("GST", "0.15")],
        "mapped": [("GST", "0.15")],
        "split": [("GST", "0.10"), ("Regional levy", "0.05")],
        "zero": [("GST", "0.0")],
        "none": [],
        "unmappable": [("GST", "0.125")],
    },
}
UNMAPPABLE_LABEL = {"AU": "VAT 20%", "NZ": "GST 12.5%"}
STANDARD = {"AU": ("GST", "0.10"), "NZ": ("GST", "0.15")}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ItemSpec:
    price: Decimal
    quantity: int
    kind: str
    line_discount_share: int  # percent of the line's gross taken by a line-level discount


@dataclass(frozen=True)
class OrderSpec:
    region: str
    currency: str
    taxes_included: bool
    items: tuple[ItemSpec, ...]
    order_discount_share: int  # percent of what is left after line discounts
    shipping: Decimal | None
    shipping_taxed: bool
    shipping_discount_share: int

    @property
    def unmappable(self) -> bool:
        return any(i.kind == "unmappable" for i in self.items)


def _one_unmappable(drawn: tuple[list[ItemSpec], int]) -> tuple[ItemSpec, ...]:
    """About one order in eight gets a rate the organisation does not have (on its last item)."""
    items, dice = drawn
    if dice:
        return tuple(items)
    return (*items[:-1], replace(items[-1], kind="unmappable"))


def order_specs(region: str) -> st.SearchStrategy[OrderSpec]:
    item = st.builds(
        ItemSpec,
        price=st.integers(1, 60000).map(lambda c: Decimal(c) / 100),
        quantity=st.integers(1, 6),
        kind=st.sampled_from(["gst", "gst", "gst", "mapped", "split", "zero", "none"]),
        line_discount_share=st.sampled_from([0, 0, 0, 5, 10, 33, 50, 100]),
    )
    return st.builds(
        OrderSpec,
        region=st.just(region),
        currency=st.sampled_from(["AUD", "NZD", "USD", "EUR", "GBP"]),
        taxes_included=st.booleans(),
        items=st.tuples(st.lists(item, min_size=1, max_size=5), st.integers(0, 7)).map(_one_unmappable),
        order_discount_share=st.sampled_from([0, 0, 7, 10, 25]),
        shipping=st.one_of(st.none(), st.integers(0, 4000).map(lambda c: Decimal(c) / 100)),
        shipping_taxed=st.booleans(),
        shipping_discount_share=st.sampled_from([0, 0, 0, 50, 100]),
    )


def _tax_lines(amount: Decimal, taxes: list[tuple[str, str]], included: bool, currency: str) -> list[dict[str, Any]]:
    total_rate = sum((Decimal(r) for _, r in taxes), Decimal(0))
    lines = []
    for title, rate in taxes:
        r = Decimal(rate)
        tax = cents(amount * r / (1 + total_rate)) if included else cents(amount * r)
        lines.append(
            {"title": title, "rate": float(r), "price": money(tax), "price_set": money_set(tax, currency),
             "channel_liable": False}
        )  # fmt: skip
    return lines


def _allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    whole = sum(weights, Decimal(0))
    if not total or not whole:
        return [Decimal(0)] * len(weights)
    shares = [(total * w / whole).quantize(CENT) for w in weights]
    shares[-1] = total - sum(shares[:-1], Decimal(0))
    return shares


def rest_order(spec: OrderSpec, order_id: int, number: int, email: str) -> dict[str, Any]:
    """The REST-shaped order of ``spec`` with Shopify's allocations, per-line taxes and totals."""
    currency = spec.currency
    order = make_order(
        order_id, number, email=email, customer=(order_id % 10_000_000, "Gen", "Buyer"),
        lines=[("x", "X", 1, "1.00")], currency=currency, financial_status="paid",
    )  # fmt: skip
    gross = [i.price * i.quantity for i in spec.items]
    line_discounts = [cents(g * i.line_discount_share / 100) for g, i in zip(gross, spec.items, strict=True)]
    rest = [g - d for g, d in zip(gross, line_discounts, strict=True)]
    order_discount = cents(sum(rest, Decimal(0)) * spec.order_discount_share / 100)
    order_shares = _allocate(order_discount, rest)
    items, tax_total, subtotal = [], Decimal(0), Decimal(0)
    for index, (item, g, ld, od) in enumerate(zip(spec.items, gross, line_discounts, order_shares, strict=True)):
        taxable = g - ld - od
        taxes = _tax_lines(taxable, TAXES[spec.region][item.kind], spec.taxes_included, currency)
        tax_total += sum((Decimal(t["price"]) for t in taxes), Decimal(0))
        subtotal += taxable
        allocations = [
            {"amount": money(a), "amount_set": money_set(a, currency), "discount_application_index": n}
            for n, a in enumerate((ld, od))
            if a
        ]
        template = order["line_items"][0]
        items.append(
            template
            | {
                "id": order_id * 100 + index,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{order_id * 100 + index}",
                "title": f"Item {index + 1} ({item.kind})",
                "name": f"Item {index + 1}",
                "sku": f"SKU-{index + 1}",
                "quantity": item.quantity,
                "current_quantity": item.quantity,
                "price": money(item.price),
                "price_set": money_set(item.price, currency),
                "tax_lines": taxes,
                "discount_allocations": allocations,
            }
        )
    shipping_lines, shipping_total, shipping_discount = [], Decimal(0), Decimal(0)
    if spec.shipping is not None:
        discounted = spec.shipping - cents(spec.shipping * spec.shipping_discount_share / 100)
        taxes = (
            _tax_lines(discounted, [STANDARD[spec.region]], spec.taxes_included, currency)
            if spec.shipping_taxed
            else []
        )
        tax_total += sum((Decimal(t["price"]) for t in taxes), Decimal(0))
        shipping_total, shipping_discount = discounted, spec.shipping - discounted
        shipping_lines.append(
            order["shipping_lines"][0]
            | {"title": "Courier", "code": "Courier", "price": money(spec.shipping),
               "price_set": money_set(spec.shipping, currency), "discounted_price": money(discounted),
               "discounted_price_set": money_set(discounted, currency), "tax_lines": taxes}
        )  # fmt: skip
    discounts = sum(line_discounts, Decimal(0)) + order_discount + shipping_discount
    total = subtotal + shipping_total + (Decimal(0) if spec.taxes_included else tax_total)
    line_total = sum(gross, Decimal(0))
    order.update(
        {
            "taxes_included": spec.taxes_included,
            "line_items": items,
            "shipping_lines": shipping_lines,
            "total_line_items_price": money(line_total),
            "total_line_items_price_set": money_set(line_total, currency),
            "subtotal_price": money(subtotal),
            "subtotal_price_set": money_set(subtotal, currency),
            "total_discounts": money(discounts),
            "total_discounts_set": money_set(discounts, currency),
            "total_tax": money(tax_total),
            "total_tax_set": money_set(tax_total, currency),
            "total_shipping_price_set": money_set(shipping_total, currency),
            "total_price": money(total),
            "total_price_set": money_set(total, currency),
            "current_total_price": money(total),
            "current_total_price_set": money_set(total, currency),
            "total_outstanding": "0.00",
            "tax_lines": [],
            "discount_codes": [{"code": "GEN", "amount": money(order_discount), "type": "fixed_amount"}]
            if order_discount
            else [],
        }
    )
    return order
