"""The ``runners`` table (live runners for the dashboard) and the queue's metric queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from db.jobs._sql import JOBS, RUNNERS, Executor, utcnow
from db.models.base import UNFINISHED


def register_runner(
    session: Executor, runner_id: str, *, host: str, pid: int, slots: int, now: dt.datetime | None = None
) -> None:
    now = now or utcnow()
    t = RUNNERS
    session.execute(t.delete().where(t.c.id == runner_id))
    session.execute(
        t.insert().values(id=runner_id, host=host, pid=pid, slots=slots, busy=0, started_at=now, heartbeat_at=now)
    )


def beat_runner(session: Executor, runner_id: str, *, busy: int, now: dt.datetime | None = None) -> None:
    t = RUNNERS
    session.execute(update(t).where(t.c.id == runner_id).values(busy=busy, heartbeat_at=now or utcnow()))


def stop_runner(session: Executor, runner_id: str, *, now: dt.datetime | None = None) -> None:
    t = RUNNERS
    now = now or utcnow()
    session.execute(update(t).where(t.c.id == runner_id).values(busy=0, heartbeat_at=now, stopped_at=now))


# What the metric counts: every status but the finished ones (statuses added later count too).


def job_counts(session: Executor) -> dict[str, int]:
    """Unfinished jobs per status (every unfinished status present, zeros included).

    Finished jobs are not counted: with months of history that was a full scan of the table on
    every metric tick (5.8 s at 10,000,000 jobs, every 5 s on each runner; issue 20), and how
    many jobs finished is what ``pipeline_jobs_processed_total`` tells. The unfinished ones
    are an index range of ``(status, created_at)`` per status.
    """
    t = JOBS
    counts = dict.fromkeys(UNFINISHED, 0)
    query = select(t.c.status, func.count()).where(t.c.status.in_(UNFINISHED)).group_by(t.c.status)
    for status, n in session.execute(query):
        counts[status] = int(n)
    return counts


def oldest_queued_age_s(session: Executor, *, now: dt.datetime | None = None) -> float:
    """Seconds the oldest due QUEUED job has waited (0 when none is due)."""
    t = JOBS
    now = now or utcnow()
    oldest = session.execute(
        select(func.min(t.c.run_at)).where(t.c.status == "QUEUED", t.c.run_at <= now)
    ).scalar_one_or_none()
    if oldest is None:
        return 0.0
    if isinstance(oldest, str):  # SQLite's MIN() loses the column type
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(0.0, (now - oldest).total_seconds())
