"""Bulk rerun and bulk cancel over a filter, and lookup by label, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from dashboard_seed import INVOICE_ID, Seeded, seed
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import bulk_actions
from app.actions import StaleConfirmation
from db import queries
from db.auth import Actor
from db.filters import JobFilter
from db.models import AuditEntry, PipelineJob

EDITOR = Actor(email="editor@example.com", role="EDITOR", user_id=2)


@pytest.fixture
def data(session: Session) -> Seeded:
    return seed(session)


def test_a_bulk_rerun_reruns_what_matches_checked_paced_and_audited_once(session: Session, data: Seeded) -> None:
    acme_invoices = JobFilter(tenant_ids=(data.acme,), job_types=("xero-invoice-paid",))
    plan = bulk_actions.plan_rerun(session, acme_invoices)
    # Finished jobs of any status: 30 seeded, plus a failed rerun and its completed child whose
    # stored params lack invoice_id: those two are left out and named, not queued to fail.
    assert plan.count == 32 and [r.job_id for r in plan.refused] == [data.rerun_child, data.rerun_child + 1]
    with pytest.raises(StaleConfirmation):
        bulk_actions.bulk_rerun(session, EDITOR, acme_invoices, confirmed_count=31)
    session.rollback()
    now = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    done = bulk_actions.bulk_rerun(session, EDITOR, acme_invoices, confirmed_count=32, now=now)
    assert len(done.ids) == 30
    assert done.last_start == now + dt.timedelta(seconds=29 * 60 / bulk_actions.JOBS_PER_MINUTE)
    new = list(session.scalars(select(PipelineJob).where(PipelineJob.id.in_(done.ids))))
    assert {(j.status, j.priority, j.created_by) for j in new} == {("QUEUED", -1, "editor@example.com")}
    assert all(j.parent_job_id is not None and j.params["invoice_id"] == INVOICE_ID for j in new)
    audits = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "job.bulk_rerun")))
    assert len(audits) == 1 and audits[0].details["filter"] == {
        "tenant_ids": [data.acme], "job_types": ["xero-invoice-paid"]}  # fmt: skip
    assert bulk_actions.plan_rerun(session, acme_invoices).count == 2  # only the refused ones are left


def test_a_bulk_cancel_cancels_queued_jobs_and_asks_running_ones_to_stop(session: Session, data: Seeded) -> None:
    assert bulk_actions.cancel_count(session, JobFilter(statuses=("QUEUED", "FAILED"))) == 1
    cancelled, stopping = bulk_actions.bulk_cancel(session, EDITOR, JobFilter(), confirmed_count=2)
    assert (cancelled, stopping) == (1, 1)
    session.expire_all()
    running = session.scalars(select(PipelineJob).where(PipelineJob.status == "RUNNING")).one()
    assert running.cancel_requested and running.error == "cancelled by editor@example.com"
    assert session.scalar(select(func.count()).select_from(PipelineJob).where(PipelineJob.status == "QUEUED")) == 0


def test_lookup_finds_each_job_once_by_number_or_id_with_what_it_did(session: Session, data: Seeded) -> None:
    by_number = queries.lookup_jobs(session, "inv-0042")
    by_id = queries.lookup_jobs(session, INVOICE_ID)
    assert [j["job_id"] for j in by_number] == [j["job_id"] for j in by_id]
    assert len(by_number) == 2 and by_number[1]["job_id"] == data.invoice_job
    assert by_number[1]["did"] == "read" and by_number[1]["record"] == "xero invoice INV-0042"
    assert queries.lookup_jobs(session, "#1042")[0]["tenant"] == "Bolt Bikes"
