"""The alert outbox: deliveries written with their message, claimed by one runner, sent, recorded.

A claim is a lease (``locked_by``/``locked_until``) taken with a compare-and-set update, after a
``FOR UPDATE SKIP LOCKED`` pick on PostgreSQL, so several runners never send one delivery at
once. Failures are retried with exponential backoff up to ``MAX_ATTEMPTS``; the last failure (or
a permanent one, such as a 404 from a deleted Slack webhook) stays as ``failed`` with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from db.models import AlertChannel, AlertDelivery, AlertGroup, Tenant

MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 30.0  # 30 s, 1 min, 2 min, 4 min between the five attempts


@dataclass(frozen=True)
class Claimed:
    id: int
    channel_id: int
    group_id: int | None
    seq: int
    event: str
    payload: dict[str, Any]
    attempt: int


def backoff_s(attempt: int) -> float:
    return float(BACKOFF_BASE_S * 2 ** (attempt - 1))


def enqueue_test(session: Session, channel_id: int, *, by: str, now: dt.datetime) -> int:
    """A test message to one channel (no group), sent by the runner like any other."""
    delivery = AlertDelivery(
        channel_id=channel_id, group_id=None, seq=0, event="test", next_attempt_at=now, created_at=now,
        payload={"event": "test", "state": "test", "title": f"Test message from Zixly (asked by {by})",
                 "detail": "If you can read this, the channel works.", "count": 0, "tenants": {},
                 "at": now.isoformat()},
    )  # fmt: skip
    session.add(delivery)
    session.flush()
    return delivery.id


def claim(session: Session, runner_id: str, *, now: dt.datetime, lease_s: float, limit: int = 20) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for this runner (each counts an attempt)."""
    free = or_(AlertDelivery.locked_until.is_(None), AlertDelivery.locked_until < now)
    due = and_(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now, free)
    pick = select(AlertDelivery.id).where(due).order_by(AlertDelivery.next_attempt_at, AlertDelivery.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    else:
        # SQLite: take the write lock before reading (waiting for it), or a runner that read first
        # fails with "database is locked" when another runner's claim commits in between.
        session.execute(text("UPDATE alert_deliveries SET id = id WHERE 1 = 0"))
    claimed: list[Claimed] = []
    until = now + dt.timedelta(seconds=lease_s)
    for delivery_id in session.scalars(pick).all():
        # Compare-and-set: on SQLite (no row locks) a second runner's update finds nothing to take.
        taken = session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id, due)
            .values(locked_by=runner_id, locked_until=until, attempts=AlertDelivery.attempts + 1)
            .returning(
                AlertDelivery.channel_id,
                AlertDelivery.group_id,
                AlertDelivery.seq,
                AlertDelivery.event,
                AlertDelivery.payload,
                AlertDelivery.attempts,
            )
        ).first()
        if taken is not None:
            claimed.append(Claimed(delivery_id, *taken))
    return claimed


def mark_sent(session: Session, delivery_id: int, runner_id: str, *, now: dt.datetime) -> None:
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.locked_by == runner_id)
        .values(status="sent", sent_at=now, last_error=None, locked_by=None, locked_until=None)
    )


def mark_failed(
    session: Session, delivery_id: int, runner_id: str, attempt: int, reason: str, *, permanent: bool, now: dt.datetime
) -> str:
    """Record a failed attempt: ``pending`` again after the backoff, or ``failed`` for good."""
    final = permanent or attempt >= MAX_ATTEMPTS
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.locked_by == runner_id)
        .values(
            status="failed" if final else "pending",
            last_error=reason[:2000],
            locked_by=None,
            locked_until=None,
            next_attempt_at=now + dt.timedelta(seconds=0 if final else backoff_s(attempt)),
        )
    )
    return "failed" if final else "pending"


def recent(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """The latest deliveries for the dashboard: channel, message, status and reason."""
    rows = session.execute(
        select(AlertDelivery, AlertChannel.name, AlertChannel.kind, AlertGroup.title)
        .join(AlertChannel, AlertChannel.id == AlertDelivery.channel_id)
        .outerjoin(AlertGroup, AlertGroup.id == AlertDelivery.group_id)
        .order_by(AlertDelivery.id.desc())
        .limit(limit)
    ).all()
    return [
        {"id": d.id, "created_at": d.created_at, "channel": f"{name} ({kind})", "event": d.event,
         "state": (d.payload or {}).get("state"), "message": title or (d.payload or {}).get("title"),
         "status": d.status, "attempts": d.attempts, "sent_at": d.sent_at, "last_error": d.last_error}
        for d, name, kind, title in rows
    ]  # fmt: skip


def channel_health(session: Session) -> list[dict[str, Any]]:
    """Per channel: deliveries sent, pending, failed, and the last failure's reason."""
    counts = session.execute(
        select(AlertDelivery.channel_id, AlertDelivery.status, func.count()).group_by(
            AlertDelivery.channel_id, AlertDelivery.status
        )
    ).all()
    by_channel: dict[int, dict[str, int]] = {}
    for channel_id, status, n in counts:
        by_channel.setdefault(channel_id, {})[status] = int(n)
    out = []
    for channel in session.scalars(select(AlertChannel).order_by(AlertChannel.id)):
        last_failure = session.execute(
            select(AlertDelivery.last_error, AlertDelivery.created_at)
            .where(AlertDelivery.channel_id == channel.id, AlertDelivery.last_error.is_not(None))
            .order_by(AlertDelivery.id.desc())
            .limit(1)
        ).first()
        tally = by_channel.get(channel.id, {})
        out.append({
            "channel": channel.name, "kind": channel.kind,
            "sent": tally.get("sent", 0), "pending": tally.get("pending", 0),
            "failed": tally.get("failed", 0), "last_error": last_failure[0] if last_failure else None,
        })  # fmt: skip
    return out


def tenant_names(session: Session) -> dict[int, str]:
    return {int(i): str(n) for i, n in session.execute(select(Tenant.id, Tenant.name)).all()}
