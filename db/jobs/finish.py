"""Ending an attempt: complete (batched), fail with backoff, poll later, cancel; leases.

Every runner-side write is guarded by ``locked_by = runner AND attempts = attempt``: if the
lease expired and the job went to someone else, a late result changes nothing and the
function reports it (an empty list, or ``None``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from db.jobs._sql import Executor, dialect, driver_rows, driver_sql, dumps, ts, utcnow

BACKOFF_BASE_S = 2.0


def default_jitter(delay_s: float) -> float:
    """Up to +25 % of the delay, so retries of a burst of failures spread out."""
    return random.uniform(0.0, delay_s * 0.25)


def backoff_s(attempt: int, jitter: Callable[[float], float] = default_jitter) -> float:
    """Delay before retrying after failed attempt ``attempt`` (1-based): 2 s × 2^(n-1) + jitter."""
    delay: float = BACKOFF_BASE_S * 2.0 ** (attempt - 1)
    return delay + jitter(delay)


@dataclass(frozen=True)
class Finished:
    """One successful attempt for :func:`complete`."""

    job_id: int
    attempt: int
    result: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


# PostgreSQL: the rows are found by their ids (``= ANY``: primary-key probes) and only then
# checked for their status, as in the starts (``db.jobs.claim._START``). As a join on the JSON
# rows with ``status = 'RUNNING'``, the generic plan read every RUNNING job (the runners' whole
# prefetch, and the partial index's dead entries) for each batch, and with ``IS TRUE`` alone it
# scanned the partition (``tests/db/test_jobs.py``).
_COMPLETE = {
    "postgresql": text(
        """
UPDATE pipeline_jobs AS j SET status = 'COMPLETED', result = v.result,
    metrics = CASE WHEN v.metrics IS NULL THEN j.metrics
                   ELSE COALESCE(j.metrics, '{}'::jsonb) || v.metrics END,
    error = NULL, completed_at = :now, locked_by = NULL, locked_until = NULL
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, attempt int, result jsonb, metrics jsonb)
WHERE j.id = ANY(CAST(:ids AS bigint[])) AND j.id = v.id
  AND (j.status = 'RUNNING') IS TRUE AND j.locked_by = :runner AND j.attempts = v.attempt
RETURNING j.id
"""
    ),
    "sqlite": text(
        """
UPDATE pipeline_jobs SET status = 'COMPLETED', result = json_extract(v.value, '$.result'),
    metrics = CASE WHEN json_extract(v.value, '$.metrics') IS NULL THEN metrics
                   ELSE json_patch(COALESCE(metrics, '{}'), json_extract(v.value, '$.metrics')) END,
    error = NULL, completed_at = :now, locked_by = NULL, locked_until = NULL
FROM json_each(:rows) AS v
WHERE pipeline_jobs.id = json_extract(v.value, '$.id') AND status = 'RUNNING'
  AND locked_by = :runner AND attempts = json_extract(v.value, '$.attempt')
RETURNING pipeline_jobs.id
"""
    ),
}


def complete(
    session: Executor, runner_id: str, finished: Sequence[Finished], *, now: dt.datetime | None = None
) -> list[int]:
    """Mark a batch COMPLETED in one statement; returns the ids this runner still held."""
    if not finished:
        return []
    name = dialect(session)
    rows = [{"id": f.job_id, "attempt": f.attempt, "result": f.result, "metrics": f.metrics} for f in finished]
    params = {"rows": dumps(rows), "now": ts(now or utcnow(), name), "runner": runner_id}
    if name == "postgresql":  # the runner's hot path: straight to psycopg (``driver_rows``)
        params["ids"] = [f.job_id for f in finished]
        return [r[0] for r in driver_rows(session, driver_sql(_COMPLETE[name]), params)]
    return [r[0] for r in session.execute(_COMPLETE[name], params)]


# CANCELLED wins over a retry: a cancel asked while the job ran is honoured when it stops.
_FAIL = text(
    """
UPDATE pipeline_jobs SET
    status = CASE WHEN cancel_requested THEN 'CANCELLED'
                  WHEN :permanent OR attempts >= max_attempts THEN 'FAILED' ELSE 'QUEUED' END,
    run_at = CASE WHEN cancel_requested OR :permanent OR attempts >= max_attempts
                  THEN run_at ELSE :retry_at END,
    completed_at = CASE WHEN cancel_requested OR :permanent OR attempts >= max_attempts
                        THEN :now ELSE NULL END,
    error = :error, deadline_at = NULL, locked_by = NULL, locked_until = NULL
