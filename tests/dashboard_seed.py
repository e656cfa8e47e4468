"""A small, exactly known data set for the dashboard's query, export and page tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.auth import create_user
from db.models import (
    Connection,
    JobStep,
    PipelineJob,
    RelatedRecord,
    Runner,
    Schedule,
    SyncCursor,
    Tenant,
    WebhookDelivery,
    WorkflowSetting,
)

PASSWORD = "correct horse battery"
INVOICE_ID = "0b6f3a57-5f1e-5d8c-9c1b-4d7e2a9f0042"  # Xero's InvoiceID of INV-0042 in this data set
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Seeded:
    acme: int
    bolt: int
    failed_ids: list[int]
    rerun_of_failed: int
    rerun_child: int
    invoice_job: int
    delivery_id: int
    schedule_id: int


def _job(tenant_id: int, job_type: str, status: str, minutes_ago: float, **kw: object) -> PipelineJob:
    created = NOW - dt.timedelta(minutes=minutes_ago)
    started = created + dt.timedelta(seconds=1)
    done = status in ("COMPLETED", "FAILED")
    return PipelineJob(
        tenant_id=tenant_id,
        job_type=job_type,
        status=status,
        params=kw.pop("params", {"n": minutes_ago}),
        created_at=created,
        run_at=created,
        started_at=started if done or status == "RUNNING" else None,
        completed_at=started + dt.timedelta(seconds=float(kw.pop("seconds", 2.0))) if done else None,  # type: ignore[arg-type]
        attempts=1 if status != "QUEUED" else 0,
        **kw,
    )


def seed(session: Session) -> Seeded:
    """Two tenants, ~40 jobs over the last day, users of every role and one of everything else."""
    global NOW
    NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # fresh per seed: long test sessions stay exact
    for email, role in (
        ("admin@example.com", "ADMIN"),
        ("editor@example.com", "EDITOR"),
        ("viewer@example.com", "VIEWER"),
    ):
        create_user(session, email, role, PASSWORD)
    acme = Tenant(name="Acme Outdoor", timezone="Australia/Sydney")
    bolt = Tenant(name="Bolt Bikes", timezone="UTC")
    session.add_all([acme, bolt])
    session.flush()
    session.add_all(
        [
            Connection(
                tenant_id=acme.id,
                system="xero",
                external_org_id="xero-org-1",
                org_name="Acme Xero",
                status="connected",
                scopes="accounting.transactions",
                expires_at=NOW + dt.timedelta(minutes=30),
            ),
            Connection(
                tenant_id=acme.id,
                system="hubspot",
                external_org_id="62515",
                org_name="Acme portal",
                status="connected",
                created_at=NOW - dt.timedelta(days=3),
            ),
            Connection(tenant_id=acme.id, system="shopify", external_org_id="acme.myshopify.com", status="connected"),
            Connection(
                tenant_id=bolt.id,
                system="xero",
                external_org_id="xero-org-2",
                status="expired",
                last_error="invalid_grant",
            ),
        ]
    )
    jobs: list[PipelineJob] = []
    for i in range(30):
        status = "FAILED" if i % 10 == 0 else "COMPLETED"
        jobs.append(
            _job(
                acme.id,
                "xero-invoice-paid",
                status,
                60 + i * 30,
                seconds=1 + i % 5,
                error="HubSpot answered 429" if status == "FAILED" else None,
                params={"invoice_id": INVOICE_ID, "n": 60 + i * 30},
            )
        )
    for i in range(5):
        jobs.append(
            _job(
                bolt.id,
                "shopify-order-to-xero",
                "FAILED" if i < 2 else "COMPLETED",
                90 + i * 40,
                error="=cmd|' /C calc'!A0" if i == 0 else ("Xero validation error" if i == 1 else None),
                params={"order_id": "5100001042", "order_name": "#1042"},
            )
        )
    jobs.append(_job(acme.id, "xero-invoice-paid", "QUEUED", 5))
    jobs.append(_job(acme.id, "xero-invoice-paid", "RUNNING", 2))
    jobs.append(_job(acme.id, "hubspot-deal-won-to-asana", "CANCELLED", 3000))  # two days ago
    session.add_all(jobs)
    session.flush()
    failed = [j for j in jobs if j.status == "FAILED"]
    parent = failed[0]
    rerun = _job(acme.id, parent.job_type, "FAILED", 30, parent_job_id=parent.id, created_by="editor@example.com")
    session.add(rerun)
    session.flush()
    child = _job(acme.id, parent.job_type, "COMPLETED", 10, parent_job_id=rerun.id, created_by="editor@example.com")
    session.add(child)
    invoice_job = jobs[1]
    invoice_job.params = {"invoice_id": INVOICE_ID}  # valid params: a rerun passes the catalogue's check
    session.flush()
    session.add_all(
        [
            JobStep(
                job_id=invoice_job.id,
                kind="call",
                message="GET invoice",
                system="xero",
                method="GET",
                path="/api.xro/2.0/Invoices/abc",
                status_code=200,
                latency_ms=123.0,
                at=NOW,
            ),
            JobStep(job_id=invoice_job.id, kind="info", message="contact updated", at=NOW),
            RelatedRecord(
                job_id=invoice_job.id,
                tenant_id=acme.id,
                system="xero",
                record_type="invoice",
                record_id=INVOICE_ID,
                record_label="INV-0042",
                action="READ",
                at=NOW - dt.timedelta(minutes=5),
            ),
            RelatedRecord(
                job_id=invoice_job.id,
                tenant_id=acme.id,
                system="hubspot",
                record_type="contact",
                record_id="901",
                action="UPDATE",
                at=NOW - dt.timedelta(minutes=5),
            ),
            RelatedRecord(
                job_id=child.id,
                tenant_id=acme.id,
                system="xero",
                record_type="invoice",
                record_id=INVOICE_ID,
                record_label="INV-0042",
                action="READ",
                at=NOW - dt.timedelta(minutes=1),
            ),
            RelatedRecord(
                job_id=jobs[31].id,
                tenant_id=bolt.id,
                system="shopify",
                record_type="order",
                record_id="#1042",
                action="READ",
                at=NOW - dt.timedelta(minutes=50),
            ),
        ]
    )
    delivery = WebhookDelivery(
        source="xero",
        delivery_id="evt-1",
        tenant_id=acme.id,
        event_type="invoice.updated",
        headers={},
        body=b'{"events": []}',
        signature_ok=True,
        outcome="accepted",
        job_ids=[invoice_job.id],
        received_at=NOW - dt.timedelta(hours=30),
    )
    session.add(delivery)
    session.add(
        WebhookDelivery(
            source="hubspot",
            delivery_id="evt-2",
            tenant_id=None,
            headers={},
            body=b"[]",
            signature_ok=False,
            outcome="rejected",
            job_ids=[],
        )
    )
    schedule = Schedule(
        tenant_id=acme.id,
        job_type="xero-contacts-to-hubspot",
        cron="0 * * * *",
        timezone="Australia/Sydney",
        params={},
        enabled=True,
        last_job_id=invoice_job.id,
    )
    session.add(schedule)
    session.add(WorkflowSetting(tenant_id=acme.id, workflow="xero-invoice-paid", enabled=True, options={}))
    session.add(
        SyncCursor(
            tenant_id=acme.id, system="xero", resource="contacts", value="x", updated_at=NOW - dt.timedelta(hours=2)
        )
    )
    session.add(Runner(id="r1", host="h", pid=1, slots=4, busy=1, heartbeat_at=NOW))
    session.add(Runner(id="r0", host="h", pid=2, slots=4, busy=0, heartbeat_at=NOW - dt.timedelta(hours=1)))
    session.commit()
    return Seeded(
        acme=acme.id,
        bolt=bolt.id,
        failed_ids=[j.id for j in failed] + [rerun.id],
        rerun_of_failed=parent.id,
        rerun_child=rerun.id,
        invoice_job=invoice_job.id,
        delivery_id=delivery.id,
        schedule_id=schedule.id,
    )
