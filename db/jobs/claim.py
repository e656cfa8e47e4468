"""Claiming jobs and giving them back: the runner's side of the queue.

``claim`` marks a batch ``RUNNING`` in one statement (PostgreSQL: ``FOR UPDATE SKIP LOCKED``
in a CTE; SQLite: one atomic ``UPDATE … RETURNING``, SQLite having a single writer):
``locked_by``, ``locked_until = now + lease``, ``started_at`` (first claim) and ``deadline_at``
(this attempt's deadline, kept across ``poll_later``). A claim spends no attempt:
:func:`start_many` does, committed just before the handlers run (``attempts += 1``,
``attempt_started``; the runner marks every start its workers have waiting in one statement),
so the reaper gives a dead runner's prefetched, never-started jobs back at no cost.

The exception: ``claim(start=k)`` also starts its first ``k`` jobs (in the order they are
returned), for a runner that has ``k`` workers idle and waiting, which run them the moment the
claim commits. Their start is then committed with their claim, before any handler runs, and
each job writes one row version fewer (claim and start are one update; see docs/benchmarks.md).

A job a client pause covers is never claimed (``db.jobs.pauses``).

Concurrency keys: a candidate whose key is held by a RUNNING job is not claimable, and a batch
takes at most one job per key. On PostgreSQL two runners could still claim two jobs of one
key at the same instant (neither sees the other's uncommitted claim), so a batch holding
keyed jobs then takes a transaction-scoped advisory lock per key (in key order: no
deadlock), re-checks with a fresh snapshot and gives back the losers — all before commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text

from db.jobs._sql import Executor, dialect, driver_rows, driver_sql, read_json, read_ts, ts, utcnow
from db.jobs.pauses import not_held_sql

# The advisory-lock namespace of concurrency keys (first argument of pg_advisory_xact_lock).
ADVISORY_NS = 7_001_013


@dataclass(frozen=True)
class ClaimedJob:
    """A job this runner holds. ``attempt`` is the attempt number it will run (1-based) once started."""

    id: int
    tenant_id: int
    job_type: str
    params: dict[str, Any]
    attempt: int
    max_attempts: int
    timeout_s: int
    deadline_at: dt.datetime
    claimed_at: dt.datetime
    priority: int
    run_at: dt.datetime
    concurrency_key: str | None
    cancel_requested: bool
    polls: int = 0  # times the job asked to be polled again (``metrics.polls``)
    started: bool = False  # its attempt was spent by the claim itself (``claim(start=…)``)


_CANDIDATES = f"""
    SELECT j.id, j.concurrency_key, j.priority, j.run_at FROM pipeline_jobs j
    WHERE j.status = 'QUEUED' AND j.run_at <= :now
      AND (j.concurrency_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM pipeline_jobs r
            WHERE r.status = 'RUNNING' AND r.concurrency_key = j.concurrency_key))
      AND {not_held_sql("j")}
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT :limit
"""
# ``n`` numbers the picked jobs best first: the first ``:start`` of them are started at once.
_ONE_PER_KEY = """
    SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM (
        SELECT id, concurrency_key, priority, run_at, row_number() OVER (
            PARTITION BY concurrency_key ORDER BY priority DESC, run_at, id) AS rn
        FROM candidates) AS c
    WHERE concurrency_key IS NULL OR rn = 1
"""
_RETURNING = """
RETURNING pipeline_jobs.id, pipeline_jobs.tenant_id, pipeline_jobs.job_type, pipeline_jobs.params,
    pipeline_jobs.attempts, pipeline_jobs.max_attempts, pipeline_jobs.timeout_s,
    pipeline_jobs.deadline_at, pipeline_jobs.priority, pipeline_jobs.run_at,
    pipeline_jobs.concurrency_key, pipeline_jobs.cancel_requested, {polls}, pipeline_jobs.attempt_started
"""

_PG_CLAIM = text(
    f"""
WITH candidates AS ({_CANDIDATES} FOR UPDATE SKIP LOCKED),
picked AS ({_ONE_PER_KEY})
UPDATE pipeline_jobs SET status = 'RUNNING', attempt_started = picked.n <= :start,
    attempts = pipeline_jobs.attempts + CASE WHEN picked.n <= :start THEN 1 ELSE 0 END,
    locked_by = :runner, locked_until = :until,
    started_at = COALESCE(pipeline_jobs.started_at, :now),
    deadline_at = COALESCE(pipeline_jobs.deadline_at,
                           :now + make_interval(secs => pipeline_jobs.timeout_s))
