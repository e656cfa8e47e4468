"""The dashboard's hourly rollups (db/rollups.py) give the same figures as counting the jobs table.

A seeded history of a few days (every status, reruns, durations from 40 ms to minutes), then the
figures compared three ways: from the jobs directly (before any tick: every hour is marked),
from the rollups (after the tick), and with a reference computed here in Python — also after
jobs finish late and out of order (an old job finishing now, a backdated import, a rerun of an
old failure, a prune) and, on PostgreSQL, after a finish that commits behind a tick.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from db import queries, rollups
from db.models import Connection, JobHourCount, JobHourDuration, JobRollupDirty, PipelineJob, Tenant
from db.queries._sql import quantile

NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=7)
TYPES = ("xero-invoice-paid", "shopify-order-to-xero", "hubspot-deal-won-to-asana")
STATUSES = ("COMPLETED",) * 7 + ("FAILED", "FAILED", "CANCELLED", "QUEUED", "RUNNING", "WAITING", "PAUSED")


def _seed(session: Session) -> list[int]:
    rnd = random.Random(20)
    tenants = [Tenant(name=f"Rollup {i}", timezone="UTC") for i in range(3)]
    session.add_all(tenants)
    session.flush()
    session.add_all(
        Connection(tenant_id=t.id, system=system, external_org_id=f"{system}-{t.id}")
        for t in tenants
        for system in ("xero", "hubspot", "shopify")
    )
    for i in range(600):
        created = NOW - dt.timedelta(minutes=rnd.randrange(0, 4 * 24 * 60))
        status = STATUSES[i % len(STATUSES)]
        started = created + dt.timedelta(seconds=rnd.random()) if status != "QUEUED" else None
        done = status in rollups.TERMINAL
        took = dt.timedelta(milliseconds=rnd.choice((40, 999, 1000, 1234, 5000, 61_000, 180_500)))
        session.add(
            PipelineJob(
                tenant_id=tenants[i % 3].id, job_type=TYPES[i % 5 % 3], status=status, params={}, created_at=created,
                run_at=created, started_at=started if status != "CANCELLED" or i % 2 else None,
                completed_at=(started or created) + took if done else None,
            )
        )  # fmt: skip
    session.flush()
    failed = session.scalars(select(PipelineJob.id).where(PipelineJob.status == "FAILED").order_by(PipelineJob.id))
    first = list(failed)[:5]
    for parent in first:  # five failures were rerun
        p = session.get(PipelineJob, parent)
        assert p is not None
        session.add(PipelineJob(tenant_id=p.tenant_id, job_type=p.job_type, status="QUEUED", params={},
                                parent_job_id=parent, created_at=NOW - dt.timedelta(minutes=3)))  # fmt: skip
    session.commit()
    return [t.id for t in tenants]


def _reference(session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> Any:
    """The figures straight from the rows, in Python."""
    jobs = [
        j
        for j in session.scalars(select(PipelineJob))
        if since <= j.created_at < until and (not tenant_ids or j.tenant_id in tenant_ids)
    ]
    children = {j.parent_job_id for j in session.scalars(select(PipelineJob)) if j.parent_job_id}
    status = {s: sum(j.status == s for j in jobs) for s in {j.status for j in jobs}}
    attention = sum(j.status == "FAILED" and j.id not in children for j in jobs)
    per_tenant = {(j.tenant_id, j.status) for j in jobs}
    volume = {(t, s): sum(j.tenant_id == t and j.status == s for j in jobs) for t, s in per_tenant}
    durations: dict[str, list[float]] = {}
    for j in jobs:
        if j.status == "COMPLETED" and j.started_at and j.completed_at:
            durations.setdefault(j.job_type, []).append((j.completed_at - j.started_at).total_seconds())
    return status, attention, volume, {t: sorted(v) for t, v in durations.items()}


def _figures(session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> Any:
    session.rollback()  # a fresh snapshot: the tick committed on another connection
    k = queries.kpis(session, tenant_ids, since, until)
    names = dict(session.execute(select(Tenant.name, Tenant.id)).all())
    return (
        (k.jobs, k.completed, k.failed, k.needs_attention, k.p95_s),
        [(r["bucket"], r["status"], r["jobs"]) for r in queries.jobs_over_time(session, tenant_ids, since, until)],
        {(names[r["tenant"]], r["status"]): r["jobs"]
         for r in queries.volume_by_tenant(session, tenant_ids, since, until)},
        {r["job_type"]: (r["jobs"], r["p50"], r["p95"], r["p99"])
         for r in queries.duration_percentiles(session, tenant_ids, since, until)},
        [(r["tenant"], r["system"], r["last_success"], r["consecutive_failures"])
         for r in queries.health_board(session)],
    )  # fmt: skip


WINDOWS = [
    ((), dt.timedelta(hours=24)),
    ((), dt.timedelta(days=7)),
    ((), dt.timedelta(minutes=50)),
    ("first", dt.timedelta(hours=24)),
    ("two", dt.timedelta(days=3)),
]


def _check(session: Session, tenants: list[int]) -> list[Any]:
    """Every window's figures equal the reference; returns them for comparing runs."""
    out = []
    for pick, span in WINDOWS:
        tenant_ids = () if pick == () else (tenants[0],) if pick == "first" else (tenants[0], tenants[2])
        until = NOW + dt.timedelta(minutes=2, seconds=17)  # windows that do not start on the hour
        since = until - span
        figures = _figures(session, tenant_ids, since, until)
        status, attention, volume, durations = _reference(session, tenant_ids, since, until)
        (jobs, completed, failed, needs, p95), over_time, by_tenant, pct, _ = figures
        assert (jobs, completed, failed, needs) == (
            sum(status.values()), status.get("COMPLETED", 0), status.get("FAILED", 0), attention
        )  # fmt: skip
        assert sum(n for _, _, n in over_time) == sum(status.values())
        assert by_tenant == volume
        everything = sorted(d for v in durations.values() for d in v)
        exact = quantile(everything, 0.95)
        assert (p95 is None) == (exact is None)
        if exact is not None:
            assert p95 == pytest.approx(exact, rel=0.05, abs=0.001)  # two significant digits
        assert {t: v[0] for t, v in pct.items()} == {t: len(v) for t, v in durations.items()}
        for job_type, (_, p50, p95_t, p99) in pct.items():
            for got, q in ((p50, 0.5), (p95_t, 0.95), (p99, 0.99)):
                assert got == pytest.approx(quantile(durations[job_type], q), rel=0.05, abs=0.001)
        out.append(figures)
    return out


