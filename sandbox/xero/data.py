"""The Xero emulator's in-memory organisation: seeded contacts and invoices, Xero's JSON shapes.

Records are kept as Xero JSON (PascalCase keys, ``/Date(ms+0000)/`` dates) plus a Python
``updated`` timestamp for ``If-Modified-Since``. The demo organisation's tenant id comes from
:mod:`sandbox.demo_accounts`, as does the demo tenant's Xero connection (:mod:`demo.seed`), so
signed webhooks resolve to it.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox import demo_accounts
from sandbox.xero import tax

DEMO_TENANT_ID = demo_accounts.XERO_TENANT_ID
DEMO_TENANT_NAME = demo_accounts.XERO_TENANT_NAME
_NS = uuid.UUID("6f1c9a52-3b0e-4c1e-9d55-0f6f0a2d9e11")

_CONTACTS = [
    ("Bayside Climbing Gym", "Mia", "Chen", "accounts@baysideclimbing.example"),
    ("Blue Ridge Outfitters", "Noah", "Patel", "noah.patel@blueridge.example"),
    ("Harbour Kayak Tours", "Olivia", "Brown", "olivia@harbourkayak.example"),
    ("Summit School Camps", "Liam", "Nguyen", "finance@summitcamps.example"),
    ("Trailhead Cafe", "Ava", "Wilson", "ava@trailheadcafe.example"),
    ("Coastal Surf Club", "Jack", "Taylor", "treasurer@coastalsurf.example"),
]
# (number, contact index, description, quantity, unit amount, status, days ago)
_INVOICES = [
    ("INV-0038", 0, "Rope inspection service", 1, "450.00", "PAID", 40),
    ("INV-0039", 1, "Tent rental (weekend)", 6, "85.00", "PAID", 33),
    ("INV-0040", 2, "Dry bags 20L", 24, "19.50", "AUTHORISED", 21),
    ("INV-0041", 3, "Camp equipment hire", 1, "2400.00", "AUTHORISED", 14),
    ("INV-0042", 1, "Hiking boots (wholesale)", 12, "129.00", "AUTHORISED", 10),
    ("INV-0043", 4, "Branded water bottles", 150, "6.40", "AUTHORISED", 7),
    ("INV-0044", 5, "Wetsuit repairs", 9, "35.00", "DRAFT", 3),
    ("INV-0045", 0, "Chalk bags", 40, "12.00", "SUBMITTED", 1),
]
SEED_EPOCH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def contact_id(index: int) -> str:
    """The ContactID of the ``index``-th seeded contact (the same at every start)."""
    return str(uuid.uuid5(_NS, f"contact-{index}"))


def invoice_id(number: str) -> str:
    """The InvoiceID of the seeded invoice ``number`` (e.g. INV-0042; the same at every start)."""
    return str(uuid.uuid5(_NS, f"invoice-{number}"))


def seeded_invoices() -> list[dict[str, str]]:
    """The seeded invoices as the demo's history refers to them: number, id, status, contact."""
    return [
        {"number": number, "invoice_id": invoice_id(number), "status": status, "contact_id": contact_id(ci),
         "contact": _CONTACTS[ci][0], "email": _CONTACTS[ci][3]}
        for number, ci, _description, _qty, _unit, status, _days in _INVOICES
    ]  # fmt: skip


def ms_date(value: dt.datetime) -> str:
    """Xero's .NET JSON date: ``/Date(1439434356790+0000)/``."""
    return f"/Date({int(value.timestamp() * 1000)}+0000)/"


def money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


@dataclass
class Org:
    """One Xero organisation's records (guarded by the module lock)."""

    tenant_id: str
    name: str
    country: str = "AU"
    created: dt.datetime = SEED_EPOCH
    tax_rates: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated: dict[str, dt.datetime] = field(default_factory=dict)
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    next_invoice: int = 46

    def touch(self, record_id: str, now: dt.datetime) -> str:
        self.updated[record_id] = now
        return ms_date(now)

    def __post_init__(self) -> None:
        if not self.tax_rates:
            self.tax_rates = tax.tax_rates(self.country)

    @property
    def base_currency(self) -> str:
        return tax.BASE_CURRENCY[self.country]


LOCK = threading.RLock()
ORGS: dict[str, Org] = {}
# The organisations the next OAuth consent connects (None: all of them), standing in for the
# organisation picker of Xero's consent screen.
CONSENT: list[list[str] | None] = [None]


def consent_orgs() -> list[str]:
    with LOCK:
        chosen = CONSENT[0]
        return [t for t in (chosen if chosen is not None else list(ORGS)) if t in ORGS]


