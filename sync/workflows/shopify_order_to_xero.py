"""``shopify-order-to-xero``: a paid Shopify order becomes one Xero sales invoice.

The job re-fetches the order (webhooks may be stale or arrive twice), finds the Xero contact
by the customer's email (creating it when absent), and creates an ``ACCREC`` invoice with the
order's line items, discounts and shipping, in the order's currency, referenced by the order
name (``#1001``). Xero computes the tax from the account's tax settings.

Exactly one invoice per order, even when a runner dies mid-job: the job first looks for an
invoice with the order's reference, and the create carries an ``Idempotency-Key`` derived
from the shop and order id, so a repeated request is answered, not executed, by Xero.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from integrations.http import NotFound
from integrations.shopify.models import Order
from integrations.xero.client import XeroClient, where_equals
from integrations.xero.models import Invoice, NewContact, NewInvoice, NewLineItem
from sync.clients import JobClients, session_factory
from sync.context import JobContext
from sync.errors import PermanentJobError
from sync.workflow_settings import SHOPIFY_ORDER_TO_XERO, ShopifyOrderToXeroOptions, load
from sync.workflows import register

UNPAID = {"PENDING", "AUTHORIZED", "EXPIRED", "VOIDED"}
DEAD_INVOICE = {"DELETED", "VOIDED"}


def idempotency_key(shop: str, order_id: int) -> str:
    """The Xero ``Idempotency-Key`` of the invoice for one order (stable across attempts and reruns)."""
    return f"zixly:shopify:{shop}:order:{order_id}"[:128]


def contact_key(email: str) -> str:
    return "zixly:contact:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


def invoice_for(order: Order, contact_id: str, options: ShopifyOrderToXeroOptions) -> NewInvoice:
    """The Xero invoice for an order: product lines, one discount line, shipping lines."""
    tax = options.tax_type
    lines = [
        NewLineItem(
            description=f"{item.title} ({item.sku})" if item.sku else item.title,
            quantity=Decimal(item.quantity),
            unit_amount=item.unit_price,
            account_code=options.sales_account_code,
            tax_type=tax,
        )
        for item in order.line_items
    ]
    if order.total_discounts > 0:
        codes = ", ".join(order.discount_codes)
        lines.append(
            NewLineItem(
                description=f"Discount {codes}".strip(),
                quantity=Decimal(1),
                unit_amount=-order.total_discounts,
                account_code=options.sales_account_code,
                tax_type=tax,
            )
        )
    for shipping in order.shipping_lines:
        if shipping.discounted_price > 0:
            lines.append(
                NewLineItem(
                    description=f"Shipping: {shipping.title}",
                    quantity=Decimal(1),
                    unit_amount=shipping.discounted_price,
                    account_code=options.shipping_account_code,
                    tax_type=tax,
                )
            )
    issued = order.processed_at.astimezone(dt.UTC).date()
    return NewInvoice(
        contact_id=contact_id,
        line_items=lines,
        date=issued,
        due_date=issued + dt.timedelta(days=options.due_in_days),
        reference=order.name,
        status=options.invoice_status,
        currency_code=order.currency,
    )


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
        ctx.record("shopify", "order", str(order.legacy_id), "READ")
        if (order.financial_status or "").upper() in UNPAID or order.cancelled_at is not None:
            state = "cancelled" if order.cancelled_at else order.financial_status
            ctx.step(f"Order {order.name} is {state}: no invoice")
            return {"skipped": f"order {state}", "order": order.name}
        email = order.customer_email or order.email
        if not email:
            raise PermanentJobError(f"Shopify order {order.name} has no customer email to match a Xero contact")
        _approval_gate(ctx, options, order, email)

        xero = clients.xero()
        contact_id = _find_or_create_contact(ctx, xero, email)
        existing = _existing_invoice(xero, order.name, contact_id)
        if existing is not None:
            ctx.record("xero", "invoice", existing.invoice_id, "READ")
            ctx.step(f"Xero already has invoice {existing.invoice_number} for order {order.name}: nothing to create")
            return _result(order, existing, created=False)

        draft = invoice_for(order, contact_id, options)
        ctx.step(f"Creating a Xero invoice for order {order.name} ({len(draft.line_items)} lines, {order.currency})")
        created = xero.create_invoice(draft, idempotency_key=idempotency_key(shop, order.legacy_id))
        ctx.record("xero", "invoice", created.invoice_id, "CREATE")
        # The create's answer may be Xero replaying an earlier attempt's answer for this key:
        # read the invoice as Xero holds it now before reporting it.
        stored = xero.get_invoice(created.invoice_id)
        ctx.step(f"Created Xero invoice {stored.invoice_number}: total {stored.total} {stored.currency_code}")
        return _result(order, stored, created=True)


def _approval_gate(ctx: JobContext, options: ShopifyOrderToXeroOptions, order: Order, email: str) -> None:
    """Above the tenant's ``approval_above``, wait for an EDITOR's approval before any write to Xero.

    The job waits (WAITING, reason approval); the approver sees the invoice that would be
    written. A rejection cancels the job; on approval the workflow, run again from the top,
    passes this gate with the recorded decision and writes.
    """
    if options.approval_above is None or order.total <= Decimal(str(options.approval_above)):
        return
    draft = invoice_for(order, f"(the Xero contact of {email})", options)
    summary = f"Xero invoice for Shopify order {order.name}: {order.total:.2f} {order.currency} to {email}"
    detail = {"order": order.name, "total": f"{order.total:.2f}", "currency": order.currency,
              "threshold": options.approval_above, "invoice": draft.to_xero()}  # fmt: skip
    decision = ctx.require_approval(summary, detail)
    ctx.step(f"Approved by {decision.get('by')}" + (f": {decision['comment']}" if decision.get("comment") else ""))


def _find_or_create_contact(ctx: JobContext, xero: XeroClient, email: str) -> str:
    ctx.step(f"Looking up the Xero contact {email}")
    found = xero.find_contacts_by_email(email)
    if found:
        ctx.record("xero", "contact", found[0].contact_id, "READ")
        return found[0].contact_id
    contact = xero.create_contact(NewContact(name=email, email_address=email), idempotency_key=contact_key(email))
    ctx.record("xero", "contact", contact.contact_id, "CREATE")
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
        "currency": order.currency,
    }