def _tick(engine: Engine) -> int:
    return rollups.catch_up(engine.begin, max_hours=7)[0]  # small batches: several ticks' worth


def test_rolled_up_figures_equal_the_direct_count_late_and_out_of_order(engine: Engine, session: Session) -> None:
    tenants = _seed(session)
    direct = _check(session, tenants)  # nothing rolled up yet: every hour is marked
    assert session.scalar(select(func.count()).select_from(JobHourCount)) == 0
    assert _tick(engine) > 24
    session.rollback()
    assert session.scalar(select(func.count()).select_from(JobRollupDirty)) == 0
    assert session.scalar(select(func.count()).select_from(JobHourDuration).where(JobHourDuration.tenant_id == 0))
    assert _check(session, tenants) == direct  # the rollups say what the rows say

    # Late and out of order: a two-day-old job finishes now; a backdated import of finished jobs;
    # an old failure is rerun; a finished job is pruned.
    old = session.scalars(select(PipelineJob).where(PipelineJob.status == "RUNNING").order_by(PipelineJob.created_at))
    job = next(iter(old))
    job.status, job.completed_at = "COMPLETED", NOW
    old_failure = session.scalars(
        select(PipelineJob).where(PipelineJob.status == "FAILED", PipelineJob.parent_job_id.is_(None))
        .order_by(PipelineJob.created_at.desc()).offset(3)
    ).first()  # fmt: skip
    assert old_failure is not None
    session.add(PipelineJob(tenant_id=old_failure.tenant_id, job_type=old_failure.job_type, status="QUEUED",
                            params={}, parent_job_id=old_failure.id))  # fmt: skip
    backdated = NOW - dt.timedelta(hours=30, minutes=13)
    for status in ("COMPLETED", "FAILED"):
        session.add(PipelineJob(tenant_id=tenants[1], job_type=TYPES[2], status=status, params={},
                                created_at=backdated, run_at=backdated, started_at=backdated,
                                completed_at=backdated + dt.timedelta(seconds=2)))  # fmt: skip
    session.execute(delete(PipelineJob).where(PipelineJob.id == select(func.min(PipelineJob.id)).scalar_subquery()))
    session.commit()
    late = _check(session, tenants)  # the changed hours are marked and counted directly
    assert late != direct
    _tick(engine)
    assert _check(session, tenants) == late


