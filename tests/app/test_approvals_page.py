"""The "Awaiting approval" page and a waiting job's page: what would be written, and the buttons
that approve or reject it (EDITOR or above, audited). AppTest on seeded SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from dashboard_seed import Seeded
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from db import jobs
from db.models import AuditEntry, PipelineJob


def waiting_for_approval(s: Session, tenant_id: int) -> int:
    """A job parked WAITING on an open approval, as the runner leaves it."""
    job_id = jobs.enqueue(s, tenant_id=tenant_id, job_type="shopify-order-to-xero", params={"order_id": "7"}).id
    now = dt.datetime.now(dt.UTC)
    s.execute(PipelineJob.__table__.update().where(PipelineJob.id == job_id).values(status="WAITING"))
    jobs.waits.open_wait(
        s, job_id=job_id, tenant_id=tenant_id, seq=1, reason="approval", deadline=now + dt.timedelta(days=7),
        detail={"summary": "Xero invoice for Shopify order #1007: 12500.00 NZD to big@buyer.example",
                "invoice": {"LineItems": [{"Description": "Pallet of merino", "UnitAmount": 12500.0}]}},
    )  # fmt: skip
    s.commit()
    return job_id


def test_the_list_shows_what_would_be_written_and_an_editor_approves(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    tenant_id = db_session.scalar(select(PipelineJob.tenant_id).limit(1))
    assert tenant_id is not None
    job_id = waiting_for_approval(db_session, tenant_id)

    viewer = app("VIEWER", "pages/approvals.py")
    assert not viewer.exception, viewer.exception
    assert any("#1007: 12500.00 NZD" in m.value for m in viewer.markdown)
    assert all(b.disabled for b in viewer.button if b.label in ("Approve", "Reject"))

    editor = app("EDITOR", "pages/approvals.py")
    editor.text_input(key=f"list_approval_comment_{job_id}").input("ok, prepaid").run()
    editor.button(key=f"list_approve_{job_id}").click().run()
    assert not editor.exception, editor.exception
    db_session.expire_all()
    assert db_session.get(PipelineJob, job_id).status == "QUEUED"  # type: ignore[union-attr]
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.target == f"job:{job_id}"))
    assert entry is not None
    assert (entry.actor, entry.action, entry.allowed) == ("editor@example.com", "job.approve", True)
    assert any("No job is waiting" in i.value for i in app("VIEWER", "pages/approvals.py").info)


def test_the_job_page_of_a_waiting_job_offers_the_decision(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    tenant_id = db_session.scalar(select(PipelineJob.tenant_id).limit(1))
    assert tenant_id is not None
    job_id = waiting_for_approval(db_session, tenant_id)
    at = app("EDITOR", "pages/jobs.py", query={"job": str(job_id)})
    assert not at.exception, at.exception
    assert any("Awaiting approval" in w.value for w in at.warning)
    at.button(key=f"job_reject_{job_id}").click().run()  # no comment: refused, nothing changes
    assert any("comment is required" in e.value for e in at.error)
    db_session.expire_all()
    assert db_session.get(PipelineJob, job_id).status == "WAITING"  # type: ignore[union-attr]