def add_org(name: str, country: str, now: dt.datetime, *, with_demo_records: bool = False) -> Org:
    """A new organisation in ``country`` (AU, NZ or GB) with that country's tax rates: empty, or
    holding a copy of the demo organisation's contacts and invoices (same ids: orgs are separate)."""
    if country not in tax.COUNTRY_RATES:
        raise ValueError(f"country must be one of {sorted(tax.COUNTRY_RATES)}")
    with LOCK:
        org = Org(str(uuid.uuid4()), name, country=country, created=now)
        demo = ORGS.get(DEMO_TENANT_ID)
        if with_demo_records and demo is not None:
            org.contacts = copy.deepcopy(demo.contacts)
            org.invoices = copy.deepcopy(demo.invoices)
            org.updated = dict(demo.updated)
        ORGS[org.tenant_id] = org
        return org


TIMEZONES = {"AU": "AUSEASTERNSTANDARDTIME", "NZ": "NEWZEALANDSTANDARDTIME", "GB": "GMTSTANDARDTIME"}


def organisation(org: Org) -> dict[str, Any]:
    """The ``Organisation`` record (after the shape of Xero's own, in the SDK's recorded answer)."""
    return {
        "OrganisationID": str(uuid.uuid5(_NS, f"organisation-{org.tenant_id}")),
        "Name": org.name,
        "LegalName": org.name,
        "PaysTax": True,
        "Version": {"GB": "UK"}.get(org.country, org.country),
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 30 if org.country == "AU" else 31,
        "FinancialYearEndMonth": {"AU": 6, "NZ": 3, "GB": 12}[org.country],
        "SalesTaxBasis": "ACCRUALS" if org.country == "GB" else "INVOICE",
        "SalesTaxPeriod": "QUARTERLY" if org.country == "GB" else "TWOMONTHS" if org.country == "NZ" else "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_date(org.created),
        "OrganisationEntityType": "COMPANY",
        "Timezone": TIMEZONES[org.country],
        "ShortCode": "!" + org.tenant_id[:5],
        "Edition": "BUSINESS",
        "Class": "STANDARD",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def seed() -> None:
    """Restore the demo organisation (Australian: GST 10 %)."""
    with LOCK:
        ORGS.clear()
        CONSENT[0] = None
        org = Org(DEMO_TENANT_ID, DEMO_TENANT_NAME, country="AU")
        for i, (name, first, last, email) in enumerate(_CONTACTS):
            cid = contact_id(i)
            when = SEED_EPOCH + dt.timedelta(hours=i)
            org.contacts[cid] = {
                "ContactID": cid,
                "ContactNumber": f"C{1000 + i}",
                "ContactStatus": "ACTIVE",
                "Name": name,
                "FirstName": first,
                "LastName": last,
                "EmailAddress": email,
                "Addresses": [{"AddressType": "STREET", "City": "Sydney", "Country": "Australia"}],
                "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": f"555-01{i:02d}"}],
                "IsSupplier": False,
                "IsCustomer": True,
                "DefaultCurrency": "AUD",
                "UpdatedDateUTC": org.touch(cid, when),
                "HasValidationErrors": False,
            }
        contact_ids = list(org.contacts)
        for j, (number, ci, description, qty, unit, status, days) in enumerate(_INVOICES):
            iid = invoice_id(number)
            issued = dt.datetime(2026, 11, 26, tzinfo=dt.UTC) - dt.timedelta(days=days)
            contact = org.contacts[contact_ids[ci]]
            invoice = build_invoice(
                org,
                {
                    "Type": "ACCREC",
                    "InvoiceNumber": number,
                    "Reference": f"PO-{7100 + j}",
                    "Contact": {"ContactID": contact["ContactID"]},
                    "Date": issued.date().isoformat(),
                    "DueDate": (issued + dt.timedelta(days=30)).date().isoformat(),
                    "Status": "AUTHORISED" if status == "PAID" else status,
                    "LineItems": [
                        {"Description": description, "Quantity": qty, "UnitAmount": float(unit), "AccountCode": "200"}
                    ],
                },
                invoice_id=iid,
                now=issued + dt.timedelta(hours=2),
            )
            if status == "PAID":
                mark_paid(org, invoice, issued + dt.timedelta(days=5))
        ORGS[org.tenant_id] = org


def _date(value: str | None, default: dt.datetime) -> dt.datetime:
    if not value:
        return default
    if value.startswith("/Date("):
        return dt.datetime.fromtimestamp(int(value[6:].split(")")[0].split("+")[0]) / 1000, dt.UTC)
    return dt.datetime.fromisoformat(value[:10]).replace(tzinfo=dt.UTC)


def contact_summary(contact: dict[str, Any]) -> dict[str, Any]:
    keys = ("ContactID", "Name", "FirstName", "LastName", "EmailAddress", "ContactStatus")
    return {k: contact[k] for k in keys if k in contact}


