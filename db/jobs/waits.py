"""Jobs that wait for the outside world: callbacks and approvals (the ``job_waits`` table).

A workflow suspends its job with a wait: the runner writes the job ``WAITING`` (no runner, no
lease, no attempt spent; ``run_at`` is the wait's deadline) and the job is claimed again only
once the wait is resolved — by a callback delivery (:func:`deliver`), a person's decision
(:func:`decide`) or its deadline (:func:`wake_due`, then the workflow sees it timed out).

Exactly once: a wait's ``outcome`` is written by one guarded ``UPDATE … WHERE outcome IS
NULL``; whoever loses that race changes nothing. A resolution and a suspension both lock the job
row first (a no-op ``UPDATE``), so a callback that arrives while the job is still finishing the
attempt that opened the wait is never lost: the suspension then sees the resolved wait and
queues the job at once instead of parking it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Table, delete, insert, select, text

from db.jobs._sql import JOBS, Executor, dialect, dumps, read_json, read_ts, ts, utcnow
from db.jobs.log import append_step
from db.models import JobWait, Tenant
from db.models.base import TERMINAL

Delivery = Literal["resumed", "duplicate", "unknown"]
WAITS = cast(Table, JobWait.__table__)


def hash_token(token: str) -> str:
    """What is stored of a callback URL's token: its SHA-256 (the token itself is never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Wait:
    id: int
    job_id: int
    tenant_id: int
    seq: int
    reason: str
    deadline_at: dt.datetime
    outcome: str | None
    payload: dict[str, Any] | None
    detail: dict[str, Any] | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    secret_ciphertext: str | None = None


_COLUMNS = (
    "id, job_id, tenant_id, seq, reason, deadline_at, outcome, payload, detail, resolved_by, resolved_at, "
    "secret_ciphertext"
)


def _wait(row: Any) -> Wait:
    return Wait(
        id=row[0], job_id=row[1], tenant_id=row[2], seq=row[3], reason=row[4],
        deadline_at=read_ts(row[5]) or utcnow(), outcome=row[6], payload=read_json(row[7]),
        detail=read_json(row[8]), resolved_by=row[9], resolved_at=read_ts(row[10]), secret_ciphertext=row[11],
    )  # fmt: skip


def get(ex: Executor, job_id: int, seq: int) -> Wait | None:
    """The job's ``seq``-th wait (1-based), if the workflow reached it before."""
    row = ex.execute(text(f"SELECT {_COLUMNS} FROM job_waits WHERE job_id = :job AND seq = :seq"),
                     {"job": job_id, "seq": seq}).first()  # fmt: skip
    return None if row is None else _wait(row)


def by_id(ex: Executor, wait_id: int) -> Wait | None:
    row = ex.execute(text(f"SELECT {_COLUMNS} FROM job_waits WHERE id = :id"), {"id": wait_id}).first()
    return None if row is None else _wait(row)


def by_token(ex: Executor, token: str) -> Wait | None:
    row = ex.execute(text(f"SELECT {_COLUMNS} FROM job_waits WHERE token_hash = :h"),
                     {"h": hash_token(token)}).first()  # fmt: skip
    return None if row is None else _wait(row)


