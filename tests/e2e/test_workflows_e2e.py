"""The business workflows end to end: sandbox → signed webhook → listener (gunicorn) → PostgreSQL
job → runner process → vendor calls, with the vendors' own state checked afterwards."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from e2e_stack import SHOP, Stack, wait_for

from db import cursors, jobs
from integrations.xero.webhooks import DEV_WEBHOOK_KEY, signature
from sync.workflows.shopify_order_to_xero import idempotency_key

pytestmark = pytest.mark.e2e


def pay_invoice(stack: Stack, number: str) -> dict[str, object]:
    answer: dict[str, object] = stack.control(f"xero/invoices/{number}/pay")
    return answer


def test_a_signed_xero_webhook_updates_the_hubspot_contact_once(stack: Stack, tenant: int) -> None:
    delivery = pay_invoice(stack, "INV-0042")
    assert delivery["delivered"], delivery
    invoice_id = str(delivery["event"]["resourceId"])  # type: ignore[index]
    job = stack.wait_job("xero-invoice-paid", invoice_id=invoice_id)
    assert job.status == "COMPLETED", job.error
    assert job.tenant_id == tenant
    contact = stack.hubspot_contact("noah.patel@blueridge.example", "last_invoice_number", "amount_paid")
    assert contact is not None
    assert contact["properties"]["last_invoice_number"] == "INV-0042"
    assert contact["properties"]["amount_paid"] == "1702.80"
    kinds = {s.kind for s in stack.steps(job.id)}
    assert {"info", "call"} <= kinds
    assert ("hubspot", "contact", contact["id"], "CREATE") in stack.records(job.id)
    writes = stack.writes("hubspot")[f"contacts:{contact['id']}"]

    # The same delivery again (a vendor retry): accepted, but no second job, no second update.
    event = delivery["event"]
    body = json.dumps({"events": [event], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "E2E"}).encode()
    headers = {"Content-Type": "application/json", "x-xero-signature": signature(DEV_WEBHOOK_KEY, body)}
    again = httpx.post(f"{stack.listener}/webhook/xero", content=body, headers=headers, trust_env=False)
    assert again.status_code < 300
    # And a second payment notice for the same invoice: a new job that finds nothing to change.
    pay_invoice(stack, "INV-0042")
    wait_for(lambda: len(stack.jobs("xero-invoice-paid", invoice_id=invoice_id)) == 2, 10, "the second job")
    second = stack.jobs("xero-invoice-paid", invoice_id=invoice_id)[1]
    second = wait_for(lambda: (j := stack.job(second.id)).status == "COMPLETED" and j, 20, "the second job")
    assert second.result["contact"] == "unchanged"
    assert stack.writes("hubspot")[f"contacts:{contact['id']}"] == writes


def test_a_shopify_order_gives_one_invoice_even_when_the_runner_is_killed_mid_job(stack: Stack, tenant: int) -> None:
    order = 5100001004  # Erin, AUD, not yet a Xero contact
    key = idempotency_key(SHOP, order)
    # Xero will allow exactly the calls up to the invoice's creation; the read-back after it
    # gets a 429 with a long Retry-After, and the job waits: that is when the runner dies.
    stack.control("limits", vendor="xero", budget="minute", limit=4, window_s=60)
    stack.sandbox_post(f"/shopify/_sandbox/orders/{order}/pay", shop=SHOP)
    first = wait_for(lambda: stack.jobs("shopify-order-to-xero", order_id=str(order)), 10, "the order's job")[0]
    wait_for(lambda: stack.writes("xero").get(key) == 1, 20, "the invoice to be created")
    wait_for(lambda: any(s.status_code == 429 for s in stack.steps(first.id)), 10, "the job to wait out a 429")
    assert stack.job(first.id).status == "RUNNING"
    stack.kill_runner()

    stack.control("limits", vendor="xero", budget="minute", limit=60, window_s=60)
    stack.start_runner()
    done = stack.wait_job("shopify-order-to-xero", timeout=30, order_id=str(order))
    assert done.status == "COMPLETED", done.error
    assert done.attempts == 2
    assert done.result is not None and done.result["created"] is False
    assert stack.writes("xero")[key] == 1
    invoices = httpx.get(f"{stack.base}/_sandbox/writes", trust_env=False).json()["xero"]
    assert sum(1 for k in invoices if k.startswith("zixly:shopify:")) == 1


def test_a_429_storm_is_waited_out(stack: Stack, tenant: int) -> None:
    stack.control("faults", vendor="hubspot", mode="429", count=3)
    delivery = pay_invoice(stack, "INV-0043")
    job = stack.wait_job("xero-invoice-paid", timeout=30, invoice_id=str(delivery["event"]["resourceId"]))  # type: ignore[index]
    assert job.status == "COMPLETED", job.error
    assert job.attempts == 1
    assert sum(1 for s in stack.steps(job.id) if s.status_code == 429) == 3


def test_an_expired_token_is_refreshed_and_the_job_succeeds(stack: Stack, tenant: int) -> None:
    refreshes = stack.control("oauth/hubspot/expire")["refreshes"]
    delivery = pay_invoice(stack, "INV-0040")
    job = stack.wait_job("xero-invoice-paid", invoice_id=str(delivery["event"]["resourceId"]))  # type: ignore[index]
    assert job.status == "COMPLETED", job.error
    assert job.attempts == 1
    assert stack.control("oauth/hubspot/settings")["refreshes"] == refreshes + 1


def test_a_revoked_token_fails_the_job_with_the_reconnect_message(stack: Stack, tenant: int) -> None:
    stack.control("oauth/xero/revoke")
    try:
        delivery = pay_invoice(stack, "INV-0045")
        job = stack.wait_job("xero-invoice-paid", invoice_id=str(delivery["event"]["resourceId"]))  # type: ignore[index]
        assert job.status == "FAILED"
        assert job.attempts == 1
        assert "Reconnect Xero for Acme Outdoor Co" in (job.error or "")
        assert stack.connection(tenant, "xero").status == "revoked"
    finally:
        stack.connect(tenant, "xero")


def test_the_contacts_sync_moves_its_cursor_and_picks_up_only_changes(stack: Stack, tenant: int) -> None:
    def run_sync() -> int:
        with stack.factory() as session, session.begin():
            return jobs.enqueue(session, tenant_id=tenant, job_type="xero-contacts-to-hubspot", created_by="e2e").id

    def finished(job_id: int) -> object:
        job = stack.job(job_id)
        return job if job.status in ("COMPLETED", "FAILED") else None

    def cursor() -> str | None:
        with stack.factory() as session:
            return cursors.get(session, tenant, "xero", "contacts")

    first_id = run_sync()
    first = wait_for(lambda: finished(first_id), 30, "the backfill")
    assert first.status == "COMPLETED", first.error  # type: ignore[attr-defined]
    after_backfill = cursor()
    assert after_backfill is not None
    assert stack.hubspot_contact("treasurer@coastalsurf.example") is not None

    # A new contact in Xero (created through Xero's API, as the client's bookkeeper would).
    time.sleep(1.1)  # If-Modified-Since has one-second resolution
    _create_xero_contact(stack, tenant, "Riverbend Rafting", "hi@riverbend.example")
    second_id = run_sync()
    second = wait_for(lambda: finished(second_id), 30, "the incremental run")
    assert second.status == "COMPLETED", second.error  # type: ignore[attr-defined]
    assert second.result["created"] == 1 and second.result["updated"] == 0  # type: ignore[attr-defined]
    assert stack.hubspot_contact("hi@riverbend.example") is not None
    assert (cursor() or "") > after_backfill


def _create_xero_contact(stack: Stack, tenant: int, name: str, email: str) -> None:
    from integrations.connection_auth import ConnectionAuth
    from integrations.vendor import make_client
    from integrations.xero import XERO
    from integrations.xero.models import NewContact

    connection = stack.connection(tenant, "xero")
    auth = ConnectionAuth(stack.factory, stack.settings, connection.id)
    with make_client(XERO, stack.settings, auth, connection.external_org_id) as xero:
        xero.create_contact(NewContact(name=name, email_address=email), idempotency_key=f"e2e-{email}")
