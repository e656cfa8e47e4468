"""The Overview page: KPI tiles and chart series, for a tenant selection and a time range.

The window's counts and durations come from the hourly rollups plus a direct count of the
partial edge hours, the hours with jobs finished since the rollup tick and the unfinished jobs
(``db/queries/rollup_read.py``), so the page reads a few hundred rows per day of range however
long the history is. Queue depth and runners are read live (partial QUEUED index, runners table).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from db.models import PipelineJob, Runner, Tenant
from db.queries import rollup_read
from db.queries._sql import as_utc, utcnow
from db.rollups import as_hour

RUNNER_ALIVE_S = 90  # a runner that has not heartbeated for this long is not live


@dataclass(frozen=True)
class Kpis:
    jobs: int
    completed: int
    failed: int
    success_rate: float | None
    p95_s: float | None
    queue_depth: int
    oldest_queued_age_s: float | None
    live_runners: int
    busy_slots: int
    total_slots: int
    needs_attention: int


def _tenant(tenant_ids: tuple[int, ...]) -> ColumnElement[bool]:
    return PipelineJob.tenant_id.in_(tenant_ids) if tenant_ids else true()


def kpis(session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> Kpis:
    now = utcnow()
    by_status = {r.status: r for r in rollup_read.counts(session, tenant_ids, since, until, ("status",))}
    jobs = sum(int(r.jobs) for r in by_status.values())
    completed = int(by_status["COMPLETED"].jobs) if "COMPLETED" in by_status else 0
    failed = int(by_status["FAILED"].jobs) if "FAILED" in by_status else 0
    depth, oldest = session.execute(
        select(func.count(), func.min(PipelineJob.created_at)).where(
            PipelineJob.status == "QUEUED", _tenant(tenant_ids)
        )
    ).one()
    oldest_at = as_utc(oldest)
    runners, busy, slots = session.execute(
        select(func.count(), func.coalesce(func.sum(Runner.busy), 0), func.coalesce(func.sum(Runner.slots), 0)).where(
            Runner.stopped_at.is_(None), Runner.heartbeat_at >= now - dt.timedelta(seconds=RUNNER_ALIVE_S)
        )
    ).one()
    attention = int(by_status["FAILED"].attention) if "FAILED" in by_status else 0
    finished = completed + failed
    durations = rollup_read.duration_histogram(session, tenant_ids, since, until)
    return Kpis(
        jobs=jobs,
        completed=completed,
        failed=failed,
        success_rate=(completed / finished) if finished else None,
        p95_s=rollup_read.quantile_s(rollup_read.merge(list(durations.values())), 0.95),
        queue_depth=depth,
        oldest_queued_age_s=(now - oldest_at).total_seconds() if oldest_at else None,
        live_runners=runners,
        busy_slots=int(busy),
        total_slots=int(slots),
        needs_attention=attention or 0,
    )


def bucket_unit(since: dt.datetime, until: dt.datetime) -> str:
    return "hour" if until - since <= dt.timedelta(hours=48) else "day"


def jobs_over_time(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Jobs created per hour (ranges up to 48 h) or per day, by status."""
    daily = bucket_unit(since, until) == "day"
    totals: dict[tuple[dt.datetime, str], int] = {}
    for r in rollup_read.counts(session, tenant_ids, since, until, ("hour", "status")):
        hour = as_hour(r.hour)
        key = (hour.replace(hour=0) if daily else hour, r.status)
        totals[key] = totals.get(key, 0) + int(r.jobs)
    return [{"bucket": b, "status": status, "jobs": n} for (b, status), n in sorted(totals.items())]


def duration_percentiles(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """p50, p95 and p99 of completed jobs' durations (seconds), per job type.

    To bucket precision: durations are rolled up to two significant digits of milliseconds and a
    percentile is read as its bucket's midpoint (within 5 % of the exact value; ``db/rollups.py``).
    """
    out = []
    for job_type, buckets in sorted(rollup_read.duration_histogram(session, tenant_ids, since, until).items()):
        out.append(
            {
                "job_type": job_type,
                "jobs": sum(n for _, n in buckets),
                "p50": rollup_read.quantile_s(buckets, 0.5),
                "p95": rollup_read.quantile_s(buckets, 0.95),
                "p99": rollup_read.quantile_s(buckets, 0.99),
            }
        )
    return out


def volume_by_tenant(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    rows = rollup_read.counts(session, tenant_ids, since, until, ("tenant_id", "status"))
    names = dict(
        session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_({r.tenant_id for r in rows}))).all()
    )
    out = [
        {"tenant": names[r.tenant_id], "status": r.status, "jobs": int(r.jobs)} for r in rows if r.tenant_id in names
    ]
    return sorted(out, key=lambda r: (r["tenant"], r["status"]))
