"""How Xero computes a line's tax, so a caller can predict an invoice's totals before sending it.

Xero's "Tax and the Xero API" and "Rounding in Xero" guides: tax is calculated per line from
the line amount (after discount) and the tax rate (up to 4 decimal places), rounded to two
decimal places (half away from zero: 4.545 → 4.55), then summed; amounts are two-decimal
money. ``Exclusive`` lines add the tax on top, ``Inclusive`` lines contain it
(``tax = amount × rate / (100 + rate)``), ``NoTax`` lines carry none. A line may override
the tax with an explicit ``TaxAmount``; Xero refuses one that is further from its own figure
than it tolerates (it publishes no number: we stay within :data:`TAX_AMOUNT_TOLERANCE`,
the same figure the sandbox enforces).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

CENT = Decimal("0.01")
TAX_AMOUNT_TOLERANCE = Decimal("0.02")
LineAmountTypes = Literal["Exclusive", "Inclusive", "NoTax"]


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_tax(line_amount: Decimal, rate_percent: Decimal, amount_types: LineAmountTypes) -> Decimal:
    """Xero's tax for one line of ``line_amount`` at ``rate_percent`` (e.g. ``Decimal("15")``)."""
    if amount_types == "NoTax" or rate_percent == 0:
        return Decimal("0.00")
    if amount_types == "Inclusive":
        return to_cents(line_amount * rate_percent / (Decimal(100) + rate_percent))
    return to_cents(line_amount * rate_percent / Decimal(100))


def invoice_totals(
    lines: list[tuple[Decimal, Decimal]], amount_types: LineAmountTypes
) -> tuple[Decimal, Decimal, Decimal]:
    """(SubTotal, TotalTax, Total) of lines given as (line amount, tax amount)."""
    amounts = sum((a for a, _ in lines), Decimal(0))
    tax = sum((t for _, t in lines), Decimal(0))
    if amount_types == "Inclusive":
        return amounts - tax, tax, amounts
    return amounts, tax, amounts + tax
