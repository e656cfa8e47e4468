"""Pausing a client on SQLite and PostgreSQL: held jobs, the claim, paced release, schedules."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import jobs, schedules
from db.alerts.conditions import queue_backlogs
from db.alerts.freshness import freshness
from db.filters import JobFilter
from db.jobs import bulk, pauses
from db.models import AuditEntry, PipelineJob, Tenant

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def tenants(session: Session) -> tuple[int, int]:
    a, b = Tenant(name="Acme"), Tenant(name="Globex")
    session.add_all([a, b])
    session.commit()
    return a.id, b.id


def status(session: Session, job_id: int) -> str:
    session.expire_all()
    return str(session.scalar(select(PipelineJob.status).where(PipelineJob.id == job_id)))


def add(session: Session, tenant_id: int, job_type: str = "noop", **kw: object) -> int:
    return jobs.enqueue(session, tenant_id=tenant_id, job_type=job_type, now=T0, **kw).id  # type: ignore[arg-type]


def test_a_paused_client_keeps_taking_jobs_but_none_of_them_is_claimed(
    session: Session, tenants: tuple[int, int]
) -> None:
    acme, globex = tenants
    before = add(session, acme)
    session.commit()
    held = pauses.pause(session, tenant_id=acme, reason="migrating books", by="ed@zixly.test", now=T0)
    session.commit()
    assert held == 1 and status(session, before) == "PAUSED"
    during = add(session, acme, "xero-invoice-paid")
    other = add(session, globex)
    session.commit()
    assert status(session, during) == "PAUSED" and status(session, other) == "QUEUED"
    claimed = jobs.claim(session, "r1", limit=10, lease_s=30, now=T0 + dt.timedelta(seconds=1))
    session.commit()
    assert [c.id for c in claimed] == [other]
    [p] = pauses.active(session)
    assert (p.tenant_id, p.workflow, p.reason, p.paused_by, p.held) == (
        acme, "*", "migrating books", "ed@zixly.test", 2,
    )  # fmt: skip


def test_a_workflow_pause_holds_only_that_workflow(session: Session, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    pauses.pause(session, tenant_id=acme, workflow="xero-invoice-paid", reason="Xero org moving", by="ed", now=T0)
    invoice = add(session, acme, "xero-invoice-paid")
    order = add(session, acme, "shopify-order-to-xero")
    session.commit()
    assert (status(session, invoice), status(session, order)) == ("PAUSED", "QUEUED")
    assert pauses.holding(session, acme, "xero-invoice-paid") is not None
    assert pauses.holding(session, acme, "shopify-order-to-xero") is None


def test_resume_releases_the_held_jobs_in_order_paced(session: Session, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    ids = [add(session, acme) for _ in range(5)]
    session.commit()
    later = T0 + dt.timedelta(hours=1)
    released = pauses.resume(session, tenant_id=acme, per_minute=30, now=later)
    session.commit()
    assert released == 5
    session.expire_all()
    rows = session.execute(
        select(PipelineJob.id, PipelineJob.status, PipelineJob.run_at).where(PipelineJob.id.in_(ids))
    ).all()
    assert {r.status for r in rows} == {"QUEUED"}
    # 30 a minute: one every two seconds, first at once, in the order they came.
    assert [r.run_at for r in sorted(rows)] == [later + dt.timedelta(seconds=2 * n) for n in range(5)]
    first = jobs.claim(session, "r1", limit=10, lease_s=30, now=later + dt.timedelta(seconds=3))
    session.commit()
    assert [c.id for c in first] == ids[:2]
    assert pauses.resume(session, tenant_id=acme, per_minute=30, now=later) is None  # already resumed


def test_a_job_requeued_while_paused_is_not_claimed_and_is_then_shown_paused(
    session: Session, tenants: tuple[int, int]
) -> None:
    acme, _ = tenants
    running = add(session, acme)
    session.commit()
    [claimed] = jobs.claim(session, "r1", limit=1, lease_s=30, now=T0)
    assert jobs.start(session, "r1", claimed)
    session.commit()
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    session.commit()
    assert status(session, running) == "RUNNING"  # a running job finishes
    jobs.fail(
        session, claimed.id, runner_id="r1", attempt=1, error="429", permanent=False, now=T0, jitter=lambda _d: 0.0
    )
    session.commit()
    assert status(session, running) == "QUEUED"
    assert jobs.claim(session, "r1", limit=5, lease_s=30, now=T0 + dt.timedelta(hours=1)) == []
    session.commit()
    assert pauses.hold_stragglers(session) == 1
    session.commit()
    assert status(session, running) == "PAUSED"


def test_an_end_time_resumes_by_the_runner_tick_and_is_audited(session: Session, tenants: tuple[int, int]) -> None:
    acme, globex = tenants
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", until=T0 + dt.timedelta(minutes=30), now=T0)
    pauses.pause(session, tenant_id=globex, reason="r", by="ed", now=T0)
    a, g = add(session, acme), add(session, globex)
    session.commit()
    assert pauses.resume_due(session, per_minute=60, now=T0 + dt.timedelta(minutes=29)) == []
    resumed = pauses.resume_due(session, per_minute=60, now=T0 + dt.timedelta(minutes=30))
    session.commit()
    assert resumed == [(acme, "*", 1)]
    assert (status(session, a), status(session, g)) == ("QUEUED", "PAUSED")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "client.resume")).one()
    assert (entry.actor, entry.target) == ("runner", f"tenant:{acme}")


def test_resuming_the_client_keeps_a_paused_workflow_held(session: Session, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    pauses.pause(session, tenant_id=acme, reason="all", by="ed", now=T0)
    pauses.pause(session, tenant_id=acme, workflow="xero-invoice-paid", reason="one", by="ed", now=T0)
    invoice, order = add(session, acme, "xero-invoice-paid"), add(session, acme, "shopify-order-to-xero")
    session.commit()
    assert pauses.resume(session, tenant_id=acme, per_minute=60, now=T0) == 1
    session.commit()
    assert (status(session, invoice), status(session, order)) == ("PAUSED", "QUEUED")


def test_a_paused_clients_schedule_does_not_fire_and_fires_once_on_resume(
    session: Session, tenants: tuple[int, int]
) -> None:
    acme, _ = tenants
    sid = schedules.create_schedule(session, tenant_id=acme, job_type="noop", cron="* * * * *", now=T0)
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    session.commit()
    for minute in range(1, 6):  # five missed fire times
        assert schedules.fire_due(session, now=T0 + dt.timedelta(minutes=minute, seconds=1)) == []
        session.commit()
    pauses.resume(session, tenant_id=acme, per_minute=60, now=T0 + dt.timedelta(minutes=6))
    session.commit()
    fired = schedules.fire_due(session, now=T0 + dt.timedelta(minutes=6, seconds=1))
    session.commit()
    assert [s for s, _ in fired] == [sid]
    assert schedules.fire_due(session, now=T0 + dt.timedelta(minutes=6, seconds=2)) == []
    assert session.query(PipelineJob).filter(PipelineJob.created_by == f"schedule:{sid}").count() == 1


def test_held_jobs_can_be_cancelled_one_by_one_or_in_bulk(session: Session, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    one, two = add(session, acme), add(session, acme)
    session.commit()
    assert jobs.cancel(session, one, by="ed") == "CANCELLED"
    found = bulk.cancel_candidates(session, JobFilter(statuses=("PAUSED",)), limit=10)
    assert found == [two]
    assert bulk.cancel_many(session, found, by="ed") == ([two], [])
    session.commit()
    assert status(session, two) == "CANCELLED"


def test_a_rerun_of_a_paused_clients_job_is_held(session: Session, tenants: tuple[int, int]) -> None:
    acme, _ = tenants
    done = add(session, acme)
    session.commit()
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    child = jobs.rerun(session, done, created_by="ed")
    session.commit()
    assert status(session, child) == "PAUSED"


def test_held_jobs_are_not_a_queue_backlog_and_are_counted_as_paused(
    session: Session, tenants: tuple[int, int]
) -> None:
    acme, _ = tenants
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    for _ in range(3):
        add(session, acme)
    session.commit()
    assert queue_backlogs(session, threshold=2) == []  # nobody is paged about a client paused on purpose
    assert jobs.oldest_queued_age_s(session, now=T0 + dt.timedelta(hours=1)) == 0.0
    assert jobs.job_counts(session)["PAUSED"] == 3  # the runner's pipeline_jobs{status="paused"} gauge


def test_a_paused_clients_syncs_are_not_stale(session: Session, tenants: tuple[int, int]) -> None:
    acme, globex = tenants
    for tenant in tenants:
        schedules.create_schedule(session, tenant_id=tenant, job_type="noop", cron="*/15 * * * *", now=T0)
    pauses.pause(session, tenant_id=acme, reason="r", by="ed", now=T0)
    session.commit()
    stale = [f.tenant_id for f in freshness(session, now=T0 + dt.timedelta(hours=3)) if f.stale_since]
    assert stale == [globex]  # no sync_stale alert and no "stale since" on the board for the paused one
