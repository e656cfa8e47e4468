"""Xero's tax arithmetic for the emulator: each organisation's tax rates and an invoice's lines.

After Xero's "Tax and the Xero API" and "Rounding in Xero" guides and the ``TaxRate``/``LineItem``
schemas of its OpenAPI document:

- an organisation has the tax rates of its country (:data:`COUNTRY_RATES`, as a new Xero
  organisation of that country has them); ``GET /TaxRates`` lists them;
- a line's ``TaxType`` must be an active rate that applies to revenue (for ``ACCREC``) or
  expenses (``ACCPAY``); without one the line takes the default rate of its account (sales
  accounts: the country's standard sales rate);
- ``LineAmount = Quantity × UnitAmount − DiscountAmount`` (or ``× (100 − DiscountRate) / 100``);
  a given ``LineAmount`` must equal it;
- tax is computed per line from the line amount and the rate, rounded to two decimal places
  (half away from zero), and summed: ``Exclusive`` adds it, ``Inclusive`` lines contain it
  (``amount × rate / (100 + rate)``), ``NoTax`` has none;
- an explicit ``TaxAmount`` replaces the computed one when it is within
  :data:`TAX_AMOUNT_TOLERANCE` of it; further off, it is refused with Xero's message.

Errors are collected per invoice and raised together as :class:`InvoiceInvalid`, which the API
answers as a ``ValidationException``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
# Xero publishes no figure for how far an explicit TaxAmount may stray from its own; two cents
# lets per-component rounding (two tax lines on one item) through and stops real mistakes.
TAX_AMOUNT_TOLERANCE = Decimal("0.02")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")

# (Name, TaxType, rate %, applies to revenue, applies to expenses)
_AU = [
    ("GST on Income", "OUTPUT", "10", True, False),
    ("GST on Expenses", "INPUT", "10", False, True),
    ("GST Free Income", "EXEMPTOUTPUT", "0", True, False),
    ("GST Free Expenses", "EXEMPTEXPENSES", "0", False, True),
    ("GST Free Exports", "EXEMPTEXPORT", "0", True, False),
    ("GST on Capital", "CAPEXINPUT", "10", False, True),
    ("GST Free Capital", "EXEMPTCAPITAL", "0", False, True),
    ("Input Taxed", "INPUTTAXED", "0", True, True),
    ("BAS Excluded", "BASEXCLUDED", "0", True, True),
    ("GST on Imports", "GSTONIMPORTS", "0", False, True),
]
_NZ = [
    ("15% GST on Income", "OUTPUT2", "15", True, False),
    ("15% GST on Expenses", "INPUT2", "15", False, True),
    ("Zero Rated", "ZERORATED", "0", True, False),
    ("No GST", "NONE", "0", True, True),
    ("GST on Imports", "GSTONIMPORTS", "0", False, True),
]
_UK = [
    ("20% (VAT on Income)", "OUTPUT2", "20", True, False),
    ("20% (VAT on Expenses)", "INPUT2", "20", False, True),
    ("5% (VAT on Income)", "RROUTPUT", "5", True, False),
    ("Zero Rated Income", "ZERORATEDOUTPUT", "0", True, False),
    ("Exempt Income", "EXEMPTOUTPUT", "0", True, False),
    ("No VAT", "NONE", "0", True, True),
]
COUNTRY_RATES = {"AU": _AU, "NZ": _NZ, "GB": _UK}
SALES_DEFAULT = {"AU": "OUTPUT", "NZ": "OUTPUT2", "GB": "OUTPUT2"}
BASE_CURRENCY = {"AU": "AUD", "NZ": "NZD", "GB": "GBP"}


class InvoiceInvalid(ValueError):
    """One invoice's validation errors, in the order Xero would list them."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _report_type(revenue: bool, expenses: bool) -> str:
    if revenue == expenses:
        return "NONE"
    return "OUTPUT" if revenue else "INPUT"


