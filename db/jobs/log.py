"""What a job leaves behind while it runs: steps, related records, progress; and pruning."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, text

from db.jobs import partitions
from db.jobs._sql import JOBS, RELATED, STEPS, Executor, dialect, utcnow
from db.models import RECORD_ACTIONS
from db.models.base import TERMINAL

STEP_KINDS = ("info", "warning", "error", "call", "progress")


def append_step(
    session: Executor,
    job_id: int,
    message: str,
    *,
    kind: str = "info",
    attempt: int = 1,
    system: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status_code: int | None = None,
    latency_ms: float | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one line to the job's ordered step log (kind ``call`` for an external API call)."""
    session.execute(
        insert(STEPS).values(
            job_id=job_id,
            attempt=attempt,
            kind=kind,
            message=message,
            system=system,
            method=method,
            path=path[:500] if path else path,
            status_code=status_code,
            latency_ms=latency_ms,
            at=at or utcnow(),
        )
    )


def record_related(
    session: Executor,
    job_id: int,
    *,
    tenant_id: int,
    system: str,
    record_type: str,
    record_id: str,
    action: str,
    url: str | None = None,
    at: dt.datetime | None = None,
    label: str | None = None,
) -> None:
    """Note an external record the job read or wrote (action READ, CREATE or UPDATE).

    ``label`` is what people know the record by (an invoice number, an order name, an email):
    record lookup finds the job by it as well as by the id.
    """
    if action not in RECORD_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(RECORD_ACTIONS)}, not {action!r}")
    session.execute(
        insert(RELATED).values(
            job_id=job_id,
            tenant_id=tenant_id,
            system=system,
            record_type=record_type,
            record_id=str(record_id),
            record_label=label[:255] if label else None,
            action=action,
            url=url,
            at=at or utcnow(),
        )
    )


def set_progress(session: Executor, job_id: int, fraction: float) -> None:
    """Store ``metrics.progress`` (0..1) so the dashboard can show how far a job got."""
    fraction = min(1.0, max(0.0, float(fraction)))
    if dialect(session) == "postgresql":
        sql = (
            "UPDATE pipeline_jobs SET metrics = COALESCE(metrics, '{}'::jsonb) "
            "|| jsonb_build_object('progress', CAST(:f AS float8)) WHERE id = :id"
        )
    else:
        sql = "UPDATE pipeline_jobs SET metrics = json_set(COALESCE(metrics, '{}'), '$.progress', :f) WHERE id = :id"
    session.execute(text(sql), {"f": fraction, "id": job_id})


def cancel_requested(session: Executor, job_id: int) -> bool:
    row = session.execute(select(JOBS.c.cancel_requested).where(JOBS.c.id == job_id)).first()
    return bool(row and row[0])


def prune(session: Executor, older_than_days: int, *, limit: int = 5000, now: dt.datetime | None = None) -> int:
    """Delete up to ``limit`` finished jobs completed more than ``older_than_days`` ago.

    Their steps and related records go with them (ON DELETE CASCADE); reruns keep living with
    ``parent_job_id`` set to NULL. Returns how many were deleted: call again (in a new
    transaction) while it returns ``limit``.

    This is SQLite's retention. On PostgreSQL the runner's retention (``db.jobs.retention``)
    drops whole id ranges instead and deletes row by row only in the DEFAULT partition; this
    function still deletes single jobs there, wherever they are (``partitions.prune_rows``).
    """
    t = JOBS
    cutoff = (now or utcnow()) - dt.timedelta(days=older_than_days)
    if partitions.partitioned(session):
        return partitions.prune_rows(session, cutoff, limit)
    victims = (
        select(t.c.id)
        .where(t.c.status.in_(TERMINAL), t.c.completed_at < cutoff)
        .order_by(t.c.completed_at)
        .limit(limit)
        .scalar_subquery()
    )
    result = session.execute(delete(t).where(t.c.id.in_(victims)))
    return int(result.rowcount)  # type: ignore[attr-defined]
