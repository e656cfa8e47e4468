"""The Xero emulator's in-memory organisation: seeded contacts and invoices, Xero's JSON shapes.

Records are kept as Xero JSON (PascalCase keys, ``/Date(ms+0000)/`` dates) plus a Python
``updated`` timestamp for ``If-Modified-Since``. The demo organisation's tenant id comes from
:mod:`sandbox.demo_accounts`, as does the demo tenant's Xero connection (:mod:`demo.seed`), so
signed webhooks resolve to it.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox import demo_accounts

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
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated: dict[str, dt.datetime] = field(default_factory=dict)
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    next_invoice: int = 46

    def touch(self, record_id: str, now: dt.datetime) -> str:
        self.updated[record_id] = now
        return ms_date(now)


LOCK = threading.RLock()
ORGS: dict[str, Org] = {}


def seed() -> None:
    """Restore the demo organisation."""
    with LOCK:
        ORGS.clear()
        org = Org(DEMO_TENANT_ID, DEMO_TENANT_NAME)
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
    lines = []
    subtotal = Decimal(0)
    for line in data.get("LineItems") or []:
        amount = Decimal(str(line.get("Quantity", 1))) * Decimal(str(line.get("UnitAmount", 0)))
        subtotal += amount
        lines.append(
            {
                "LineItemID": str(uuid.uuid4()),
                "Description": line.get("Description", ""),
                "Quantity": float(line.get("Quantity", 1)),
                "UnitAmount": float(line.get("UnitAmount", 0)),
                "AccountCode": line.get("AccountCode", "200"),
                "TaxType": line.get("TaxType", "OUTPUT"),
                "TaxAmount": money(amount * Decimal("0.1")),
                "LineAmount": money(amount),
            }
        )
    if not lines:
        raise ValueError("At least one line item is required")
    tax = subtotal * Decimal("0.1")
    number = data.get("InvoiceNumber")
    if not number:
        number = f"INV-{org.next_invoice:04d}"
        org.next_invoice += 1
    issued = _date(data.get("Date"), now)
    invoice_id = invoice_id or str(uuid.uuid4())
    invoice = {
        "Type": data.get("Type", "ACCREC"),
        "InvoiceID": invoice_id,
        "InvoiceNumber": number,
        "Reference": data.get("Reference", ""),
        "Contact": contact_summary(contact),
        "Date": ms_date(issued),
        "DateString": issued.strftime("%Y-%m-%dT00:00:00"),
        "DueDate": ms_date(_date(data.get("DueDate"), issued + dt.timedelta(days=30))),
        "Status": data.get("Status", "DRAFT"),
        "LineAmountTypes": data.get("LineAmountTypes", "Exclusive"),
        "LineItems": lines,
        "SubTotal": money(subtotal),
        "TotalTax": money(tax),
        "Total": money(subtotal + tax),
        "AmountDue": money(subtotal + tax),
        "AmountPaid": 0.0,
        "AmountCredited": 0.0,
        "CurrencyCode": data.get("CurrencyCode", "AUD"),
        "CurrencyRate": 1.0,
        "SentToContact": False,
        "HasAttachments": False,
        "HasErrors": False,
        "IsDiscounted": False,
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
