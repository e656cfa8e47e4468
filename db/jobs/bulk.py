"""Acting on every job a filter matches: the jobs a bulk rerun would take, and a bulk cancel.

The caller (the dashboard's action) checks the role, the confirmed count and each job's params;
these only read the candidates and write the changes, never committing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, select, update

from db.filters import JobFilter
from db.jobs._sql import JOBS, Executor, read_json, utcnow
from db.models import PipelineJob
from db.models.base import TERMINAL

ACTIVE = ("QUEUED", "PAUSED", "RUNNING")  # PAUSED: held while its client is paused


def _statuses(job_filter: JobFilter, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The filter's statuses that the action applies to (all of ``allowed`` when it names none)."""
    return tuple(s for s in allowed if not job_filter.statuses or s in job_filter.statuses)


def rerun_candidates(session: Executor, job_filter: JobFilter, *, limit: int) -> list[dict[str, Any]]:
    """The finished jobs matching the filter whose rerun is not already queued or running, by id.

    At most ``limit`` + 1 rows, so the caller can tell "too many" without reading them all.
    """
    statuses = _statuses(job_filter, TERMINAL)
    if not statuses:
        return []
    child = JOBS.alias("child")
    in_flight = select(child.c.id).where(child.c.parent_job_id == JOBS.c.id, child.c.status.in_(ACTIVE)).exists()
    rows = session.execute(
        select(
            JOBS.c.id,
            JOBS.c.tenant_id,
            JOBS.c.job_type,
            JOBS.c.status,
            JOBS.c.params,
            JOBS.c.priority,
            JOBS.c.max_attempts,
            JOBS.c.timeout_s,
            JOBS.c.concurrency_key,
        )
        .where(and_(job_filter.where(), JOBS.c.status.in_(statuses), ~in_flight))
        .order_by(JOBS.c.id)
        .limit(limit + 1)
    ).mappings()
    out = []
    for r in rows:
        row = dict(r)
        row["params"] = read_json(row["params"]) or {}
        out.append(row)
    return out


def cancel_candidates(session: Executor, job_filter: JobFilter, *, limit: int) -> list[int]:
    """Ids of the queued and running jobs matching the filter (at most ``limit`` + 1)."""
    statuses = _statuses(job_filter, ACTIVE)
    if not statuses:
        return []
    query = select(JOBS.c.id).where(and_(job_filter.where(), JOBS.c.status.in_(statuses))).order_by(JOBS.c.id)
    return list(session.scalars(query.limit(limit + 1)))


def cancel_many(
    session: Executor, job_ids: list[int], *, by: str, now: dt.datetime | None = None
) -> tuple[list[int], list[int]]:
    """Cancel these jobs: queued (and paused) ones at once, running ones at their next checkpoint.

    Returns (cancelled, stopping); jobs that finished meanwhile are in neither.
    """
    if not job_ids:
        return [], []
    why = f"cancelled by {by}"
    t = PipelineJob
    cancelled = session.scalars(
        update(t)
        .where(t.id.in_(job_ids), t.status.in_(("QUEUED", "PAUSED")))
        .values(status="CANCELLED", completed_at=now or utcnow(), error=why)
        .returning(t.id)
    ).all()
    stopping = session.scalars(
        update(t)
        .where(t.id.in_(job_ids), t.status == "RUNNING", t.cancel_requested.is_(False))
        .values(cancel_requested=True, error=why)
        .returning(t.id)
    ).all()
    return sorted(cancelled), sorted(stopping)