FROM picked WHERE pipeline_jobs.id = picked.id
{_RETURNING.format(polls="COALESCE(CAST(pipeline_jobs.metrics ->> 'polls' AS int), 0)")}
"""
).bindparams(bindparam("now"), bindparam("until"))

_SQLITE_DEADLINE = "strftime('%Y-%m-%d %H:%M:%f', :now, '+' || timeout_s || ' seconds')"
_SQLITE_CLAIM = text(
    f"""
WITH candidates AS ({_CANDIDATES}), picked AS ({_ONE_PER_KEY}),
started AS (SELECT id FROM picked WHERE n <= :start)
UPDATE pipeline_jobs SET status = 'RUNNING', attempt_started = id IN (SELECT id FROM started),
    attempts = attempts + (id IN (SELECT id FROM started)),
    locked_by = :runner, locked_until = :until,
    started_at = COALESCE(started_at, :now),
    deadline_at = COALESCE(deadline_at, {_SQLITE_DEADLINE})
WHERE id IN (SELECT id FROM picked)
{_RETURNING.format(polls="COALESCE(json_extract(pipeline_jobs.metrics, '$.polls'), 0)")}
"""
)

# Giving a claimed job back undoes the claim; first-start fields set by that claim
# (recognisable by the claim's own timestamp) are cleared again.
_RELEASE = {
    "postgresql": text(
        """
UPDATE pipeline_jobs SET status = 'QUEUED',
    locked_by = NULL, locked_until = NULL,
    started_at = CASE WHEN started_at = :now THEN NULL ELSE started_at END,
    deadline_at = CASE WHEN deadline_at = :now + make_interval(secs => timeout_s)
                       THEN NULL ELSE deadline_at END
WHERE id = ANY(:ids) AND (status = 'RUNNING') IS TRUE AND locked_by = :runner AND NOT attempt_started
RETURNING id
"""
    ),
    "sqlite": text(
        f"""
