"""A Shopify order as the Xero invoice that reconciles with it to the cent (tax included).

The invoice's ``LineAmountTypes`` follows the order: ``Inclusive`` when its prices include tax
(``taxesIncluded``), ``Exclusive`` when not, ``NoTax`` when it carries no tax at all. Each product
line keeps its quantity and unit price, with every discount allocated to it (its own and its
share of order-level ones) as ``DiscountAmount``; each shipping line is a line of its own, with
its shipping discount and its own tax. A line's Xero ``TaxType`` comes from its Shopify tax
lines:

1. the workflow option ``tax_types`` maps a tax line by title and rate (``"GST 15%"``), by title
   (``"GST"``), or, for a line taxed several times, the titles joined by ``" + "``;
2. otherwise the organisation's tax rates (``GET /TaxRates``) are searched for the one active sales
   rate whose effective rate equals the line's (summed) Shopify rate;
3. lines without tax in a taxed order take ``untaxed_tax_type``, or the organisation's 0 % sales
   rate (:data:`UNTAXED_PREFERENCE`).

Xero computes each line's tax itself and rounds it per line (:mod:`integrations.xero.tax`); where
its figure differs from what Shopify charged, the line carries Shopify's as ``TaxAmount`` — as long
as that is within what Xero tolerates. Anything that cannot be mapped exactly (no rate, several
rates, a mapped rate that gives another tax, totals that do not add up) raises
:class:`~sync.errors.PermanentJobError` naming the tax line and the option that maps it: the
workflow never creates an invoice with a different total.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal

from integrations.shopify.models import Order, TaxLine
from integrations.xero.models import NewInvoice, NewLineItem, TaxRate
from integrations.xero.tax import TAX_AMOUNT_TOLERANCE, LineAmountTypes, invoice_totals, line_tax
from jobtypes.options import ShopifyOrderToXeroOptions
from sync.errors import PermanentJobError

OPTION = "shopify-order-to-xero option"
UNTAXED_PREFERENCE = ("EXEMPTOUTPUT", "ZERORATEDOUTPUT", "ZERORATED", "NONE")
_RATE_SUFFIX = re.compile(r"^(.*?)\s*(\d+(?:\.\d+)?)\s*%$")


def amount_types(order: Order) -> LineAmountTypes:
    """``NoTax`` for an order without tax, else as Shopify priced it."""
    if order.total_tax == 0 and not any(t.amount for t in _all_tax_lines(order)):
        return "NoTax"
    return "Inclusive" if order.taxes_included else "Exclusive"


def _all_tax_lines(order: Order) -> list[TaxLine]:
    return [t for item in order.line_items for t in item.tax_lines] + [
        t for shipping in order.shipping_lines for t in shipping.tax_lines
    ]


def _percent_text(percent: Decimal) -> str:
    return f"{percent.normalize():f}%"


def _normal_key(key: str) -> str:
    """``" gst  15.0 %"`` → ``"gst 15%"``; keys compare without case and spacing."""
    parts = []
    for part in key.split("+"):
        text = " ".join(part.split())
        match = _RATE_SUFFIX.match(text)
        if match:  # the pattern only admits a plain decimal number
            text = f"{match.group(1)} {_percent_text(Decimal(match.group(2)))}".strip()
        parts.append(text.casefold())
    return " + ".join(parts)


def _label(taxes: Sequence[TaxLine]) -> str:
    return " + ".join(f"{t.title} {_percent_text(t.percent)}" for t in taxes)


class TaxMapper:
    """Resolves Shopify tax lines to one of the organisation's Xero tax types."""

    def __init__(self, options: ShopifyOrderToXeroOptions, rates: Sequence[TaxRate]) -> None:
        self.options = options
        self.rates = {r.tax_type: r for r in rates if r.usable_for_sales}
        self.mapping = {_normal_key(k): v for k, v in options.tax_types.items()}

    def _known(self, tax_type: str, option: str, what: str) -> TaxRate:
        rate = self.rates.get(tax_type)
        if rate is None:
            known = ", ".join(sorted(self.rates)) or "none"
            raise PermanentJobError(
                f"{OPTION} {option} maps {what} to Xero TaxType {tax_type!r}, which is not an active sales tax rate "
                f"of this organisation (it has: {known})"
            )
        return rate

    def untaxed(self, where: str) -> TaxRate:
        if self.options.untaxed_tax_type:
            return self._known(self.options.untaxed_tax_type, "untaxed_tax_type", f"untaxed lines ({where})")
        zero = [r for r in self.rates.values() if r.effective_rate == 0]
        for tax_type in UNTAXED_PREFERENCE:
            found = next((r for r in zero if r.tax_type == tax_type), None)
            if found is not None:
                return found
        if zero:
            return sorted(zero, key=lambda r: r.tax_type)[0]
        raise PermanentJobError(
            f"{where} has no tax and the Xero organisation has no 0% sales tax rate: "
            f"set {OPTION} untaxed_tax_type to the Xero TaxType for untaxed sales"
        )

    def resolve(self, taxes: Sequence[TaxLine], where: str) -> TaxRate:
        """The Xero tax rate of a line taxed by ``taxes`` (all of them on the one line)."""
        taxed = [t for t in taxes if t.amount != 0 or t.percent != 0]
        if not taxed:
            return self.untaxed(where)
        label = _label(taxed)
        keys = [label, " + ".join(t.title for t in taxed)]
        for key in keys:
            mapped = self.mapping.get(_normal_key(key))
            if mapped is not None:
                return self._known(mapped, f"tax_types[{key!r}]", f"Shopify tax line {label!r}")
        combined = sum((t.percent for t in taxed), Decimal(0))
        same = sorted((r for r in self.rates.values() if r.effective_rate == combined), key=lambda r: r.tax_type)
        if combined == 0 and same:
            return self.untaxed(where)
        if len(same) == 1:
            return same[0]
        if not same:
            raise PermanentJobError(
                f"Shopify tax line {label!r} on {where} has no Xero tax rate of {_percent_text(combined)} in this "
                f"organisation: map it with {OPTION} tax_types, e.g. {{{label!r}: '<Xero TaxType>'}}"
            )
        names = ", ".join(f"{r.tax_type} ({r.name})" for r in same)
        raise PermanentJobError(
            f"Shopify tax line {label!r} on {where} matches several Xero tax rates of {_percent_text(combined)} "
            f"({names}): choose one with {OPTION} tax_types, e.g. {{{label!r}: '{same[0].tax_type}'}}"
        )


