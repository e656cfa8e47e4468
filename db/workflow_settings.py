"""The SQL of per-tenant workflow settings: one row per (tenant, workflow), no row = defaults.

Validation of ``options`` lives with the workflows (``sync/workflow_settings.py``); this
module only stores and reads rows. Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import WorkflowSetting


@dataclass(frozen=True)
class StoredSetting:
    """A workflow's switch and raw options as stored (``exists`` is False when there is no row)."""

    workflow: str
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    exists: bool = False


def load(session: Session, tenant_id: int, workflow: str) -> StoredSetting:
    row = session.scalar(
        select(WorkflowSetting).where(WorkflowSetting.tenant_id == tenant_id, WorkflowSetting.workflow == workflow)
    )
    if row is None:
        return StoredSetting(workflow)
    return StoredSetting(workflow, bool(row.enabled), dict(row.options or {}), True)


def save(
    session: Session,
    tenant_id: int,
    workflow: str,
    *,
    enabled: bool,
    options: dict[str, Any],
    interval_minutes: int | None = None,
) -> None:
    """Insert or update the row (options replace the stored ones as a whole).

    ``interval_minutes`` re-times the workflow's default schedule, when it has one.
    """
    row = session.scalar(
        select(WorkflowSetting).where(WorkflowSetting.tenant_id == tenant_id, WorkflowSetting.workflow == workflow)
    )
    now = dt.datetime.now(dt.UTC)
    if row is None:
        session.add(
            WorkflowSetting(tenant_id=tenant_id, workflow=workflow, enabled=enabled, options=options, updated_at=now)
        )
    else:
        row.enabled, row.options, row.updated_at = enabled, options, now
    session.flush()
    if interval_minutes is not None:
        for job_type, (_needs, row_workflow, _default) in DEFAULT_SCHEDULES.items():
            if row_workflow == workflow:
                set_schedule_interval(session, tenant_id, job_type, interval_minutes)


def save_validated(session: Session, tenant_id: int, workflow: str, *, enabled: bool, options: BaseModel) -> None:
    """Store options a workflow's model has validated: only those that differ from the defaults;
    an ``interval_minutes`` option re-times the workflow's default schedule."""
    minutes = getattr(options, "interval_minutes", None)
    save(
        session, tenant_id, workflow, enabled=enabled,
        options=options.model_dump(mode="json", exclude_defaults=True),
        interval_minutes=None if minutes is None else int(minutes),
    )  # fmt: skip


# -- default schedules -------------------------------------------------------------------------

# Scheduled job type → (the connections it needs, its settings row, default interval in minutes).
DEFAULT_SCHEDULES: dict[str, tuple[tuple[str, ...], str, int]] = {
    "xero-contacts-to-hubspot": (("xero", "hubspot"), "xero-contacts-to-hubspot", 15),
    "asana-tasks-poll": (("asana", "hubspot"), "asana-task-reconcile", 15),
}


def interval_cron(minutes: int) -> str:
    """A crontab line firing every ``minutes`` (whole hours above 59 minutes)."""
    if minutes < 60:
        return f"*/{max(1, minutes)} * * * *"
    hours = max(1, min(23, minutes // 60))
    return f"0 */{hours} * * *"


def ensure_default_schedules(session: Session, tenant_id: int) -> list[int]:
    """Create the tenant's default schedules its connections call for; returns the new ids.

    Idempotent: a job type that already has a schedule for the tenant is left as it is (staff
    may have edited or disabled it). Call it after connecting a vendor, or from the demo seed.
    """
    from db.models import Connection, Schedule
    from db.schedules import create_schedule

    systems = set(session.scalars(select(Connection.system).where(Connection.tenant_id == tenant_id)))
    created: list[int] = []
    for job_type, (needs, workflow, default_minutes) in DEFAULT_SCHEDULES.items():
        if not set(needs) <= systems:
            continue
        exists = session.scalar(
            select(Schedule.id).where(Schedule.tenant_id == tenant_id, Schedule.job_type == job_type).limit(1)
        )
        if exists is not None:
            continue
        minutes = load(session, tenant_id, workflow).options.get("interval_minutes", default_minutes)
        created.append(
            create_schedule(session, tenant_id=tenant_id, job_type=job_type, cron=interval_cron(int(minutes)))
        )
    return created


def set_schedule_interval(session: Session, tenant_id: int, job_type: str, minutes: int) -> None:
    """Move the tenant's schedules of ``job_type`` to every ``minutes`` (after a settings change)."""
    from db.models import Schedule
    from db.schedules import update_schedule

    ids = session.scalars(select(Schedule.id).where(Schedule.tenant_id == tenant_id, Schedule.job_type == job_type))
    for schedule_id in list(ids):
        update_schedule(session, schedule_id, cron=interval_cron(minutes))