def open_wait(
    ex: Executor,
    *,
    job_id: int,
    tenant_id: int,
    seq: int,
    reason: str,
    deadline: dt.datetime,
    token: str | None = None,
    secret_ciphertext: str | None = None,
    detail: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Wait:
    """Record a new wait (a callback's ``token`` is stored hashed)."""
    ex.execute(
        insert(WAITS).values(
            job_id=job_id, tenant_id=tenant_id, seq=seq, reason=reason, deadline_at=deadline,
            token_hash=hash_token(token) if token else None, secret_ciphertext=secret_ciphertext,
            detail=detail, created_at=now or utcnow(),
        )
    )  # fmt: skip
    found = get(ex, job_id, seq)
    assert found is not None
    return found


def discard(ex: Executor, wait_id: int) -> None:
    """Forget a wait whose external work could not be started (the retry opens a fresh one)."""
    ex.execute(delete(WAITS).where(WAITS.c.id == wait_id))


def _lock_job(ex: Executor, job_id: int) -> str | None:
    """Take the job row's write lock (both dialects); returns its status."""
    row = ex.execute(text("UPDATE pipeline_jobs SET status = status WHERE id = :id RETURNING status"),
                     {"id": job_id}).first()  # fmt: skip
    return None if row is None else str(row[0])


def suspend(
    ex: Executor, job_id: int, *, runner_id: str, attempt: int, wait_id: int, now: dt.datetime | None = None
) -> str | None:
    """End the attempt by waiting: ``WAITING`` until the wait's deadline, without spending an attempt.

    Returns the new status (``QUEUED`` when the wait was resolved meanwhile, ``CANCELLED`` when a
    cancel was asked), or None when this runner no longer held the job.
    """
    now = now or utcnow()
    name = dialect(ex)
    _lock_job(ex, job_id)
    wait = by_id(ex, wait_id)
    if wait is None:
        return None
    resolved = wait.outcome is not None or wait.deadline_at <= now
    row = ex.execute(
        text(
            """
UPDATE pipeline_jobs SET
    status = CASE WHEN cancel_requested THEN 'CANCELLED' WHEN :resolved THEN 'QUEUED' ELSE 'WAITING' END,
    completed_at = CASE WHEN cancel_requested THEN :now ELSE NULL END,
    attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts - 1 END,
    run_at = CASE WHEN :resolved THEN :now ELSE :until END,
    attempt_started = false, deadline_at = NULL, locked_by = NULL, locked_until = NULL
WHERE id = :id AND status = 'RUNNING' AND locked_by = :runner AND attempts = :attempt
RETURNING status
"""
        ),
        {"id": job_id, "runner": runner_id, "attempt": attempt, "resolved": resolved,
         "now": ts(now, name), "until": ts(wait.deadline_at, name)},
    ).first()  # fmt: skip
    return None if row is None else str(row[0])


def _resolve(ex: Executor, wait: Wait, *, outcome: str, payload: dict[str, Any], by: str, now: dt.datetime) -> bool:
    """Write the wait's outcome once; requeue its job if it was parked. False when already resolved."""
    name = dialect(ex)
    status = _lock_job(ex, wait.job_id)
    if status is None or status in TERMINAL:
        return False
    row = ex.execute(
        text(
            f"UPDATE job_waits SET outcome = :outcome, payload = {_json_param(name)}, resolved_by = :by, "
            "resolved_at = :now "
            "WHERE id = :id AND outcome IS NULL AND deadline_at > :now RETURNING id"
        ),
        {"outcome": outcome, "payload": dumps(payload), "by": by, "now": ts(now, name), "id": wait.id},
    ).first()
    if row is None:
        return False
    ex.execute(
        text("UPDATE pipeline_jobs SET status = 'QUEUED', run_at = :now WHERE id = :id AND status = 'WAITING'"),
        {"id": wait.job_id, "now": ts(now, name)},
    )
    return True


def _json_param(dialect_name: str) -> str:
    return "CAST(:payload AS jsonb)" if dialect_name == "postgresql" else ":payload"


def deliver(
    ex: Executor, token: str, payload: dict[str, Any], *, by: str = "callback", now: dt.datetime | None = None
) -> Delivery:
    """A callback arrived for ``token``: resume its job once (``resumed``), or say why not.

    ``duplicate``: the wait already received a callback (nothing changes); ``unknown``: no such
    token, or its wait expired, was decided otherwise, or its job ended.
    """
    now = now or utcnow()
    wait = by_token(ex, token)
    if wait is None or wait.reason != "callback":
        return "unknown"
    if _resolve(ex, wait, outcome="received", payload=payload, by=by, now=now):
        append_step(ex, wait.job_id, f"callback {wait.seq} received", kind="info", at=now)
        return "resumed"
    again = by_id(ex, wait.id)
    return "duplicate" if again is not None and again.outcome == "received" else "unknown"


def decide(
    ex: Executor, wait_id: int, *, approved: bool, by: str, comment: str, now: dt.datetime | None = None
) -> bool:
    """Approve or reject an open approval; False when it was already decided, expired or ended."""
    now = now or utcnow()
    wait = by_id(ex, wait_id)
    if wait is None or wait.reason != "approval":
        return False
    outcome = "approved" if approved else "rejected"
    payload = {"approved": approved, "by": by, "comment": comment}
    if not _resolve(ex, wait, outcome=outcome, payload=payload, by=by, now=now):
        return False
    append_step(ex, wait.job_id, f"{outcome} by {by}" + (f": {comment}" if comment else ""), kind="info", at=now)
    return True


def time_out(ex: Executor, wait_id: int, *, now: dt.datetime | None = None) -> Wait:
    """Mark a wait past its deadline ``timed_out`` (unless something resolved it first); the wait after."""
    name = dialect(ex)
    ex.execute(
        text("UPDATE job_waits SET outcome = 'timed_out', resolved_at = :now, resolved_by = 'deadline' "
             "WHERE id = :id AND outcome IS NULL"),
        {"id": wait_id, "now": ts(now or utcnow(), name)},
    )  # fmt: skip
    found = by_id(ex, wait_id)
    assert found is not None
    return found


def wake_due(ex: Executor, *, now: dt.datetime | None = None) -> list[int]:
    """Queue the waiting jobs whose deadline passed: they run again and see their wait timed out."""
    name = dialect(ex)
    rows = ex.execute(
        text("UPDATE pipeline_jobs SET status = 'QUEUED' WHERE status = 'WAITING' AND run_at <= :now RETURNING id"),
        {"now": ts(now or utcnow(), name)},
    )
    return [r[0] for r in rows]


@dataclass(frozen=True)
class OpenApproval:
    wait_id: int
    job_id: int
    tenant_id: int
    tenant: str
    job_type: str
    summary: str
    detail: dict[str, Any]
    created_at: dt.datetime
    deadline_at: dt.datetime


def open_approvals(ex: Executor, *, tenant_ids: list[int] | None = None, limit: int = 200) -> list[OpenApproval]:
    """Approvals nobody decided yet whose job waits for them, oldest first."""
    w = WAITS.c
    query = (
        select(w.id, w.job_id, w.tenant_id, Tenant.name, JOBS.c.job_type, w.detail, w.created_at, w.deadline_at)
        .join_from(WAITS, JOBS, JOBS.c.id == w.job_id)
        .join(Tenant, Tenant.id == w.tenant_id)
        .where(w.reason == "approval", w.outcome.is_(None), JOBS.c.status == "WAITING")
        .order_by(w.created_at, w.id)
        .limit(limit)
    )
    if tenant_ids is not None:
        query = query.where(w.tenant_id.in_(tenant_ids))
    out = []
    for r in ex.execute(query):
        detail = dict(r[5] or {})
        out.append(OpenApproval(r[0], r[1], r[2], str(r[3]), r[4], str(detail.get("summary", "")), detail, r[6], r[7]))
    return out


def waits_of(ex: Executor, job_id: int) -> list[Wait]:
    """Every wait of one job, in order (the job page shows them)."""
    rows = ex.execute(text(f"SELECT {_COLUMNS} FROM job_waits WHERE job_id = :job ORDER BY seq"), {"job": job_id})
    return [_wait(r) for r in rows]
