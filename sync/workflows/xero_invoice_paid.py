"""``xero-invoice-paid``: a paid Xero invoice updates the customer's HubSpot contact.

Xero's webhook only says "invoice X changed", so the job fetches the invoice. When it is
PAID: find the HubSpot contact by the Xero contact's email (create it when absent), set the
last payment date, amount paid and invoice number (property names from the tenant's
settings) and, when the invoice reference names a HubSpot deal (``DEAL-<id>``), move that
deal to closed won. Not paid: COMPLETED with ``{"skipped": "status <X>"}``.

Idempotent: it compares before it writes, so a second delivery of the same payment, or a
rerun, changes nothing; an older payment never overwrites a newer one.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from integrations.http import NotFound
from integrations.hubspot.client import CONTACT_PROPERTIES, ContactExists, HubSpotClient
from integrations.hubspot.models import Contact
from integrations.xero.models import Invoice
from sync.clients import JobClients, session_factory
from sync.context import JobContext
from sync.errors import PermanentJobError
from sync.workflow_settings import XERO_INVOICE_PAID, XeroInvoicePaidOptions, load
from sync.workflows import register


def money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.2f}"


def desired_properties(invoice: Invoice, options: XeroInvoicePaidOptions) -> dict[str, str]:
    paid_on = invoice.fully_paid_on or invoice.updated_at or dt.datetime.now(dt.UTC)
    return {
        options.last_payment_date_property: paid_on.date().isoformat(),
        options.amount_paid_property: money(invoice.amount_paid if invoice.amount_paid else invoice.total),
        options.invoice_number_property: invoice.invoice_number or invoice.invoice_id,
    }


@register(XERO_INVOICE_PAID)
def xero_invoice_paid(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Xero invoice paid → update the HubSpot contact (and close the linked deal)."""
    with session_factory(ctx)() as session:
        options = load(session, ctx.tenant_id, XERO_INVOICE_PAID, XeroInvoicePaidOptions).options
    invoice_id = params["invoice_id"]
    with JobClients(ctx) as clients:
        xero = clients.xero()
        ctx.step(f"Fetching Xero invoice {invoice_id}")
        invoice = xero.get_invoice(invoice_id)  # NotFound: "Xero has no invoice <id>" (permanent)
        ctx.record("xero", "invoice", invoice.invoice_id, "READ", label=invoice.invoice_number)
        number = invoice.invoice_number or invoice.invoice_id
        if not invoice.is_paid:
            ctx.step(f"Invoice {number} is {invoice.status}, not PAID: nothing to do")
            return {"skipped": f"status {invoice.status}", "invoice": number}

        email = invoice.contact.email_address
        if not email:
            contact = xero.get_contact(invoice.contact.contact_id)
            ctx.record("xero", "contact", contact.contact_id, "READ", label=contact.email_address)
            email, first, last = contact.email_address, contact.first_name, contact.last_name
        else:
            first = last = None
        if not email:
            ctx.step(f"Xero contact {invoice.contact.name or invoice.contact.contact_id} has no email address")
            return {"skipped": "the Xero contact has no email", "invoice": number}

        hubspot = clients.hubspot()
        want = desired_properties(invoice, options)
        contact_id, contact_action = _update_contact(ctx, hubspot, email, want, options, first, last, invoice)
        result: dict[str, Any] = {"invoice": number, "email": email, "contact": contact_action}
        if contact_id:
            result["hubspot_contact_id"] = contact_id

        match = re.search(options.deal_reference_pattern, invoice.reference or "")
        if match:
            result["deal"] = _close_deal(ctx, hubspot, match.group(1), options.closed_won_stage, number)
    return result


def _update_contact(
    ctx: JobContext,
    hubspot: HubSpotClient,
    email: str,
    want: dict[str, str],
    options: XeroInvoicePaidOptions,
    first: str | None,
    last: str | None,
    invoice: Invoice,
) -> tuple[str | None, str]:
    ctx.step(f"Looking up the HubSpot contact {email}")
    contact = hubspot.find_contact_by_email(email, (*CONTACT_PROPERTIES, *want))
    if contact is None:
        if not options.create_missing_contacts:
            ctx.step(f"No HubSpot contact has {email}, and creating contacts is off for this tenant")
            return None, "missing"
        names = {"firstname": first, "lastname": last} if first or last else _names_from(invoice)
        properties = {"email": email, **{k: v for k, v in names.items() if v}, **want}
        try:
            created = hubspot.create_contact(properties)
        except ContactExists as exc:  # created meanwhile (another job, or a lost answer): update it
            if not exc.existing_id:
                raise
            contact = Contact.model_validate(
                {"id": exc.existing_id, "createdAt": dt.datetime.now(dt.UTC), "updatedAt": dt.datetime.now(dt.UTC)}
            )
        else:
            ctx.record("hubspot", "contact", created.id, "CREATE", label=email)
            ctx.step(f"Created HubSpot contact {created.id} for {email} with {_shown(want)}")
            return created.id, "created"
    ctx.record("hubspot", "contact", contact.id, "READ", label=email)
    current = {k: contact.get(k) for k in want}
    if current == want:
        ctx.step(f"HubSpot contact {contact.id} already shows this payment: no update")
        return contact.id, "unchanged"
    stored_date = current.get(options.last_payment_date_property)
    if stored_date and stored_date > want[options.last_payment_date_property]:
        ctx.step(f"HubSpot contact {contact.id} shows a later payment ({stored_date}): not overwritten")
        return contact.id, "newer payment kept"
    hubspot.update_contact(contact.id, want)
    ctx.record("hubspot", "contact", contact.id, "UPDATE", label=email)
    ctx.step(f"Updated HubSpot contact {contact.id}: {_shown(want)}")
    return contact.id, "updated"


def _close_deal(ctx: JobContext, hubspot: HubSpotClient, deal_id: str, won: str, number: str) -> str:
    ctx.step(f"Invoice {number} references HubSpot deal {deal_id}")
    try:
        deal = hubspot.get_deal(deal_id)
    except NotFound:
        raise PermanentJobError(
            f"HubSpot deal {deal_id} (referenced by invoice {number}) does not exist; was it deleted?"
        ) from None
    ctx.record("hubspot", "deal", deal.id, "READ", label=deal.get("dealname"))
    if deal.stage == won:
        ctx.step(f"Deal {deal.id} is already closed won")
        return "already closed won"
    hubspot.update_deal_stage(deal.id, won)
    ctx.record("hubspot", "deal", deal.id, "UPDATE", label=deal.get("dealname"))
    ctx.step(f"Moved deal {deal.id} from {deal.stage} to {won}")
    return "moved to closed won"


def _names_from(invoice: Invoice) -> dict[str, str | None]:
    name = (invoice.contact.name or "").strip()
    return {"company": name} if name else {}


def _shown(props: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in props.items())
