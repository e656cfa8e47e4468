"""Schedules: cron expressions in a timezone that enqueue a job when due.

APScheduler's ``CronTrigger`` computes ``next_run_at``. Firing claims due rows (PostgreSQL:
``FOR UPDATE SKIP LOCKED``; SQLite: an atomic ``UPDATE … RETURNING``, SQLite having one
writer) and enqueues with the idempotency key ``schedule:<id>:<fire time>``, so any number of
runners fire each schedule exactly once. The next fire time is computed from *now*, not from
the missed one: after an outage a schedule fires once, not once per missed tick. A paused
client's schedules are not due (``db.jobs.pauses``); on resume each fires once, the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Table, select, text, update

from db.jobs import enqueue
from db.jobs._sql import Executor, dialect, read_json, read_ts, ts, utcnow
from db.jobs.pauses import held_sql
from db.models import Schedule

SCHEDULES = cast(Table, Schedule.__table__)
FIRE_BATCH = 100


def trigger(cron: str, timezone: str = "UTC") -> CronTrigger:
    """The trigger for a 5-field crontab line; ValueError names what is wrong."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r}") from None
    try:
        return CronTrigger.from_crontab(cron, timezone=zone)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {cron!r}: {exc}") from None


def next_fire_time(cron: str, timezone: str, after: dt.datetime) -> dt.datetime | None:
    """The first fire time strictly after ``after``, in UTC."""
    fire = trigger(cron, timezone).get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    return None if fire is None else fire.astimezone(dt.UTC)


def next_fire_times(
    cron: str, timezone: str = "UTC", n: int = 3, *, now: dt.datetime | None = None
) -> list[dt.datetime]:
    """The next ``n`` fire times (UTC), for the dashboard's preview."""
    out: list[dt.datetime] = []
    after = now or utcnow()
    for _ in range(n):
        fire = next_fire_time(cron, timezone, after)
        if fire is None:
            break
        out.append(fire)
        after = fire
    return out


def create_schedule(
    session: Executor,
    *,
    tenant_id: int,
    job_type: str,
    cron: str,
    timezone: str = "UTC",
    params: dict[str, Any] | None = None,
    enabled: bool = True,
    now: dt.datetime | None = None,
) -> int:
    nxt = next_fire_time(cron, timezone, now or utcnow())
    row = session.execute(
        SCHEDULES.insert()
        .values(
            tenant_id=tenant_id, job_type=job_type, cron=cron, timezone=timezone, params=params or {},
            enabled=enabled, next_run_at=nxt, created_at=now or utcnow(),
        )
        .returning(SCHEDULES.c.id)
    ).one()  # fmt: skip
    return int(row[0])


def update_schedule(
    session: Executor,
    schedule_id: int,
    *,
    cron: str | None = None,
    timezone: str | None = None,
    params: dict[str, Any] | None = None,
    enabled: bool | None = None,
    job_type: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Change a schedule; its next fire time is recomputed from now (no catch-up burst)."""
    current = session.execute(
        select(SCHEDULES.c.cron, SCHEDULES.c.timezone).where(SCHEDULES.c.id == schedule_id)
    ).one_or_none()
    if current is None:
        raise LookupError(f"schedule {schedule_id} does not exist")
    values: dict[str, Any] = {}
    for name, value in (("cron", cron), ("timezone", timezone), ("params", params), ("enabled", enabled),
                        ("job_type", job_type)):  # fmt: skip
        if value is not None:
            values[name] = value
    values["next_run_at"] = next_fire_time(cron or current.cron, timezone or current.timezone, now or utcnow())
    session.execute(update(SCHEDULES).where(SCHEDULES.c.id == schedule_id).values(**values))


def schedule_job_type(session: Executor, schedule_id: int) -> str:
    """The job type a schedule fires; ``LookupError`` when there is no such schedule."""
    job_type = session.execute(select(SCHEDULES.c.job_type).where(SCHEDULES.c.id == schedule_id)).scalar_one_or_none()
    if job_type is None:
        raise LookupError(f"schedule {schedule_id} does not exist")
    return str(job_type)


def run_schedule_now(session: Executor, schedule_id: int, *, created_by: str) -> int:
    """Enqueue the schedule's job at once (its regular fire times are unchanged)."""
    row = session.execute(
        select(SCHEDULES.c.tenant_id, SCHEDULES.c.job_type, SCHEDULES.c.params).where(SCHEDULES.c.id == schedule_id)
    ).one_or_none()
    if row is None:
        raise LookupError(f"schedule {schedule_id} does not exist")
    return enqueue(session, tenant_id=row.tenant_id, job_type=row.job_type, params=dict(row.params),
                   created_by=created_by).id  # fmt: skip


_CLAIM_DUE = {
    "postgresql": text(
        f"""
WITH due AS (
    SELECT id FROM schedules WHERE enabled AND next_run_at <= :now AND NOT {held_sql("schedules")}
    ORDER BY next_run_at LIMIT :limit FOR UPDATE SKIP LOCKED)
UPDATE schedules SET last_fired_at = :now FROM due WHERE schedules.id = due.id
RETURNING schedules.id, tenant_id, job_type, cron, timezone, params, next_run_at
"""
    ),
    "sqlite": text(
        f"""
UPDATE schedules SET last_fired_at = :now
WHERE id IN (SELECT id FROM schedules WHERE enabled AND next_run_at <= :now AND NOT {held_sql("schedules")}
             ORDER BY next_run_at LIMIT :limit)
RETURNING id, tenant_id, job_type, cron, timezone, params, next_run_at
"""
    ),
}


def fire_due(session: Executor, *, now: dt.datetime | None = None) -> list[tuple[int, int]]:
    """Enqueue one job per due schedule and move each to its next fire time.

    Returns ``(schedule_id, job_id)`` pairs. The caller commits; the rows stay claimed
    (locked) until then, so a concurrent runner skips them.
    """
    now = now or utcnow()
    name = dialect(session)
    due = session.execute(_CLAIM_DUE[name], {"now": ts(now, name), "limit": FIRE_BATCH}).all()
    fired: list[tuple[int, int]] = []
    for sid, tenant_id, job_type, cron, timezone, params, next_run_at in due:
        fire_time = read_ts(next_run_at)
        assert fire_time is not None
        job = enqueue(
            session, tenant_id=tenant_id, job_type=job_type, params=read_json(params) or {},
            idempotency_key=f"schedule:{sid}:{fire_time.isoformat()}", created_by=f"schedule:{sid}", now=now,
        )  # fmt: skip
        try:
            nxt = next_fire_time(cron, timezone, max(now, fire_time))
        except ValueError:
            nxt = None  # a schedule whose cron no longer parses stops rather than looping
        session.execute(update(SCHEDULES).where(SCHEDULES.c.id == sid).values(next_run_at=nxt, last_job_id=job.id))
        fired.append((sid, job.id))
    return fired