WHERE id = :id AND status = 'RUNNING' AND locked_by = :runner AND attempts = :attempt
RETURNING status
"""
)


def fail(
    session: Executor,
    job_id: int,
    *,
    runner_id: str,
    attempt: int,
    error: str,
    permanent: bool,
    now: dt.datetime | None = None,
    jitter: Callable[[float], float] = default_jitter,
) -> str | None:
    """End a failed attempt: back to QUEUED after a backoff, or FAILED (permanent or last attempt).

    Returns the new status, or None when this runner no longer held the job.
    """
    now = now or utcnow()
    name = dialect(session)
    params = {
        "id": job_id,
        "runner": runner_id,
        "attempt": attempt,
        "error": error,
        "permanent": permanent,
        "now": ts(now, name),
        "retry_at": ts(now + dt.timedelta(seconds=backoff_s(attempt, jitter)), name),
    }
    row = session.execute(_FAIL, params).first()
    return None if row is None else str(row[0])


def _requeue_sql(name: str, counter: str, *, fresh_deadline: bool) -> Any:
    """The requeue that gives the attempt back, counting why in ``metrics[counter]``."""
    if name == "postgresql":
        count = (
            f"COALESCE(metrics, '{{}}'::jsonb) || jsonb_build_object('{counter}', "
            f"COALESCE(CAST(metrics ->> '{counter}' AS int), 0) + 1)"
        )
    else:
        count = (
            f"json_set(COALESCE(metrics, '{{}}'), '$.{counter}', COALESCE(json_extract(metrics, '$.{counter}'), 0) + 1)"
        )
    # A job put back before it could do any work (its quota was spent) gets a fresh attempt and
    # deadline at its next claim; a job polling external work keeps its deadline.
    fresh = "attempt_started = false, deadline_at = NULL, " if fresh_deadline else ""
    return text(
        f"""
UPDATE pipeline_jobs SET metrics = {count},
    status = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'QUEUED' END,
    completed_at = CASE WHEN cancel_requested THEN :now ELSE NULL END,
    attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts - 1 END,
    run_at = :run_at, {fresh}locked_by = NULL, locked_until = NULL