def _line(
    mapper: TaxMapper | None,
    types: LineAmountTypes,
    *,
    where: str,
    description: str,
    quantity: Decimal,
    unit_amount: Decimal,
    discount: Decimal,
    taxes: Sequence[TaxLine],
    account_code: str,
) -> NewLineItem:
    amount = quantity * unit_amount - discount
    charged = sum((t.amount for t in taxes), Decimal(0))
    tax_type, tax_amount = None, None
    if mapper is not None:
        rate = mapper.resolve(taxes, where)
        xero_tax = line_tax(amount, rate.effective_rate, types)
        if abs(xero_tax - charged) > TAX_AMOUNT_TOLERANCE:
            label = _label(taxes) or "no tax"
            option = "untaxed_tax_type" if not charged else "tax_types"
            raise PermanentJobError(
                f"Shopify tax line {label!r} on {where} charged {charged:.2f} tax but Xero TaxType {rate.tax_type} "
                f"({_percent_text(rate.effective_rate)}) gives {xero_tax:.2f} on {amount:.2f}: map it to the "
                f"Xero rate Shopify used with {OPTION} {option}"
            )
        tax_type = rate.tax_type
        tax_amount = charged if xero_tax != charged else None
    return NewLineItem(
        description=description,
        quantity=quantity,
        unit_amount=unit_amount,
        discount_amount=discount if discount else None,
        line_amount=amount,
        account_code=account_code,
        tax_type=tax_type,
        tax_amount=tax_amount,
    )


def invoice_for(
    order: Order, contact_id: str, options: ShopifyOrderToXeroOptions, rates: Sequence[TaxRate] | None
) -> NewInvoice:
    """The invoice for ``order``; ``rates`` are the organisation's (``None`` only for a NoTax order)."""
    types = amount_types(order)
    mapper = None
    if types != "NoTax":
        if rates is None:
            raise ValueError("a taxed order needs the organisation's tax rates")
        mapper = TaxMapper(options, rates)
    lines = [
        _line(
            mapper,
            types,
            where=f"line {item.title!r}",
            description=f"{item.title} ({item.sku})" if item.sku else item.title,
            quantity=Decimal(item.quantity),
            unit_amount=item.unit_price,
            discount=item.allocated_discount or item.total_discount,
            taxes=item.tax_lines,
            account_code=options.sales_account_code,
        )
        for item in order.line_items
        if item.quantity
    ]
    for shipping in order.shipping_lines:
        if shipping.price == 0 and not any(t.amount for t in shipping.tax_lines):
            continue
        lines.append(
            _line(
                mapper,
                types,
                where=f"shipping {shipping.title!r}",
                description=f"Shipping: {shipping.title}",
                quantity=Decimal(1),
                unit_amount=shipping.price,
                discount=shipping.price - shipping.discounted_price,
                taxes=shipping.tax_lines,
                account_code=options.shipping_account_code,
            )
        )
    _reconcile(order, lines, types)
    issued = order.processed_at.astimezone(dt.UTC).date()
    return NewInvoice(
        contact_id=contact_id,
        line_items=lines,
        date=issued,
        due_date=issued + dt.timedelta(days=options.due_in_days),
        reference=order.name,
        status=options.invoice_status,
        currency_code=order.currency,
        line_amount_types=types,
    )


def _reconcile(order: Order, lines: list[NewLineItem], types: LineAmountTypes) -> None:
    """Refuse (permanently) an invoice whose Total or TotalTax would differ from the order's."""
    taxes = [sum((t.amount for t in i.tax_lines), Decimal(0)) for i in order.line_items if i.quantity]
    taxes += [
        sum((t.amount for t in s.tax_lines), Decimal(0))
        for s in order.shipping_lines
        if s.price != 0 or any(t.amount for t in s.tax_lines)
    ]
    if types == "NoTax":
        taxes = [Decimal(0)] * len(lines)
    amounts = [li.line_amount or Decimal(0) for li in lines]
    _, tax, total = invoice_totals(list(zip(amounts, taxes, strict=True)), types)
    if tax != order.total_tax or total != order.total:
        raise PermanentJobError(
            f"Shopify order {order.name} does not reconcile: its lines and shipping give total {total:.2f} "
            f"(tax {tax:.2f}) but the order says total_price {order.total:.2f} (total_tax {order.total_tax:.2f}) "
            f"{order.currency}; tips, duties, fees or unallocated discounts are not mapped, so no invoice was created"
        )
