"""The conditions the alert check looks for that the database alone can answer.

Each returns the ``Condition``s true now, with a fingerprint that stays the same while the
condition lasts (so it stays one group) and names what to fix.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.alerts.groups import Condition
from db.models import Connection, PipelineJob, Tenant

BROKEN_STATUSES = ("revoked", "expired", "error")


def _names(session: Session) -> dict[int, str]:
    return {int(i): str(n) for i, n in session.execute(select(Tenant.id, Tenant.name)).all()}


def workflows_failing(
    session: Session, *, now: dt.datetime, share: float, min_jobs: int, window: dt.timedelta = dt.timedelta(hours=1)
) -> list[Condition]:
    """(tenant, job type) pairs whose finished jobs in the window failed at ``share`` or more."""
    failed = func.sum(case((PipelineJob.status == "FAILED", 1), else_=0))
    rows = session.execute(
        select(PipelineJob.tenant_id, PipelineJob.job_type, func.count(), failed)
        .where(PipelineJob.status.in_(("COMPLETED", "FAILED")), PipelineJob.completed_at >= now - window)
        .group_by(PipelineJob.tenant_id, PipelineJob.job_type)
    ).all()
    names = _names(session)
    found = []
    for tenant_id, job_type, total, n_failed in rows:
        if total >= min_jobs and (n_failed or 0) / total >= share:
            found.append(Condition(
                "workflow_failing", f"workflow_failing:{tenant_id}:{job_type}", tenant_id,
                f"{job_type} for {names.get(tenant_id, tenant_id)}: {n_failed} of {total} jobs failed in the last hour",
                f"At least {share:.0%} of this workflow's jobs failed over the last hour.", job_type=job_type,
            ))  # fmt: skip
    return found


def connections_broken(session: Session) -> list[Condition]:
    """Connections that can no longer call their vendor (revoked grant, expired, refresh error)."""
    names = _names(session)
    rows = session.scalars(select(Connection).where(Connection.status.in_(BROKEN_STATUSES)))
    return [
        Condition(
            "connection_broken", f"connection_broken:{c.tenant_id}:{c.system}", c.tenant_id,
            f"{c.system.capitalize()} connection of {names.get(c.tenant_id, c.tenant_id)} is {c.status}",
            f"Reconnect {c.system.capitalize()} for {names.get(c.tenant_id, c.tenant_id)} on the Connections page. "
            f"Last error: {c.last_error or 'none recorded'}",
            since=c.updated_at,
        )
        for c in rows
    ]  # fmt: skip


def queue_backlogs(session: Session, *, threshold: int) -> list[Condition]:
    """Tenants with at least ``threshold`` queued jobs."""
    names = _names(session)
    rows = session.execute(
        select(PipelineJob.tenant_id, func.count(), func.min(PipelineJob.run_at))
        .where(PipelineJob.status == "QUEUED")
        .group_by(PipelineJob.tenant_id)
        .having(func.count() >= threshold)
    ).all()
    return [
        Condition(
            "queue_backlog", f"queue_backlog:{tenant_id}", tenant_id,
            f"{n} jobs queued for {names.get(tenant_id, tenant_id)}",
            f"The queue holds {n} jobs for this tenant (threshold {threshold}); the oldest is due since {oldest}.",
        )
        for tenant_id, n, oldest in rows
    ]  # fmt: skip