WHERE id = :id AND status = 'RUNNING' AND locked_by = :runner AND attempts = :attempt
RETURNING status
"""
    )


# Why a job is requeued without spending its attempt: (metrics counter, fresh deadline).
REQUEUE_REASONS = {"poll": ("polls", False), "quota": ("quota_waits", True)}
_REQUEUE = {
    (name, reason): _requeue_sql(name, counter, fresh_deadline=fresh)
    for name in ("postgresql", "sqlite")
    for reason, (counter, fresh) in REQUEUE_REASONS.items()
}


def requeue_unspent(
    session: Executor,
    job_id: int,
    *,
    runner_id: str,
    attempt: int,
    run_at: dt.datetime,
    reason: str,
    now: dt.datetime | None = None,
) -> str | None:
    """Requeue a running job for ``run_at`` without spending an attempt (``reason`` in REQUEUE_REASONS).

    ``poll``: the job waits on external work; its attempt's ``deadline_at`` is kept, so the
    overall deadline still holds (the runner checks it before asking). ``quota``: the vendor
    quota is spent until ``run_at``; the job did no work it could time out on, so the next
    claim sets a fresh deadline. A request to cancel wins over the requeue. Returns the new
    status, or None when this runner no longer held the job.
    """
    now = now or utcnow()
    name = dialect(session)
    params = {"id": job_id, "runner": runner_id, "attempt": attempt, "now": ts(now, name), "run_at": ts(run_at, name)}
    row = session.execute(_REQUEUE[name, reason], params).first()
    return None if row is None else str(row[0])


def poll_later(
    session: Executor, job_id: int, *, runner_id: str, attempt: int, after_s: float, now: dt.datetime | None = None
) -> str | None:
    """Requeue a job that waits on external work ``after_s`` from now, without spending an attempt."""
    now = now or utcnow()
    run_at = now + dt.timedelta(seconds=after_s)
    return requeue_unspent(session, job_id, runner_id=runner_id, attempt=attempt, run_at=run_at, reason="poll", now=now)


def finish_cancelled(
    session: Executor,
    job_id: int,
    *,
    runner_id: str,
    attempt: int,
    now: dt.datetime | None = None,
    why: str | None = None,
) -> bool:
    """A running job stopped because it was asked to (or its approval was rejected, ``why``): CANCELLED."""
    name = dialect(session)
    row = session.execute(
        text(
            "UPDATE pipeline_jobs SET status = 'CANCELLED', completed_at = :now, locked_by = NULL, "
            "locked_until = NULL, error = COALESCE(:why, error, 'cancelled') "
            "WHERE id = :id AND status = 'RUNNING' AND locked_by = :runner AND attempts = :attempt RETURNING id"
        ),
        {"id": job_id, "runner": runner_id, "attempt": attempt, "now": ts(now or utcnow(), name), "why": why},
    ).first()
    return row is not None


def cancel(session: Executor, job_id: int, *, by: str, now: dt.datetime | None = None) -> str:
    """Cancel a job: QUEUED, WAITING or PAUSED → CANCELLED at once; RUNNING → ``cancel_requested``.

    A running job stops at its next step.

    Returns the job's status afterwards (a finished job is left as it is).
    """
    name = dialect(session)
    why = f"cancelled by {by}"
    row = session.execute(
        text(
            "UPDATE pipeline_jobs SET status = 'CANCELLED', completed_at = :now, error = :why "
            "WHERE id = :id AND status IN ('QUEUED', 'WAITING', 'PAUSED') RETURNING status"
        ),
        {"id": job_id, "now": ts(now or utcnow(), name), "why": why},
    ).first()
    if row is None:
        row = session.execute(
            text(
                "UPDATE pipeline_jobs SET cancel_requested = true, error = :why "
                "WHERE id = :id AND status = 'RUNNING' RETURNING status"
            ),
            {"id": job_id, "why": why},
        ).first()
    if row is None:
        row = session.execute(text("SELECT status FROM pipeline_jobs WHERE id = :id"), {"id": job_id}).first()
    if row is None:
        raise LookupError(f"job {job_id} does not exist")
    return str(row[0])


def heartbeat(
    session: Executor, runner_id: str, job_ids: Sequence[int], *, lease_s: float, now: dt.datetime | None = None
) -> dict[int, bool]:
    """Extend the leases of the jobs this runner holds, never waiting for a row lock.

    Returns ``{job_id: cancel_requested}`` for the jobs still held; a missing id was reaped.

    The extension skips rows another transaction is writing (PostgreSQL: ``FOR UPDATE SKIP
    LOCKED``), and a plain read then tells which of the skipped are still held. Waiting deadlocked:
    the heartbeat locked its jobs in one order while this runner's own workers, finishing a
    batch, locked the same rows in another (seen at 10,000,000 jobs of history, where each
    update holds its locks longer; issue 20). A row skipped now is being completed, failed or
    cancelled at this moment; if it is still held, the next beat (a third of the lease later)
    extends it.
    """
    if not job_ids:
        return {}
    name = dialect(session)
    until = ts((now or utcnow()) + dt.timedelta(seconds=lease_s), name)
    ids: Any = list(job_ids) if name == "postgresql" else str(list(job_ids))
    where = "id = ANY(:ids)" if name == "postgresql" else "id IN (SELECT value FROM json_each(:ids))"
    held = f"SELECT id FROM pipeline_jobs WHERE {where} AND status = 'RUNNING' AND locked_by = :runner"
    skip = " FOR UPDATE SKIP LOCKED" if name == "postgresql" else ""  # SQLite: one writer, nothing to skip
    extend = f"UPDATE pipeline_jobs SET locked_until = :until WHERE id IN ({held}{skip}) RETURNING id, cancel_requested"
    params = {"until": until, "ids": ids, "runner": runner_id}
    alive = {r[0]: bool(r[1]) for r in session.execute(text(extend), params)}
    rest = [i for i in job_ids if i not in alive]
    if rest:  # skipped (being written right now) or reaped: a plain read tells which
        params["ids"] = rest if name == "postgresql" else str(rest)
        read = held.replace("SELECT id", "SELECT id, cancel_requested")
        alive.update({r[0]: bool(r[1]) for r in session.execute(text(read), params)})
    return alive


# A dead runner's job: a started attempt counts (FAILED when it was the last); a claim whose
# handler never started is given back as it was, at no cost.
_REQUEUE_DEAD = """
UPDATE pipeline_jobs SET
    status = CASE WHEN cancel_requested THEN 'CANCELLED'
                  WHEN attempt_started AND attempts >= max_attempts THEN 'FAILED' ELSE 'QUEUED' END,
    completed_at = CASE WHEN cancel_requested OR (attempt_started AND attempts >= max_attempts)
                        THEN :now ELSE NULL END,
    error = CASE WHEN attempt_started OR cancel_requested
                 THEN :why || ': runner ' || COALESCE(locked_by, '?') || ' stopped during attempt '
                      || CAST(attempts AS VARCHAR)
                 ELSE error END,
    attempt_started = false, deadline_at = NULL, locked_by = NULL, locked_until = NULL
WHERE status = 'RUNNING' AND {where}
RETURNING id, status
"""
_REAP = text(_REQUEUE_DEAD.format(where="locked_until < :now"))


def reap_expired(session: Executor, *, now: dt.datetime | None = None) -> dict[int, str]:
    """Requeue jobs whose lease expired (their runner died); a started attempt counts, an unstarted claim not.

    Returns ``{job_id: new status}``.
    """
    name = dialect(session)
    params = {"now": ts(now or utcnow(), name), "why": "lease expired"}
    return {r[0]: str(r[1]) for r in session.execute(_REAP, params)}


def abandon(
    session: Executor, runner_id: str, job_ids: Sequence[int], *, now: dt.datetime | None = None
) -> dict[int, str]:
    """Requeue jobs a stopping runner could not finish within its grace period.

    Like the reaper, but at once rather than after the lease: the attempt counts.
    """
    if not job_ids:
        return {}
    name = dialect(session)
    where = "id = ANY(:ids)" if name == "postgresql" else "id IN (SELECT value FROM json_each(:ids))"
    stmt = text(_REQUEUE_DEAD.format(where=f"locked_by = :runner AND {where}"))
    ids: Any = list(job_ids) if name == "postgresql" else str(list(job_ids))
    params = {"now": ts(now or utcnow(), name), "why": "shut down", "runner": runner_id, "ids": ids}
    return {r[0]: str(r[1]) for r in session.execute(stmt, params)}
