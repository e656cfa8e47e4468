"""Failures grouped across clients by fingerprint, for the dashboard's Error groups page and its actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.alerts.fingerprint import failure_fingerprint
from db.models import AlertGroup, AlertGroupJob, PipelineJob, Tenant

UNFINISHED = ("QUEUED", "PAUSED", "RUNNING")  # a held rerun (its client is paused) is still under way


def error_groups(session: Session, *, since: dt.datetime | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Failure groups with their jobs still on record: first/last seen, count, tenants, a sample job."""
    query = (
        select(
            AlertGroup.id,
            AlertGroup.job_type,
            AlertGroup.title,
            AlertGroup.state,
            AlertGroup.detail,
            func.count(PipelineJob.id),
            func.min(PipelineJob.completed_at),
            func.max(PipelineJob.completed_at),
            func.max(PipelineJob.id),
        )
        .join(AlertGroupJob, AlertGroupJob.group_id == AlertGroup.id)
        .join(PipelineJob, PipelineJob.id == AlertGroupJob.job_id)
        .where(AlertGroup.event == "job_failed")
        .group_by(AlertGroup.id, AlertGroup.job_type, AlertGroup.title, AlertGroup.state, AlertGroup.detail)
        .order_by(func.max(PipelineJob.completed_at).desc())
        .limit(limit)
    )
    if since is not None:
        query = query.having(func.max(PipelineJob.completed_at) >= since)
    rows = session.execute(query).all()
    tenants: dict[int, list[str]] = {}
    if rows:
        for group_id, name in session.execute(
            select(AlertGroupJob.group_id, Tenant.name)
            .join(PipelineJob, PipelineJob.id == AlertGroupJob.job_id)
            .join(Tenant, Tenant.id == PipelineJob.tenant_id)
            .where(AlertGroupJob.group_id.in_([r[0] for r in rows]))
            .distinct()
        ):
            tenants.setdefault(group_id, []).append(name)
    return [
        {"group": gid, "job_type": job_type, "error": title.split(": ", 1)[-1], "state": state, "count": n,
         "tenants": len(tenants.get(gid, [])), "tenant_names": ", ".join(sorted(tenants.get(gid, []))),
         "first_seen": first, "last_seen": last, "sample_job": sample, "sample_error": detail}
        for gid, job_type, title, state, detail, n, first, last, sample in rows
    ]  # fmt: skip


def failed_job_ids(session: Session, group_id: int) -> list[int]:
    """The group's jobs that are still FAILED (what a rerun of the group reruns)."""
    return list(
        session.scalars(
            select(PipelineJob.id)
            .join(AlertGroupJob, AlertGroupJob.job_id == PipelineJob.id)
            .where(AlertGroupJob.group_id == group_id, PipelineJob.status == "FAILED")
            .order_by(PipelineJob.id)
        )
    )


def unfinished_job_ids(session: Session, group_id: int) -> list[int]:
    """Queued or running jobs of the group's problem: reruns of its jobs, and jobs retrying with its error."""
    group = session.get(AlertGroup, group_id)
    if group is None or group.job_type is None:
        return []
    members = select(AlertGroupJob.job_id).where(AlertGroupJob.group_id == group_id)
    reruns = set(
        session.scalars(
            select(PipelineJob.id).where(PipelineJob.parent_job_id.in_(members), PipelineJob.status.in_(UNFINISHED))
        )
    )
    retrying = session.execute(
        select(PipelineJob.id, PipelineJob.error).where(
            PipelineJob.job_type == group.job_type, PipelineJob.status.in_(UNFINISHED), PipelineJob.error.is_not(None)
        )
    ).all()
    reruns.update(i for i, error in retrying if failure_fingerprint(group.job_type, error) == group.fingerprint)
    return sorted(reruns)


def open_alerts(session: Session) -> list[dict[str, Any]]:
    """Every alert open now (failure groups and conditions), newest first."""
    names = {str(i): n for i, n in session.execute(select(Tenant.id, Tenant.name)).all()}
    opened = select(AlertGroup).where(AlertGroup.state == "open").order_by(AlertGroup.opened_at.desc())
    return [
        {"event": g.event, "alert": g.title, "since": g.first_seen, "count": g.count,
         "tenants": ", ".join(sorted(names.get(t, t) for t in (g.tenants or {}))),
         "last message": g.notified_at, "messages": g.notify_seq}
        for g in session.scalars(opened)
    ]  # fmt: skip