def build_invoice(org: Org, data: dict[str, Any], *, now: dt.datetime, invoice_id: str | None = None) -> dict[str, Any]:
    """Create (store and return) an invoice from a request's invoice object."""
    contact_ref = data.get("Contact") or {}
    contact = org.contacts.get(str(contact_ref.get("ContactID", "")))
    if contact is None:
        contact = next((c for c in org.contacts.values() if c["Name"] == contact_ref.get("Name")), None)
    if contact is None:
        raise ValueError("A Contact must be specified (an existing ContactID or Name)")
    invoice_type = data.get("Type", "ACCREC")
    amount_types = data.get("LineAmountTypes") or "Exclusive"
    errors: list[str] = []
    if amount_types not in tax.LINE_AMOUNT_TYPES:
        errors.append(f"LineAmountTypes must be one of {', '.join(tax.LINE_AMOUNT_TYPES)}")
        amount_types = "Exclusive"
    computed, lines = [], []
    for line in data.get("LineItems") or []:
        done = tax.compute_line(line, org.tax_rates, org.country, amount_types, invoice_type, errors)
        computed.append(done)
        item = {
            "LineItemID": str(uuid.uuid4()),
            "Description": line.get("Description", ""),
            "Quantity": float(line.get("Quantity", 1)),
            "UnitAmount": float(line.get("UnitAmount", 0)),
            "AccountCode": line.get("AccountCode", "200"),
            "TaxType": done.tax_type,
            "TaxAmount": money(done.tax),
            "LineAmount": money(done.amount),
        }
        if done.discount:
            item["DiscountAmount"] = money(done.discount)
        lines.append(item)
    if not lines:
        errors.append("At least one line item is required")
    if errors:
        raise tax.InvoiceInvalid(errors)
    totals = tax.invoice_amounts(computed, amount_types)
    number = data.get("InvoiceNumber")
    if not number:
        number = f"INV-{org.next_invoice:04d}"
        org.next_invoice += 1
    issued = _date(data.get("Date"), now)
    invoice_id = invoice_id or str(uuid.uuid4())
    invoice = {
        "Type": invoice_type,
        "InvoiceID": invoice_id,
        "InvoiceNumber": number,
        "Reference": data.get("Reference", ""),
        "Contact": contact_summary(contact),
        "Date": ms_date(issued),
        "DateString": issued.strftime("%Y-%m-%dT00:00:00"),
        "DueDate": ms_date(_date(data.get("DueDate"), issued + dt.timedelta(days=30))),
        "Status": data.get("Status", "DRAFT"),
        "LineAmountTypes": amount_types,
        "LineItems": lines,
        "SubTotal": money(totals["SubTotal"]),
        "TotalTax": money(totals["TotalTax"]),
        "Total": money(totals["Total"]),
        "TotalDiscount": money(totals["TotalDiscount"]),
        "AmountDue": money(totals["Total"]),
        "AmountPaid": 0.0,
        "AmountCredited": 0.0,
        "CurrencyCode": data.get("CurrencyCode") or org.base_currency,
        "CurrencyRate": 1.0,
        "SentToContact": False,
        "HasAttachments": False,
        "HasErrors": False,
        "IsDiscounted": bool(totals["TotalDiscount"]),
        "Payments": [],
    }
    invoice["UpdatedDateUTC"] = org.touch(invoice_id, now)
    org.invoices[invoice_id] = invoice
    return invoice


def mark_paid(org: Org, invoice: dict[str, Any], when: dt.datetime) -> None:
    invoice["Payments"] = [
        {
            "PaymentID": str(uuid.uuid4()),
            "Date": ms_date(when),
            "Amount": invoice["AmountDue"],
            "Reference": f"Payment {invoice['InvoiceNumber']}",
        }
    ]
    invoice["AmountPaid"] = invoice["Total"]
    invoice["AmountDue"] = 0.0
    invoice["Status"] = "PAID"
    invoice["FullyPaidOnDate"] = ms_date(when)
    invoice["UpdatedDateUTC"] = org.touch(invoice["InvoiceID"], when)


def new_contact(org: Org, data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    if not data.get("Name"):
        raise ValueError("The contact name must be specified")
    if any(c["Name"] == data["Name"] for c in org.contacts.values()):
        raise ValueError(f"The contact name {data['Name']} is already assigned to another contact")
    cid = str(uuid.uuid4())
    allowed = ("Name", "FirstName", "LastName", "EmailAddress", "ContactNumber", "AccountNumber", "Phones", "Addresses")
    contact = {k: data[k] for k in allowed if k in data}
    contact |= {"ContactID": cid, "ContactStatus": "ACTIVE", "IsSupplier": False, "IsCustomer": False}
    contact |= {"HasValidationErrors": False, "UpdatedDateUTC": org.touch(cid, now)}
    org.contacts[cid] = contact
    return contact
