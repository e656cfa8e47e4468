"""Pydantic models of the Xero records Zixly reads and writes (PascalCase on the wire).

Xero dates arrive as .NET JSON dates (``/Date(1573755038314+0000)/``) or ISO strings; both
parse to aware UTC datetimes. Unknown fields are ignored so new Xero fields never break us.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_xero_datetime(value: Any) -> Any:
    """``/Date(ms±zzzz)/`` or ISO 8601 (naive means UTC) → aware datetime."""
    if isinstance(value, str):
        if match := _MS_DATE.match(value):
            return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, dt.UTC)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value


XeroDateTime = Annotated[dt.datetime, BeforeValidator(parse_xero_datetime)]


class XeroModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Contact(XeroModel):
    contact_id: str = Field(alias="ContactID")
    name: str = Field(alias="Name")
    first_name: str | None = Field(None, alias="FirstName")
    last_name: str | None = Field(None, alias="LastName")
    email_address: str | None = Field(None, alias="EmailAddress")
    contact_number: str | None = Field(None, alias="ContactNumber")
    contact_status: str | None = Field(None, alias="ContactStatus")
    is_customer: bool | None = Field(None, alias="IsCustomer")
    is_supplier: bool | None = Field(None, alias="IsSupplier")
    updated_at: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")


class ContactRef(XeroModel):
    """The contact as embedded in an invoice (Xero sends a subset)."""

    contact_id: str = Field(alias="ContactID")
    name: str | None = Field(None, alias="Name")
    email_address: str | None = Field(None, alias="EmailAddress")


class LineItem(XeroModel):
    description: str | None = Field(None, alias="Description")
    quantity: Decimal | None = Field(None, alias="Quantity")
    unit_amount: Decimal | None = Field(None, alias="UnitAmount")
    account_code: str | None = Field(None, alias="AccountCode")
    item_code: str | None = Field(None, alias="ItemCode")
    tax_type: str | None = Field(None, alias="TaxType")
    tax_amount: Decimal | None = Field(None, alias="TaxAmount")
    discount_amount: Decimal | None = Field(None, alias="DiscountAmount")
    line_amount: Decimal | None = Field(None, alias="LineAmount")


class Invoice(XeroModel):
    invoice_id: str = Field(alias="InvoiceID")
    invoice_number: str | None = Field(None, alias="InvoiceNumber")
    type: str = Field(alias="Type")
    status: str = Field(alias="Status")
    reference: str | None = Field(None, alias="Reference")
    contact: ContactRef = Field(alias="Contact")
    date: XeroDateTime | None = Field(None, alias="Date")
    due_date: XeroDateTime | None = Field(None, alias="DueDate")
    line_items: list[LineItem] = Field(default_factory=list, alias="LineItems")
    line_amount_types: str | None = Field(None, alias="LineAmountTypes")
    currency_code: str | None = Field(None, alias="CurrencyCode")
    sub_total: Decimal | None = Field(None, alias="SubTotal")
    total_tax: Decimal | None = Field(None, alias="TotalTax")
    total: Decimal | None = Field(None, alias="Total")
    amount_due: Decimal | None = Field(None, alias="AmountDue")
    amount_paid: Decimal | None = Field(None, alias="AmountPaid")
    fully_paid_on: XeroDateTime | None = Field(None, alias="FullyPaidOnDate")
    updated_at: XeroDateTime | None = Field(None, alias="UpdatedDateUTC")

    @property
    def is_paid(self) -> bool:
        return self.status == "PAID"


class TaxRate(XeroModel):
    """One of the organisation's tax rates (``GET /TaxRates``); rates are percentages (``15.0``)."""

    name: str = Field(alias="Name")
    tax_type: str = Field(alias="TaxType")
    status: str | None = Field(None, alias="Status")
    effective_rate: Decimal = Field(Decimal(0), alias="EffectiveRate")
    display_rate: Decimal | None = Field(None, alias="DisplayTaxRate")
    report_tax_type: str | None = Field(None, alias="ReportTaxType")
    can_apply_to_revenue: bool | None = Field(None, alias="CanApplyToRevenue")

    @property
    def usable_for_sales(self) -> bool:
        return (self.status or "ACTIVE") == "ACTIVE" and self.can_apply_to_revenue is not False


class XeroTenant(XeroModel):
    """One organisation an authorization connects (an entry of ``GET /connections``)."""

    id: str
    tenant_id: str = Field(alias="tenantId")
    tenant_type: str = Field(alias="tenantType")
    tenant_name: str | None = Field(None, alias="tenantName")
    auth_event_id: str | None = Field(None, alias="authEventId")
    created_at: XeroDateTime | None = Field(None, alias="createdDateUtc")
    updated_at: XeroDateTime | None = Field(None, alias="updatedDateUtc")


# -- what we send -----------------------------------------------------------------------------


class NewLineItem(XeroModel):
    """A line to send. ``line_amount`` is ``quantity × unit_amount − discount_amount`` (Xero checks
    it); ``tax_amount`` overrides Xero's own per-line tax, within what Xero tolerates."""

    description: str = Field(alias="Description")
    quantity: Decimal = Field(Decimal(1), alias="Quantity")
    unit_amount: Decimal = Field(alias="UnitAmount")
    account_code: str | None = Field(None, alias="AccountCode")
    item_code: str | None = Field(None, alias="ItemCode")
    tax_type: str | None = Field(None, alias="TaxType")
    discount_amount: Decimal | None = Field(None, alias="DiscountAmount")
    line_amount: Decimal | None = Field(None, alias="LineAmount")
    tax_amount: Decimal | None = Field(None, alias="TaxAmount")


class NewInvoice(XeroModel):
    """A sales invoice (``ACCREC``) to create; ``contact_id`` must exist in the organisation."""

    contact_id: str
    line_items: list[NewLineItem]
    type: str = "ACCREC"
    date: dt.date | None = None
    due_date: dt.date | None = None
    reference: str | None = None
    invoice_number: str | None = None
    status: str = "DRAFT"
    currency_code: str | None = None
    line_amount_types: Literal["Exclusive", "Inclusive", "NoTax"] | None = None

    def to_xero(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Type": self.type,
            "Contact": {"ContactID": self.contact_id},
            "LineItems": [
                {
                    k: float(v) if isinstance(v, Decimal) else v
                    for k, v in li.model_dump(by_alias=True, exclude_none=True).items()
                }
                for li in self.line_items
            ],
            "Status": self.status,
        }
        optional = {
            "Date": self.date.isoformat() if self.date else None,
            "DueDate": self.due_date.isoformat() if self.due_date else None,
            "Reference": self.reference,
            "InvoiceNumber": self.invoice_number,
            "CurrencyCode": self.currency_code,
            "LineAmountTypes": self.line_amount_types,
        }
        return body | {k: v for k, v in optional.items() if v is not None}


class NewContact(XeroModel):
    name: str = Field(alias="Name")
    first_name: str | None = Field(None, alias="FirstName")
    last_name: str | None = Field(None, alias="LastName")
    email_address: str | None = Field(None, alias="EmailAddress")

    def to_xero(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)