def tax_rates(country: str) -> list[dict[str, Any]]:
    """The ``TaxRate`` records of a new organisation in ``country``."""
    rates = []
    for name, tax_type, rate, revenue, expenses in COUNTRY_RATES[country]:
        value = float(Decimal(rate))
        rates.append(
            {
                "Name": name,
                "TaxType": tax_type,
                "ReportTaxType": _report_type(revenue, expenses),
                "CanApplyToAssets": expenses,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": expenses,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": revenue,
                "DisplayTaxRate": value,
                "EffectiveRate": value,
                "Status": "ACTIVE",
                "TaxComponents": [{"Name": name.split(" on ")[0], "Rate": value, "IsCompound": False,
                                   "IsNonRecoverable": False}],
            }
        )  # fmt: skip
    return rates


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: Any, field: str, errors: list[str]) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        errors.append(f"{field} {value!r} is not a number")
        return None


@dataclass
class Line:
    amount: Decimal
    tax: Decimal
    tax_type: str
    discount: Decimal


def line_tax(amount: Decimal, rate: Decimal, amount_types: str) -> Decimal:
    if amount_types == "NoTax" or rate == 0:
        return Decimal("0.00")
    if amount_types == "Inclusive":
        return to_cents(amount * rate / (Decimal(100) + rate))
    return to_cents(amount * rate / Decimal(100))


def compute_line(
    line: dict[str, Any], rates: list[dict[str, Any]], country: str, amount_types: str, invoice_type: str,
    errors: list[str],
) -> Line:  # fmt: skip
    """One request line as Xero computes it; problems go to ``errors``."""
    quantity = _decimal(line.get("Quantity"), "Quantity", errors)
    unit = _decimal(line.get("UnitAmount"), "UnitAmount", errors)
    given = _decimal(line.get("LineAmount"), "LineAmount", errors)
    discount = _decimal(line.get("DiscountAmount"), "DiscountAmount", errors) or Decimal(0)
    discount_rate = _decimal(line.get("DiscountRate"), "DiscountRate", errors)
    if unit is not None:
        unit = to_cents(unit)  # unitdp defaults to 2
    if unit is None and given is None:
        amount = Decimal(0)
    elif unit is None:
        amount = given or Decimal(0)
    else:
        gross = (quantity if quantity is not None else Decimal(1)) * unit
        if discount_rate is not None:
            discount = to_cents(gross * discount_rate / 100)
        if discount and abs(discount) > abs(gross):
            errors.append(
                f"The discount amount '{discount:.2f}' is invalid. Discount must not be greater than the line total."
            )
        amount = to_cents(gross - discount)
        if given is not None and to_cents(given) != amount:
            errors.append(f"The line total {to_cents(given):.2f} does not match the expected line total {amount:.2f}")
    tax_type = line.get("TaxType") or ("NONE" if amount_types == "NoTax" else SALES_DEFAULT[country])
    side = "CanApplyToRevenue" if invoice_type.startswith("ACCREC") else "CanApplyToExpenses"
    rate = next((r for r in rates if r["TaxType"] == tax_type and r["Status"] == "ACTIVE" and r[side]), None)
    if rate is None and amount_types != "NoTax":
        errors.append(f"The TaxType code {tax_type} does not exist or cannot be used for this type of transaction.")
        return Line(amount, Decimal("0.00"), tax_type, discount)
    percent = Decimal(str(rate["EffectiveRate"])) if rate else Decimal(0)
    tax = line_tax(amount, percent, amount_types)
    explicit = _decimal(line.get("TaxAmount"), "TaxAmount", errors)
    if explicit is not None and amount_types != "NoTax":
        if abs(to_cents(explicit) - tax) > TAX_AMOUNT_TOLERANCE:
            errors.append(
                f"Tax amount {to_cents(explicit):.2f} is incorrect for {tax_type} tax type, should be {tax:.2f}"
            )
        else:
            tax = to_cents(explicit)
    return Line(amount, tax, tax_type, discount)


def invoice_amounts(lines: list[Line], amount_types: str) -> dict[str, Decimal]:
    """SubTotal, TotalTax, Total and TotalDiscount of computed lines."""
    amounts = sum((li.amount for li in lines), Decimal(0))
    tax = sum((li.tax for li in lines), Decimal(0))
    subtotal = amounts - tax if amount_types == "Inclusive" else amounts
    return {
        "SubTotal": subtotal,
        "TotalTax": tax,
        "Total": subtotal + tax,
        "TotalDiscount": sum((li.discount for li in lines), Decimal(0)),
    }
