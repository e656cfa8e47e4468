"""The listener with debounce and pauses: signed deliveries about one record, a paused client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from listener_helpers import XERO_KEY, XERO_ORG, b64_hmac
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.auth import create_api_token, create_user
from db.jobs import pauses
from db.models import JobStep, PipelineJob, WebhookDelivery, WorkflowSetting


def _event(resource: str, when: str) -> dict[str, str]:
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource}", "resourceId": resource,
        "eventDateUtc": when, "eventType": "UPDATE", "eventCategory": "INVOICE", "tenantId": XERO_ORG,
        "tenantType": "ORGANISATION",
    }  # fmt: skip


def _xero(client: FlaskClient, resource: str, when: str) -> Any:
    envelope = {"events": [_event(resource, when)], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "x"}
    body = json.dumps(envelope).encode()
    response = client.post(
        "/webhook/xero",
        data=body,
        headers={"Content-Type": "application/json", "x-xero-signature": b64_hmac(XERO_KEY, body)},
    )
    assert response.status_code == 200
    return [int(i) for i in response.headers["Zixly-Job-Ids"].split(",")]


def test_updates_to_one_invoice_within_the_window_make_one_job_that_lists_the_others(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    first = _xero(client, "inv-1", "2026-11-26T10:00:00.000")
    second = _xero(client, "inv-1", "2026-11-26T10:00:01.000")
    third = _xero(client, "inv-1", "2026-11-26T10:00:02.000")
    other = _xero(client, "inv-2", "2026-11-26T10:00:02.000")
    assert first == second == third != other
    job = session.get(PipelineJob, first[0])
    assert job is not None and job.params["event"]["occurred_at"].startswith("2026-11-26T10:00:02")
    assert (job.run_at - job.created_at).total_seconds() == 3.0  # the default window
    steps = session.scalars(select(JobStep.message).where(JobStep.job_id == job.id)).all()
    assert len(steps) == 2 and all(m.startswith("Debounced: xero invoice.update") for m in steps)


def test_a_zero_window_turns_debounce_off_for_that_workflow(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    session.add(WorkflowSetting(tenant_id=tenants["acme"], workflow="xero-invoice-paid", options={"debounce_s": 0}))
    session.commit()
    first = _xero(client, "inv-1", "2026-11-26T10:00:00.000")
    second = _xero(client, "inv-1", "2026-11-26T10:00:01.000")
    assert first != second


def test_a_paused_clients_deliveries_are_stored_and_their_jobs_held(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    pauses.pause(session, tenant_id=tenants["acme"], reason="migrating", by="ed@zixly.test")
    session.commit()
    [job_id] = _xero(client, "inv-9", "2026-11-26T10:00:00.000")
    session.expire_all()
    job = session.get(PipelineJob, job_id)
    assert job is not None and job.status == "PAUSED"
    delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.outcome == "accepted")).one()
    assert delivery.job_ids == [job_id] and delivery.signature_ok


def test_the_job_api_holds_a_paused_clients_jobs(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    user = create_user(session, "api@zixly.test", "EDITOR", "pw-long-enough-1")
    token = create_api_token(session, user)
    session.commit()
    pauses.pause(session, tenant_id=tenants["acme"], workflow="noop", reason="one workflow", by="ed@zixly.test")
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post("/webhook/jobs", json={"job_type": "noop", "tenant": "acme", "params": {}}, headers=auth)
    assert response.status_code == 202
    [job_id] = response.get_json()["job_ids"]
    status = client.get(f"/webhook/jobs/{job_id}", headers=auth)
    conforms(status)
    assert status.get_json()["status"] == "PAUSED"


def test_one_delivery_with_two_events_about_one_invoice_names_one_job_and_counts_the_joined_event(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    def joined() -> float:
        return REGISTRY.get_sample_value("pipeline_events_debounced_total", {"job_type": "xero-invoice-paid"}) or 0.0

    before = joined()
    events = [_event("inv-5", when) for when in ("2026-11-26T10:00:00.000", "2026-11-26T10:00:00.500")]
    body = json.dumps({"events": events, "firstEventSequence": 1, "lastEventSequence": 2, "entropy": "x"}).encode()
    headers = {"Content-Type": "application/json", "x-xero-signature": b64_hmac(XERO_KEY, body)}
    response = client.post("/webhook/xero", data=body, headers=headers)
    assert response.status_code == 200
    [job_id] = [int(i) for i in response.headers["Zixly-Job-Ids"].split(",")]
    assert session.scalars(select(PipelineJob.id)).all() == [job_id]
    assert joined() == before + 1


def test_each_joined_delivery_is_named_by_its_own_event_time_in_the_step_log(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    # A real InvoiceID: organisation and invoice ids alone fill 80 characters of Xero's dedup key,
    # so a label cut at its start named every delivery about the invoice alike.
    invoice = "df24f324-e035-478d-aa49-162a07abdb58"
    times = ("2026-11-26T10:00:00.000", "2026-11-26T10:00:01.250", "2026-11-26T10:00:02.500")
    [job_id] = {_xero(client, invoice, when)[0] for when in times}
    steps = session.scalars(select(JobStep.message).where(JobStep.job_id == job_id).order_by(JobStep.id)).all()
    named = [m.split(" joined this job")[0] for m in steps]
    assert len(named) == 2 and named[0] != named[1]
    for message, when in zip(named, times[1:], strict=True):
        assert message.startswith("Debounced: xero invoice.update (delivery xero:c2cc9b6e")
        assert message.endswith(f":UPDATE:{when})")
