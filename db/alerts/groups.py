"""Alert groups: failures counted per fingerprint, conditions opened and resolved, messages made.

Two kinds of group share one table and one life: **failure groups** (``job_failed``) count
failed-for-good jobs with one fingerprint; **condition groups** (a broken connection, a stale
sync, …) are open while the runner's check finds the condition and resolve when it clears.
Each message about a group is numbered (``notify_seq``) and written to the outbox in the same
transaction that numbers it, once per subscribed channel: the outbox's unique key
``(channel, group, seq)`` makes a second runner's attempt to write the same message fail.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.orm import Session

from db.alerts import channels
from db.alerts.fingerprint import failure_fingerprint, normalise
from db.models import AlertDelivery, AlertGroup, AlertGroupJob, PipelineJob, Tenant


@dataclass(frozen=True)
class Condition:
    """A condition found now: its stable fingerprint, tenant and words for the message."""

    event: str
    fingerprint: str
    tenant_id: int | None
    title: str
    detail: str
    since: dt.datetime | None = None
    job_type: str | None = None


def count_new_failures(session: Session, *, since: dt.datetime, now: dt.datetime, limit: int = 5000) -> int:
    """Put each FAILED job finished since ``since`` and not yet counted into its failure group.

    A group that had resolved opens again as a new incident (its counts start over). A group
    opens at its first failure, so the group wait gathers the failures that follow it.
    Returns how many jobs were counted.
    """
    counted = exists().where(AlertGroupJob.job_id == PipelineJob.id)
    rows = session.execute(
        select(PipelineJob.id, PipelineJob.tenant_id, PipelineJob.job_type, PipelineJob.error, PipelineJob.completed_at)
        .where(PipelineJob.status == "FAILED", PipelineJob.completed_at >= since, ~counted)
        .order_by(PipelineJob.completed_at, PipelineJob.id)
        .limit(limit)
    ).all()
    by_print: dict[str, list[Any]] = {}
    for row in rows:
        by_print.setdefault(failure_fingerprint(row.job_type, row.error), []).append(row)
    for fingerprint, jobs in by_print.items():
        first = jobs[0]
        group = session.scalars(
            select(AlertGroup).where(AlertGroup.fingerprint == fingerprint).with_for_update()
        ).first()
        if group is None:
            group = AlertGroup(
                event="job_failed", fingerprint=fingerprint, job_type=first.job_type, tenants={}, count=0,
                title=f"{first.job_type} failing: {normalise(first.error)[:200]}", detail=first.error,
                first_seen=first.completed_at or now, last_seen=first.completed_at or now,
                opened_at=first.completed_at or now,
            )  # fmt: skip
            session.add(group)
        elif group.state == "resolved":
            _reopen(group, first.completed_at or now)
            group.first_seen = first.completed_at or now
        tenants = Counter({str(k): int(v) for k, v in (group.tenants or {}).items()})
        tenants.update(str(j.tenant_id) for j in jobs)
        group.tenants = dict(tenants)
        group.count += len(jobs)
        group.last_seen = max(j.completed_at or now for j in jobs)
        group.sample_job_id, group.detail = jobs[-1].id, jobs[-1].error
        session.flush()
        session.add_all(AlertGroupJob(job_id=j.id, group_id=group.id) for j in jobs)
    session.flush()
    return len(rows)


def resolve_quiet_failures(session: Session, *, quiet_since: dt.datetime, now: dt.datetime) -> list[int]:
    """Resolve failure groups with no failure since ``quiet_since`` whose job type has succeeded since."""
    succeeded = exists().where(
        PipelineJob.job_type == AlertGroup.job_type,
        PipelineJob.status == "COMPLETED",
        PipelineJob.completed_at > AlertGroup.last_seen,
    )
    groups = session.scalars(
        select(AlertGroup).where(
            AlertGroup.event == "job_failed", AlertGroup.state == "open", AlertGroup.last_seen <= quiet_since, succeeded
        )
    ).all()
    for group in groups:
        group.state, group.resolved_at = "resolved", now
    session.flush()
    return [g.id for g in groups]


def sync_conditions(session: Session, event: str, found: list[Condition], *, now: dt.datetime) -> None:
    """Open (or keep open) a group per condition found; resolve this event's groups no longer found."""
    wanted = {c.fingerprint: c for c in found}
    current = {g.fingerprint: g for g in session.scalars(select(AlertGroup).where(AlertGroup.event == event))}
    for fingerprint, cond in wanted.items():
        group = current.get(fingerprint)
        tenants = {str(cond.tenant_id): 1} if cond.tenant_id is not None else {}
        if group is None:
            session.add(AlertGroup(
                event=event, fingerprint=fingerprint, title=cond.title, detail=cond.detail, job_type=cond.job_type,
                tenants=tenants, count=1, first_seen=cond.since or now, last_seen=now, opened_at=now,
            ))  # fmt: skip
            continue
        if group.state == "resolved":
            _reopen(group, now)
            group.count, group.first_seen = 1, cond.since or now
        group.title, group.detail, group.tenants, group.last_seen = cond.title, cond.detail, tenants, now
    for fingerprint, group in current.items():
        if fingerprint not in wanted and group.state == "open":
            group.state, group.resolved_at = "resolved", now
    session.flush()


