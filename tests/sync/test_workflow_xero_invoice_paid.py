"""xero-invoice-paid against the live sandbox: contact upsert, deal link, skips and helpful errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_harness import Env, workflow_env

from sandbox.hubspot import store as hubspot_sandbox
from sandbox.xero import data as xero_data

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
JOB = "xero-invoice-paid"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    with workflow_env(db_url, tmp_path) as env:
        yield env


def invoice(number: str) -> dict[str, Any]:
    org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
    return next(i for i in org.invoices.values() if i["InvoiceNumber"] == number)


def pay(number: str) -> str:
    with xero_data.LOCK:
        org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
        found = invoice(number)
        xero_data.mark_paid(org, found, dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC))
        return str(found["InvoiceID"])


def hubspot_contact(email: str) -> dict[str, Any] | None:
    return next(
        (c for c in hubspot_sandbox.objects["contacts"].values() if c["properties"].get("email") == email), None
    )


def test_a_paid_invoice_creates_the_hubspot_contact_with_the_payment(env: Env) -> None:
    invoice_id = pay("INV-0042")  # Blue Ridge Outfitters, not yet in HubSpot
    job = env.run(JOB, {"invoice_id": invoice_id})
    assert job.status == "COMPLETED", job.error
    contact = hubspot_contact("noah.patel@blueridge.example")
    assert contact is not None
    props = contact["properties"]
    assert (props["last_payment_date"], props["amount_paid"], props["last_invoice_number"]) == (
        "2026-11-27", "1702.80", "INV-0042",
    )  # fmt: skip
    assert job.result is not None and job.result["contact"] == "created"
    records = env.records(job.id)
    assert ("xero", "invoice", invoice_id, "READ") in records
    assert ("hubspot", "contact", contact["id"], "CREATE") in records
    calls = [s for s in env.steps(job.id) if s.kind == "call"]
    assert {s.system for s in calls} == {"xero", "hubspot"}


def test_running_it_again_writes_nothing(env: Env) -> None:
    invoice_id = pay("INV-0042")
    env.run(JOB, {"invoice_id": invoice_id})
    before = env.writes("hubspot")
    again = env.run(JOB, {"invoice_id": invoice_id})
    assert again.status == "COMPLETED"
    assert again.result is not None and again.result["contact"] == "unchanged"
    assert env.writes("hubspot") == before


def test_an_existing_contact_is_updated_and_the_referenced_deal_closed(env: Env) -> None:
    deal_id = next(
        d["id"] for d in hubspot_sandbox.objects["deals"].values() if d["properties"]["dealname"] == "Blue Fern website"
    )
    with xero_data.LOCK:
        invoice("INV-0041")["Reference"] = f"DEAL-{deal_id}"
    invoice_id = pay("INV-0041")
    job = env.run(JOB, {"invoice_id": invoice_id})
    assert job.status == "COMPLETED", job.error
    assert hubspot_sandbox.objects["deals"][deal_id]["properties"]["dealstage"] == "closedwon"
    assert ("hubspot", "deal", deal_id, "UPDATE") in env.records(job.id)
    assert job.result is not None and job.result["deal"] == "moved to closed won"


def test_an_unpaid_invoice_is_skipped_with_its_status(env: Env) -> None:
    job = env.run(JOB, {"invoice_id": str(invoice("INV-0043")["InvoiceID"])})
    assert job.status == "COMPLETED"
    assert job.result == {"skipped": "status AUTHORISED", "invoice": "INV-0043"}


def test_a_deleted_invoice_fails_at_once_naming_it(env: Env) -> None:
    missing = "00000000-0000-0000-0000-000000000042"
    job = env.run(JOB, {"invoice_id": missing})
    assert job.status == "FAILED"
    assert job.attempts == 1
    assert missing in (job.error or "") and "invoice" in (job.error or "")


def test_an_expired_token_is_refreshed_and_the_call_retried(env: Env) -> None:
    invoice_id = pay("INV-0042")
    before = env.connection("xero").token_ciphertext
    refreshes = env.control("oauth/xero/expire")["refreshes"]
    job = env.run(JOB, {"invoice_id": invoice_id})
    assert job.status == "COMPLETED", job.error
    assert job.attempts == 1
    assert env.control("oauth/xero/settings")["refreshes"] == refreshes + 1
    assert env.connection("xero").token_ciphertext != before


def test_a_revoked_token_fails_the_job_with_the_reconnect_message(env: Env) -> None:
    invoice_id = pay("INV-0042")
    env.control("oauth/xero/revoke")
    job = env.run(JOB, {"invoice_id": invoice_id})
    assert job.status == "FAILED"
    assert job.attempts == 1
    assert "Reconnect Xero for Acme Outdoor Co" in (job.error or "")
    assert env.connection("xero").status == "revoked"


def test_a_429_storm_is_waited_out(env: Env) -> None:
    invoice_id = pay("INV-0042")
    env.control("faults", vendor="hubspot", mode="429", count=3)
    job = env.run(JOB, {"invoice_id": invoice_id})
    assert job.status == "COMPLETED", job.error
    assert job.attempts == 1
    assert sum(1 for s in env.steps(job.id) if s.status_code == 429) == 3
