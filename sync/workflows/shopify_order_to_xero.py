"""``shopify-order-to-xero``: a paid Shopify order becomes one Xero sales invoice.

The job re-fetches the order (webhooks may be stale or arrive twice), finds the Xero contact
by the customer's email (creating it when absent), and creates an ``ACCREC`` invoice with the
order's line items, discounts and shipping, in the order's currency, referenced by the order
name (``#1001``), whose Total and TotalTax equal the order's ``total_price`` and ``total_tax``:
how lines and tax are mapped, and when an order is refused instead, is in
:mod:`sync.workflows.order_invoice`.

Exactly one invoice per order, even when a runner dies mid-job: the job first looks for an
invoice with the order's reference, and the create carries an ``Idempotency-Key`` derived
from the shop and order id, so a repeated request is answered, not executed, by Xero.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from integrations.http import NotFound
from integrations.shopify.models import Order
from integrations.xero.client import XeroClient, where_equals
from integrations.xero.models import Invoice, NewContact, NewInvoice
from sync.clients import JobClients, session_factory
from sync.context import JobContext
from sync.errors import PermanentJobError
from sync.workflow_settings import SHOPIFY_ORDER_TO_XERO, ShopifyOrderToXeroOptions, load
from sync.workflows import register
from sync.workflows.order_invoice import amount_types, invoice_for

UNPAID = {"PENDING", "AUTHORIZED", "EXPIRED", "VOIDED"}
DEAD_INVOICE = {"DELETED", "VOIDED"}


def idempotency_key(shop: str, order_id: int) -> str:
    """The Xero ``Idempotency-Key`` of the invoice for one order (stable across attempts and reruns)."""
    return f"zixly:shopify:{shop}:order:{order_id}"[:128]


def contact_key(email: str) -> str:
    return "zixly:contact:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


@register(SHOPIFY_ORDER_TO_XERO)
def shopify_order_to_xero(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Shopify order paid → one Xero sales invoice."""
    with session_factory(ctx)() as session:
        options = load(session, ctx.tenant_id, SHOPIFY_ORDER_TO_XERO, ShopifyOrderToXeroOptions).options
    order_ref = params["order_id"]
    with JobClients(ctx) as clients:
        shop = clients.connection_org("shopify") or params.get("shop") or ""
        ctx.step(f"Fetching Shopify order {order_ref} from {shop}")
        try:
            order = clients.shopify().get_order(order_ref)
        except NotFound:
            raise PermanentJobError(f"Shopify order {order_ref} does not exist in {shop}; was it deleted?") from None
        ctx.record("shopify", "order", str(order.legacy_id), "READ", label=order.name)
        if (order.financial_status or "").upper() in UNPAID or order.cancelled_at is not None:
            state = "cancelled" if order.cancelled_at else order.financial_status
            ctx.step(f"Order {order.name} is {state}: no invoice")
            return {"skipped": f"order {state}", "order": order.name}
        email = order.customer_email or order.email
        if not email:
            raise PermanentJobError(f"Shopify order {order.name} has no customer email to match a Xero contact")

        xero = clients.xero()
        contact_id = _find_contact(ctx, xero, email)
        existing = _existing_invoice(xero, order.name, contact_id) if contact_id else None
        if existing is not None:
            ctx.record("xero", "invoice", existing.invoice_id, "READ", label=existing.invoice_number)
            ctx.step(f"Xero already has invoice {existing.invoice_number} for order {order.name}: nothing to create")
            return _result(order, existing, created=False)

        # Map the order before writing anything: an order that cannot be mapped exactly fails
        # here, leaving neither a contact nor an invoice behind.
        rates = None
        if amount_types(order) != "NoTax":
            ctx.step("Reading the Xero organisation's tax rates")
            rates = xero.tax_rates()
        draft = invoice_for(order, contact_id or "", options, rates)
        _approval_gate(ctx, options, order, email, draft)
        if contact_id is None:
            contact_id = _create_contact(ctx, xero, email)
        draft = draft.model_copy(update={"contact_id": contact_id})
        ctx.step(
            f"Creating a Xero invoice for order {order.name} ({len(draft.line_items)} lines, {order.currency}, "
            f"amounts {draft.line_amount_types}, total {order.total} incl. tax {order.total_tax})"
        )
        created = xero.create_invoice(draft, idempotency_key=idempotency_key(shop, order.legacy_id))
        ctx.record("xero", "invoice", created.invoice_id, "CREATE", label=created.invoice_number)
        # The create's answer may be Xero replaying an earlier attempt's answer for this key:
        # read the invoice as Xero holds it now before reporting it.
        stored = xero.get_invoice(created.invoice_id)
        ctx.step(
            f"Created Xero invoice {stored.invoice_number}: total {stored.total} {stored.currency_code}, "
            f"tax {stored.total_tax}"
        )
        return _result(order, stored, created=True)


def _approval_gate(
    ctx: JobContext, options: ShopifyOrderToXeroOptions, order: Order, email: str, draft: NewInvoice
) -> None:
    """Above the tenant's ``approval_above``, wait for an EDITOR's approval before any write to Xero.

    The job waits (WAITING, reason approval); the approver sees the invoice that would be
    written (``draft``, mapped but not yet sent). A rejection cancels the job; on approval the
    workflow, run again from the top, passes this gate with the recorded decision and writes.
    """
    if options.approval_above is None or order.total <= Decimal(str(options.approval_above)):
        return
    summary = f"Xero invoice for Shopify order {order.name}: {order.total:.2f} {order.currency} to {email}"
    invoice = draft.to_xero()
    if not draft.contact_id:
        invoice["Contact"] = {"Name": email, "EmailAddress": email}  # to be created on approval
    detail = {"order": order.name, "total": f"{order.total:.2f}", "currency": order.currency,
              "threshold": options.approval_above, "invoice": invoice}  # fmt: skip
    decision = ctx.require_approval(summary, detail)
    ctx.step(f"Approved by {decision.get('by')}" + (f": {decision['comment']}" if decision.get("comment") else ""))


def _find_contact(ctx: JobContext, xero: XeroClient, email: str) -> str | None:
    ctx.step(f"Looking up the Xero contact {email}")
    found = xero.find_contacts_by_email(email)
    if not found:
        return None
    ctx.record("xero", "contact", found[0].contact_id, "READ", label=email)
    return found[0].contact_id


def _create_contact(ctx: JobContext, xero: XeroClient, email: str) -> str:
    contact = xero.create_contact(NewContact(name=email, email_address=email), idempotency_key=contact_key(email))
    ctx.record("xero", "contact", contact.contact_id, "CREATE", label=email)
    ctx.step(f"Created Xero contact {contact.contact_id} for {email}")
    return contact.contact_id


def _existing_invoice(xero: XeroClient, reference: str, contact_id: str) -> Invoice | None:
    where = f"{where_equals('Reference', reference)} AND {where_equals('Type', 'ACCREC')}"
    for invoice in xero.list_invoices(where=where, contact_ids=[contact_id]):
        if invoice.status not in DEAD_INVOICE:
            return invoice
    return None


def _result(order: Order, invoice: Invoice, *, created: bool) -> dict[str, Any]:
    return {
        "order": order.name,
        "invoice": invoice.invoice_number,
        "invoice_id": invoice.invoice_id,
        "created": created,
        "shopify_total": f"{order.total:.2f}",
        "xero_total": f"{(invoice.total or Decimal(0)):.2f}",
        "shopify_tax": f"{order.total_tax:.2f}",
        "xero_tax": f"{(invoice.total_tax or Decimal(0)):.2f}",
        "currency": order.currency,
    }
