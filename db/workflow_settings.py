"""The SQL of per-tenant workflow settings: one row per (tenant, workflow), no row = defaults.

Validation of ``options`` and which job types have a default schedule live in the job-type
catalogue (``jobtypes``), which ``db`` may not import: callers pass that knowledge in. This
module only stores and reads rows. Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    retimes: Iterable[str] = (),
) -> None:
    """Insert or update the row (options replace the stored ones as a whole).

    ``interval_minutes`` re-times the tenant's schedules of the job types in ``retimes`` (those
    whose default schedule follows this workflow's settings; the catalogue knows which).
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
        for job_type in retimes:
            set_schedule_interval(session, tenant_id, job_type, interval_minutes)


def save_validated(
    session: Session, tenant_id: int, workflow: str, *, enabled: bool, options: BaseModel, retimes: Iterable[str] = ()
) -> None:
    """Store options a workflow's model has validated: only those that differ from the defaults;
    an ``interval_minutes`` option re-times the schedules of the job types in ``retimes``."""
    minutes = getattr(options, "interval_minutes", None)
    save(
        session, tenant_id, workflow, enabled=enabled,
        options=options.model_dump(mode="json", exclude_defaults=True),
        interval_minutes=None if minutes is None else int(minutes), retimes=retimes,
    )  # fmt: skip


# -- default schedules -------------------------------------------------------------------------


class ScheduleDefault(Protocol):
    """A default schedule as the catalogue declares it (``jobtypes.DefaultSchedule``)."""

    @property
    def needs(self) -> tuple[str, ...]: ...  # the connections it needs
    @property
    def options_from(self) -> str: ...  # the settings row whose interval_minutes times it
    @property
    def interval_minutes(self) -> int: ...  # when that row sets none


def interval_cron(minutes: int) -> str:
    """A crontab line firing every ``minutes`` (whole hours above 59 minutes)."""
    if minutes < 60:
        return f"*/{max(1, minutes)} * * * *"
    hours = max(1, min(23, minutes // 60))
    return f"0 */{hours} * * *"


def ensure_default_schedules(session: Session, tenant_id: int, defaults: Mapping[str, ScheduleDefault]) -> list[int]:
    """Create the default schedules (``job type -> schedule``, e.g. ``jobtypes.DEFAULT_SCHEDULES``)
    the tenant's connections call for; returns the new ids.

    Idempotent: a job type that already has a schedule for the tenant is left as it is (staff
    may have edited or disabled it). Call it after connecting a vendor, or from the demo seed.
    """
    from db.models import Connection, Schedule, Tenant
    from db.schedules import create_schedule

    systems = set(session.scalars(select(Connection.system).where(Connection.tenant_id == tenant_id)))
    # In the tenant's own timezone, as staff read schedules ("every 2 hours" from local midnight).
    timezone = session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "UTC"
    created: list[int] = []
    for job_type, default in defaults.items():
        if not set(default.needs) <= systems:
            continue
        exists = session.scalar(
            select(Schedule.id).where(Schedule.tenant_id == tenant_id, Schedule.job_type == job_type).limit(1)
        )
        if exists is not None:
            continue
        stored = load(session, tenant_id, default.options_from).options
        minutes = stored.get("interval_minutes", default.interval_minutes)
        created.append(
            create_schedule(
                session, tenant_id=tenant_id, job_type=job_type, cron=interval_cron(int(minutes)), timezone=timezone
            )
        )
    return created


def set_schedule_interval(session: Session, tenant_id: int, job_type: str, minutes: int) -> None:
    """Move the tenant's schedules of ``job_type`` to every ``minutes`` (after a settings change)."""
    from db.models import Schedule
    from db.schedules import update_schedule

    ids = session.scalars(select(Schedule.id).where(Schedule.tenant_id == tenant_id, Schedule.job_type == job_type))
    for schedule_id in list(ids):
        update_schedule(session, schedule_id, cron=interval_cron(minutes))