def test_a_finish_committed_behind_a_tick_is_not_lost(pg_url: str, tmp_path: Any) -> None:
    """PostgreSQL: a job finished in a transaction still open while the tick runs counts once it commits."""
    from db.engine import make_engine, make_session_factory

    engine = make_engine(pg_url)
    try:
        with make_session_factory(engine)() as session:
            tenants = _seed(session)
            _tick(engine)
            running = session.scalar(
                select(PipelineJob.id).where(PipelineJob.status == "RUNNING").order_by(PipelineJob.id)
            )
            with engine.connect() as slow:  # a runner's finish, committed late
                slow.execute(
                    text("UPDATE pipeline_jobs SET status = 'COMPLETED', completed_at = :t WHERE id = :id"),
                    {"t": NOW - dt.timedelta(hours=2), "id": running},
                )
                assert _tick(engine) == 0  # its marker is not visible yet: nothing to recompute
                slow.commit()
            before_tick = _check(session, tenants)  # counted from its marked hour
            _tick(engine)
            assert _check(session, tenants) == before_tick
    finally:
        engine.dispose()


def test_an_update_marks_exactly_the_hours_whose_figures_it_changes(engine: Engine, session: Session) -> None:
    """The claims, starts and releases of the queue mark nothing (PostgreSQL's trigger returns before
    its query, migration 0021); a job leaving a finished status, and a rerun link, still mark."""
    tenant = Tenant(name="Marks")
    session.add(tenant)
    session.flush()
    hour = NOW.replace(minute=0) - dt.timedelta(hours=5)
    parent, child, job = (
        PipelineJob(
            tenant_id=tenant.id, job_type=TYPES[0], status=s, params={}, created_at=hour + dt.timedelta(minutes=1)
        )
        for s in ("FAILED", "QUEUED", "QUEUED")
    )
    session.add_all([parent, child, job])
    session.commit()
    session.execute(delete(JobRollupDirty))
    session.commit()

    def marked(sql: str, **params: Any) -> list[dt.datetime]:
        session.execute(text(sql), params)
        session.commit()
        hours = sorted(session.scalars(select(JobRollupDirty.hour)))
        session.execute(delete(JobRollupDirty))
        session.commit()
        return [h.replace(tzinfo=dt.UTC) if h.tzinfo is None else h for h in hours]

    claim = "UPDATE pipeline_jobs SET status = 'RUNNING', locked_by = 'r' WHERE id IN (:a, :b)"
    assert marked(claim, a=child.id, b=job.id) == []
    assert marked("UPDATE pipeline_jobs SET attempts = attempts + 1 WHERE id IN (:a, :b)", a=child.id, b=job.id) == []
    assert marked("UPDATE pipeline_jobs SET status = 'QUEUED' WHERE id IN (:a, :b)", a=child.id, b=job.id) == []
    assert marked("UPDATE pipeline_jobs SET parent_job_id = :p WHERE id = :c", p=parent.id, c=child.id) == [hour]
    assert marked("UPDATE pipeline_jobs SET status = 'QUEUED' WHERE id = :p", p=parent.id) == [hour]