def _reopen(group: AlertGroup, now: dt.datetime) -> None:
    group.state, group.opened_at, group.resolved_at = "open", now, None
    group.count, group.tenants, group.notified_count, group.notified_at = 0, {}, 0, None


def due_messages(session: Session, *, now: dt.datetime, group_wait_s: float, interval_s: float) -> list[int]:
    """Groups owed a message now: the first (after the group wait), an update, or a resolved one.

    At most one message per group per ``interval_s``: an update only when the count grew, a
    resolved message only for a group whose firing message went out.
    """
    due: list[int] = []
    owed = or_(
        AlertGroup.state == "open",
        and_(AlertGroup.notified_at.is_not(None), AlertGroup.notified_at < AlertGroup.resolved_at),
    )
    for group in session.scalars(select(AlertGroup).where(owed).order_by(AlertGroup.id)):
        last = group.notified_at
        if last is not None and (now - last).total_seconds() < interval_s:
            continue
        if group.state == "open":
            wait = group_wait_s if group.event == "job_failed" else 0.0
            first = last is None and (now - group.opened_at).total_seconds() >= wait
            if first or (last is not None and group.count > group.notified_count):
                due.append(group.id)
        elif group.resolved_at is not None and last is not None and last < group.resolved_at:
            due.append(group.id)
    return due


def make_message(session: Session, group_id: int, *, now: dt.datetime) -> int:
    """Number the group's next message and write it to the outbox, once per subscribed channel.

    Returns how many deliveries were written (0 when no channel wants it). The group row is
    locked first, so two runners cannot number the same message twice.
    """
    group = session.scalars(select(AlertGroup).where(AlertGroup.id == group_id).with_for_update()).one()
    state = "resolved" if group.state == "resolved" else "firing"
    group.notify_seq += 1
    group.notified_at, group.notified_count = now, group.count
    tenant_counts = {int(k): int(v) for k, v in (group.tenants or {}).items()}
    names = dict(session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(list(tenant_counts)))).all())
    written = 0
    for channel in channels.subscribed(session, group.event, list(tenant_counts)):
        seen = tenant_counts if channel.tenant_id is None else {channel.tenant_id: tenant_counts[channel.tenant_id]}
        count = group.count if channel.tenant_id is None or group.event != "job_failed" else sum(seen.values())
        payload = {
            "event": group.event, "state": state, "title": group.title, "detail": group.detail,
            "job_type": group.job_type, "count": count, "group_id": group.id, "sample_job_id": group.sample_job_id,
            "tenants": {names.get(t, f"tenant {t}"): n for t, n in sorted(seen.items())},
            "first_seen": group.first_seen.isoformat(), "last_seen": group.last_seen.isoformat(),
            "resolved_at": group.resolved_at.isoformat() if group.resolved_at else None, "at": now.isoformat(),
        }  # fmt: skip
        session.add(AlertDelivery(
            channel_id=channel.id, group_id=group.id, seq=group.notify_seq, event=group.event, payload=payload,
            next_attempt_at=now, created_at=now,
        ))  # fmt: skip
        written += 1
    session.flush()
    return written


def open_groups(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AlertGroup).where(AlertGroup.state == "open")) or 0)


# The advisory-lock key of the alert check (namespace as in db/jobs/claim.py, which uses 7_001_013).
CHECK_LOCK = 7_001_018


def lock_for_check(session: Session) -> bool:
    """Make this transaction the only alert check running; False: another runner is at it.

    PostgreSQL: a transaction-scoped advisory lock, tried without waiting. SQLite: a no-op
    write takes the database's write lock up front (waiting for it), so two runners' checks
    run one after the other instead of failing on each other's snapshot.
    """
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CHECK_LOCK}))
    session.execute(text("UPDATE alert_groups SET id = id WHERE 1 = 0"))
    return True