UPDATE pipeline_jobs SET status = 'QUEUED',
    locked_by = NULL, locked_until = NULL,
    started_at = CASE WHEN started_at = :now THEN NULL ELSE started_at END,
    deadline_at = CASE WHEN deadline_at = {_SQLITE_DEADLINE} THEN NULL ELSE deadline_at END
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'RUNNING' AND locked_by = :runner AND NOT attempt_started
RETURNING id
"""
    ),
}


def claim(
    session: Executor,
    runner_id: str,
    *,
    limit: int,
    lease_s: float,
    now: dt.datetime | None = None,
    start: int = 0,
) -> list[ClaimedJob]:
    """Claim up to ``limit`` due jobs for ``runner_id``, best first (priority, run_at, id).

    The first ``start`` of them are started too (``ClaimedJob.started``): only for workers that
    run them as soon as this commits. The caller commits; until then the claim is invisible to
    everyone else.
    """
    now = now or utcnow()
    name = dialect(session)
    params = {
        "now": ts(now, name),
        "until": ts(now + dt.timedelta(seconds=lease_s), name),
        "runner": runner_id,
        "limit": limit,
        "start": start,
    }
    if name == "postgresql":  # the runner's hot path: straight to psycopg (``driver_rows``)
        rows = driver_rows(session, driver_sql(_PG_CLAIM), params)
    else:
        rows = list(session.execute(_SQLITE_CLAIM, params).all())
    jobs = [
        ClaimedJob(
            id=r[0],
            tenant_id=r[1],
            job_type=r[2],
            params=read_json(r[3]) or {},
            attempt=r[4] if r[13] else r[4] + 1,  # the attempt this claim runs (once started)
            max_attempts=r[5],
            timeout_s=r[6],
            deadline_at=read_ts(r[7]) or now,
            claimed_at=now,
            priority=r[8],
            run_at=read_ts(r[9]) or now,
            concurrency_key=r[10],
            cancel_requested=bool(r[11]),
            polls=int(r[12]),
            started=bool(r[13]),
        )
        for r in rows
    ]
    jobs.sort(key=lambda j: (not j.started, -j.priority, j.run_at, j.id))
    if name == "postgresql" and any(j.concurrency_key for j in jobs):
        jobs = _drop_key_races(session, runner_id, jobs, now)
    return jobs


def _drop_key_races(session: Executor, runner_id: str, jobs: list[ClaimedJob], now: dt.datetime) -> list[ClaimedJob]:
    keys = sorted({j.concurrency_key for j in jobs if j.concurrency_key})
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:ns, hashtext(k)) "
            "FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS u(k, n) ORDER BY n"
        ),
        {"ns": ADVISORY_NS, "keys": keys},
    )
    # A new statement, so a new snapshot: it sees every claim committed before our locks.
    busy = {
        r[0]
        for r in session.execute(
            text(
                "SELECT DISTINCT concurrency_key FROM pipeline_jobs WHERE status = 'RUNNING' "
                "AND concurrency_key = ANY(:keys) AND NOT (id = ANY(:ids))"
            ),
            {"keys": keys, "ids": [j.id for j in jobs]},
        )
    }
    losers = [j for j in jobs if j.concurrency_key in busy]
    if started := [j.id for j in losers if j.started]:  # started by this claim, not yet committed
        session.execute(
            text(
                "UPDATE pipeline_jobs SET attempts = attempts - 1, attempt_started = false "
                "WHERE id = ANY(:ids) AND locked_by = :runner AND attempt_started"
            ),
            {"ids": started, "runner": runner_id},
        )
    if losers:
        release(session, runner_id, losers)
    return [j for j in jobs if j.concurrency_key not in busy]


def release(session: Executor, runner_id: str, jobs: Sequence[ClaimedJob]) -> list[int]:
    """Give back claimed jobs that never started (shutdown, lost key race): as if never claimed."""
    name = dialect(session)
    by_claim: dict[dt.datetime, list[int]] = {}
    for j in jobs:
        by_claim.setdefault(j.claimed_at, []).append(j.id)
    released: list[int] = []
    for claimed_at, ids in by_claim.items():
        params: dict[str, Any] = {"now": ts(claimed_at, name), "runner": runner_id}
        params["ids"] = ids if name == "postgresql" else str(ids)
        released += [r[0] for r in session.execute(_RELEASE[name], params)]
    return released


# Spending attempts: one statement for every start a runner has waiting (``start_many``),
# each row matched with the attempt its claim expects, so a stale or foreign start changes nothing.
# PostgreSQL: the status test is written ``IS TRUE`` so it is checked on the rows the primary key
# finds; as a plain ``status = 'RUNNING'`` the planner (whose statistics see few RUNNING rows)
# walked every RUNNING row of the status index per statement, all the runners' prefetch included
# (EXPLAIN ANALYZE, 304 RUNNING: 0.38 ms against 0.23 ms, and it grows with the prefetch).
_START = {
    "postgresql": text(
        """
UPDATE pipeline_jobs SET attempts = pipeline_jobs.attempts + 1, attempt_started = true
FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS s(id, attempt)
WHERE pipeline_jobs.id = s.id AND pipeline_jobs.attempts = s.attempt - 1
  AND (status = 'RUNNING') IS TRUE AND locked_by = :runner AND NOT attempt_started
RETURNING pipeline_jobs.id
"""
    ),
    "sqlite": text(
        """
UPDATE pipeline_jobs SET attempts = attempts + 1, attempt_started = true
WHERE (id, attempts + 1) IN (
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:jobs))
  AND status = 'RUNNING' AND locked_by = :runner AND NOT attempt_started
RETURNING id
"""
    ),
}


def start_many(session: Executor, runner_id: str, jobs: Sequence[ClaimedJob]) -> set[int]:
    """Spend the attempts of ``jobs`` in one statement, just before their handlers run.

    Returns the ids still ours (not reaped, released or cancelled meanwhile, not started yet):
    only those may run. The caller commits before calling any handler: once this is visible, a
    dead runner's attempt counts (its handler may have written to a vendor); until then it cost
    nothing.
    """
    if not jobs:
        return set()
    name = dialect(session)
    params: dict[str, Any] = {"runner": runner_id}
    if name == "postgresql":
        params["ids"] = [j.id for j in jobs]
        params["attempts"] = [j.attempt for j in jobs]
        return {r[0] for r in driver_rows(session, driver_sql(_START[name]), params)}
    params["jobs"] = json.dumps([[j.id, j.attempt] for j in jobs])
    return {r[0] for r in session.execute(_START[name], params)}


def start(session: Executor, runner_id: str, job: ClaimedJob) -> bool:
    """Spend one job's attempt (``start_many`` of one); False if the job is no longer ours."""
    return job.id in start_many(session, runner_id, [job])
