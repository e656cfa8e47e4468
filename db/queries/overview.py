"""The Overview page: KPI tiles and chart series, for a tenant selection and a time range.

Every query here is bounded by the time range (an index range on ``created_at``) or by the
partial QUEUED/RUNNING indexes, so the page stays fast however long the history is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.orm import Session, aliased

from db.models import PipelineJob, Runner, Tenant
from db.queries._sql import as_utc, bucket, duration_s, is_pg, quantile, utcnow

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


def _scope(tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> ColumnElement[bool]:
    conds = [PipelineJob.created_at >= since, PipelineJob.created_at < until]
    if tenant_ids:
        conds.append(PipelineJob.tenant_id.in_(tenant_ids))
    return and_(*conds)


def _tenant(tenant_ids: tuple[int, ...]) -> ColumnElement[bool]:
    return PipelineJob.tenant_id.in_(tenant_ids) if tenant_ids else true()


def _p95(session: Session, where: ColumnElement[bool]) -> float | None:
    done = and_(where, PipelineJob.status == "COMPLETED", PipelineJob.started_at.is_not(None))
    if is_pg(session):
        value = session.scalar(select(func.percentile_cont(0.95).within_group(duration_s(session))).where(done))
        return float(value) if value is not None else None
    values = sorted(float(v) for v in session.scalars(select(duration_s(session)).where(done)) if v is not None)
    return quantile(values, 0.95)


def kpis(session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> Kpis:
    now = utcnow()
    where = _scope(tenant_ids, since, until)
    jobs, completed, failed = session.execute(
        select(
            func.count(),
            func.count(case((PipelineJob.status == "COMPLETED", 1))),
            func.count(case((PipelineJob.status == "FAILED", 1))),
        ).where(where)
    ).one()
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
    child = aliased(PipelineJob)
    attention = session.scalar(
        select(func.count()).where(
            where,
            PipelineJob.status == "FAILED",
            ~select(child.id).where(child.parent_job_id == PipelineJob.id).exists(),
        )
    )
    finished = completed + failed
    return Kpis(
        jobs=jobs,
        completed=completed,
        failed=failed,
        success_rate=(completed / finished) if finished else None,
        p95_s=_p95(session, where),
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
    b = bucket(session, PipelineJob.created_at, bucket_unit(since, until)).label("bucket")
    rows = session.execute(
        select(b, PipelineJob.status, func.count().label("jobs"))
        .where(_scope(tenant_ids, since, until))
        .group_by(b, PipelineJob.status)
        .order_by(b)
    ).all()
    return [{"bucket": as_utc(r.bucket), "status": r.status, "jobs": r.jobs} for r in rows]


def duration_percentiles(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """p50, p95 and p99 of completed jobs' durations (seconds), per job type."""
    done = and_(
        _scope(tenant_ids, since, until), PipelineJob.status == "COMPLETED", PipelineJob.started_at.is_not(None)
    )
    d = duration_s(session)
    if is_pg(session):
        rows = session.execute(
            select(
                PipelineJob.job_type,
                func.count().label("jobs"),
                *(func.percentile_cont(q).within_group(d).label(f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)),
            )
            .where(done)
            .group_by(PipelineJob.job_type)
            .order_by(PipelineJob.job_type)
        ).all()
        return [
            {"job_type": r.job_type, "jobs": r.jobs, "p50": float(r.p50), "p95": float(r.p95), "p99": float(r.p99)}
            for r in rows
        ]
    by_type: dict[str, list[float]] = {}
    for job_type, seconds in session.execute(select(PipelineJob.job_type, d).where(done)):
        by_type.setdefault(job_type, []).append(float(seconds))
    out = []
    for job_type in sorted(by_type):
        values = sorted(by_type[job_type])
        out.append(
            {
                "job_type": job_type,
                "jobs": len(values),
                "p50": quantile(values, 0.5),
                "p95": quantile(values, 0.95),
                "p99": quantile(values, 0.99),
            }
        )
    return out


def volume_by_tenant(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Tenant.name.label("tenant"), PipelineJob.status, func.count().label("jobs"))
        .join(Tenant, Tenant.id == PipelineJob.tenant_id)
        .where(_scope(tenant_ids, since, until))
        .group_by(Tenant.name, PipelineJob.status)
        .order_by(Tenant.name)
    ).all()
    return [{"tenant": r.tenant, "status": r.status, "jobs": r.jobs} for r in rows]
