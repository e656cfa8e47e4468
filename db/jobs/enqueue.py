"""Putting jobs on the queue: enqueue one or many, rerun one or many.

Each function takes a session (or connection) and never commits: the caller's transaction
makes the jobs visible, and on PostgreSQL the ``NOTIFY zixly_jobs`` sent here is delivered
when that transaction commits, waking the runners' dispatch within milliseconds.

A batch is one ``INSERT … SELECT`` over a JSON document (``jsonb_to_recordset`` on
PostgreSQL, ``json_each`` on SQLite): one statement and one bind parameter whatever the
batch size, so the statement is compiled once and cached. An idempotency key that already
exists (per tenant; on PostgreSQL in ``job_idempotency_keys``, in the current generation or
a closed one, see ``_PG_INSERT``) is skipped and the existing job's id is returned with
``created=False``; a concurrent duplicate waits on the unique index and then resolves to the
winner's row, so two callers can never create two jobs for one key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, insert, literal, select, text, tuple_

from db.filters import JobFilter
from db.jobs._sql import (
    CHANNEL,
    JOBS,
    Executor,
    dialect,
    driver_pipeline,
    driver_rows,
    driver_sql,
    dumps,
    ts_json,
    utcnow,
)
from db.jobs.pauses import ALL, PAUSES
from db.models import PipelineJob

# Rows per statement. PostgreSQL binds at most 65,535 parameters but this path binds one; the
# chunk keeps each statement's JSON document and its RETURNING set reasonably small. On
# PostgreSQL the statements of a batch are pipelined (``driver_pipeline``): it inserts one while
# Python builds the next, so a batch takes about the longer of the two instead of their sum
# (5,000 jobs: the statements alone 40,600 → 45,900 jobs/s with 500 rows each; through
# ``enqueue_many``, which also builds and maps the rows, +4–10 %: docs/benchmarks.md).
CHUNK = 5000
PG_CHUNK = 500


@dataclass(frozen=True)
class JobSpec:
    """What to enqueue. Defaults follow README "The runner and the job lifecycle"."""

    tenant_id: int
    job_type: str
    params: dict[str, Any] = field(default_factory=dict)
    priority: int = 0  # higher runs first
    run_at: dt.datetime | None = None  # None: now
    max_attempts: int = 3
    timeout_s: int = 3600
    idempotency_key: str | None = None  # unique per tenant
    concurrency_key: str | None = None  # jobs sharing one never run at the same time
    created_by: str | None = None  # a user's email, "webhook:xero", "schedule:7", …
    parent_job_id: int | None = None  # set by rerun


@dataclass(frozen=True)
class Enqueued:
    id: int
    created: bool  # False: the idempotency key existed and ``id`` is the existing job
    joined: bool = False  # the event joined job ``id`` about the same record (``db.jobs.debounce``)


def _held(tenant: str, job_type: str) -> str:
    """The new job's status: PAUSED while a pause covers its tenant or workflow (``db.jobs.pauses``)."""
    return (
        "CASE WHEN EXISTS (SELECT 1 FROM client_pauses p WHERE p.tenant_id = "
        f"{tenant} AND p.workflow IN ('*', {job_type})) THEN 'PAUSED' ELSE 'QUEUED' END"
    )


# On PostgreSQL the jobs table is partitioned by id (``db.jobs.partitions``), where a unique
# key must contain the id: the per-tenant idempotency key lives in ``job_idempotency_keys``,
# itself partitioned by generation (``db.jobs.idempotency_keys`` says why this is exact under
# concurrency). Each row takes its id first (``nextval`` in ``i`` order, so ids follow the
# batch's order); a key is new if no closed generation holds it for a job that still exists
# (one whose id range retention has not dropped: ``job_ranges_dropped``, a small table, where
# a join to the partitioned jobs cost more planning than the whole batch's inserts), and it is
# inserted into the current generation with ON CONFLICT DO NOTHING (a concurrent duplicate
# waits on that partition's unique index, then is skipped); a keyed job is inserted only if its
# key row was. The current generation is read once (an InitPlan: its partition is pruned from
# the lookup). Rows without a key skip both lookups. The look-up is a LATERAL probe per row
# (``LIMIT 1`` keeps the planner from making it a join): as an anti-join, the generic plan hashed
# the whole current generation, filtered out to nothing, for every batch (19,000 keys read per
# batch in a 10 s benchmark; ``tests/db/test_idempotency_keys.py``). Keys are inserted in key
# order (the batch's first copy of a key first): two batches sharing keys in different orders
# then wait on each other's keys in the same order instead of deadlocking (in batch order, 10 of
# 150 rounds of four concurrent six-key batches failed with ``deadlock detected``).
_PG_INSERT = text(
    f"""
WITH r AS MATERIALIZED (
    SELECT r.*, nextval('pipeline_jobs_id_seq') AS id
    FROM (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(i int, tenant_id int, job_type text,
        params jsonb, priority int, run_at timestamptz, max_attempts int, timeout_s int,
        idempotency_key text, concurrency_key text, created_by text, parent_job_id bigint)
        ORDER BY r.i) AS r
), k AS (
    INSERT INTO job_idempotency_keys (tenant_id, idempotency_key, job_id, generation)
    SELECT r.tenant_id, r.idempotency_key, r.id, (SELECT max(lo) FROM job_key_generations)
    FROM r LEFT JOIN LATERAL (
        SELECT true AS held FROM job_idempotency_keys o
        WHERE o.tenant_id = r.tenant_id AND o.idempotency_key = r.idempotency_key
        AND o.generation < (SELECT max(lo) FROM job_key_generations)
        AND NOT EXISTS (SELECT 1 FROM job_ranges_dropped d WHERE d.lo <= o.job_id AND o.job_id < d.hi)
        LIMIT 1) AS closed ON true
    WHERE r.idempotency_key IS NOT NULL AND closed.held IS NULL
    ORDER BY r.tenant_id, r.idempotency_key, r.i
    ON CONFLICT DO NOTHING
    RETURNING job_id
), ins AS (
    INSERT INTO pipeline_jobs (id, tenant_id, job_type, status, params, priority, run_at, attempts,
        max_attempts, timeout_s, idempotency_key, concurrency_key, created_by, parent_job_id,
        cancel_requested, created_at)
    SELECT r.id, r.tenant_id, r.job_type, {_held("r.tenant_id", "r.job_type")}, r.params, r.priority, r.run_at, 0,
        r.max_attempts, r.timeout_s, r.idempotency_key, r.concurrency_key, r.created_by,
        r.parent_job_id, false, CAST(:now AS timestamptz)
    FROM r WHERE r.idempotency_key IS NULL OR r.id IN (SELECT job_id FROM k)
    ORDER BY r.i
    RETURNING id, tenant_id, idempotency_key
)
SELECT ins.id, ins.tenant_id, ins.idempotency_key
FROM ins CROSS JOIN (SELECT pg_notify('{CHANNEL}', '')) AS woken
"""
)

# The same without the NOTIFY, for callers that wake the runners after their commit (see
# ``notify_runners``).
_PG_INSERT_QUIET = text(
    _PG_INSERT.text.replace(f"FROM ins CROSS JOIN (SELECT pg_notify('{CHANNEL}', '')) AS woken", "FROM ins")
)
assert _PG_INSERT_QUIET.text != _PG_INSERT.text

_SQLITE_INSERT = text(
    f"""
INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, priority, run_at, attempts,
    max_attempts, timeout_s, idempotency_key, concurrency_key, created_by, parent_job_id,
    cancel_requested, created_at)
SELECT json_extract(value, '$.tenant_id'), json_extract(value, '$.job_type'),
    {_held("json_extract(value, '$.tenant_id')", "json_extract(value, '$.job_type')")},
    json_extract(value, '$.params'), json_extract(value, '$.priority'),
    json_extract(value, '$.run_at'), 0, json_extract(value, '$.max_attempts'),
    json_extract(value, '$.timeout_s'), json_extract(value, '$.idempotency_key'),
    json_extract(value, '$.concurrency_key'), json_extract(value, '$.created_by'),
    json_extract(value, '$.parent_job_id'), 0, :now
FROM json_each(:rows) WHERE true ORDER BY key
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id, tenant_id, idempotency_key
"""
)


def enqueue(
    session: Executor,
    *,
    tenant_id: int,
    job_type: str,
    params: dict[str, Any] | None = None,
    priority: int = 0,
    run_at: dt.datetime | None = None,
    max_attempts: int = 3,
    timeout_s: int = 3600,
    idempotency_key: str | None = None,
    concurrency_key: str | None = None,
    created_by: str | None = None,
    parent_job_id: int | None = None,
    now: dt.datetime | None = None,
    notify: bool = True,
) -> Enqueued:
    """Queue one job (one statement; a second only when the idempotency key existed).

    ``notify=False`` leaves the NOTIFY out of this transaction: see ``notify_runners``.
    """
    spec = JobSpec(
        tenant_id=tenant_id,
        job_type=job_type,
        params=params or {},
        priority=priority,
        run_at=run_at,
        max_attempts=max_attempts,
        timeout_s=timeout_s,
        idempotency_key=idempotency_key,
        concurrency_key=concurrency_key,
        created_by=created_by,
        parent_job_id=parent_job_id,
    )
    return enqueue_many(session, [spec], now=now, notify=notify)[0]


def enqueue_many(
    session: Executor, specs: Sequence[JobSpec], *, now: dt.datetime | None = None, notify: bool = True
) -> list[Enqueued]:
    """Queue many jobs, a statement per chunk (pipelined on PostgreSQL); results are in ``specs`` order."""
    if not specs:
        return []
    name = dialect(session)
    now_json = ts_json(now or utcnow(), name)
    size = PG_CHUNK if name == "postgresql" else CHUNK
    chunks = [specs[start : start + size] for start in range(0, len(specs), size)]
    if name == "postgresql":
        sql = driver_sql(_PG_INSERT if notify else _PG_INSERT_QUIET)
        if len(chunks) == 1:
            results = [driver_rows(session, sql, _chunk_params(chunks[0], now_json, name))]
        else:  # each statement built as the one before it runs
            results = driver_pipeline(session, ((sql, _chunk_params(chunk, now_json, name)) for chunk in chunks))
    else:
        results = [list(session.execute(_SQLITE_INSERT, _chunk_params(chunk, now_json, name))) for chunk in chunks]
    out: list[Enqueued] = []
    for chunk, inserted in zip(chunks, results, strict=True):
        out.extend(_resolve(session, chunk, inserted))
    return out


def notify_runners(session: Executor) -> None:
    """Wake the runners, in a transaction of its own, after jobs were enqueued with ``notify=False``.

    Why it exists: PostgreSQL serialises the commits of all transactions that sent a NOTIFY
    (one cluster-wide lock from pre-commit until the commit is flushed), so many clients that
    each enqueue one job with its NOTIFY inside the transaction commit one fsync at a time
    (~400 jobs/s here, however many clients). Enqueued quietly, their commits share fsyncs
    (group commit); a transaction that only notifies writes no WAL before its commit record,
    so PostgreSQL commits it without waiting for a flush and holds that lock for
    microseconds. Call it after the enqueue's commit (an autocommit connection makes it one
    round trip): the runners are woken only once the job is durable; if the caller dies in
    between, the runners' poll finds the job. On SQLite it does nothing.
    """
    if dialect(session) == "postgresql":
        session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))


def _chunk_params(specs: Sequence[JobSpec], now_json: str, name: str) -> dict[str, Any]:
    """One statement's parameters: the chunk's rows as one JSON document (``i``: its place)."""
    rows: list[dict[str, Any]] = []
    for i, s in enumerate(specs):
        row = {
            "i": i,
            "tenant_id": s.tenant_id,
            "job_type": s.job_type,
            "params": s.params,
            "priority": s.priority,
            "run_at": now_json if s.run_at is None else ts_json(s.run_at, name),
            "max_attempts": s.max_attempts,
            "timeout_s": s.timeout_s,
        }
        # Absent keys read as NULL on both databases: a smaller document to write and parse.
        if s.idempotency_key is not None:
            row["idempotency_key"] = s.idempotency_key
        if s.concurrency_key is not None:
            row["concurrency_key"] = s.concurrency_key
        if s.created_by is not None:
            row["created_by"] = s.created_by
        if s.parent_job_id is not None:
            row["parent_job_id"] = s.parent_job_id
        rows.append(row)
    return {"rows": dumps(rows), "now": now_json}


def _resolve(session: Executor, specs: Sequence[JobSpec], inserted: list[Any]) -> list[Enqueued]:
    """A chunk's outcome per spec, from the rows its statement inserted (id, tenant, key)."""
    # Sequence values follow the insert order, so ascending ids are specs order minus skips.
    inserted.sort(key=lambda r: r[0])
    created_keys = {(r[1], r[2]) for r in inserted if r[2] is not None}
    fresh = iter(r[0] for r in inserted)
    out: list[Enqueued | None] = []
    existing: set[tuple[int, str]] = set()
    claimed_keys: set[tuple[int, str]] = set()
    for s in specs:
        key = (s.tenant_id, s.idempotency_key) if s.idempotency_key is not None else None
        if key is None:
            out.append(Enqueued(next(fresh), True))
        elif key in created_keys and key not in claimed_keys:
            claimed_keys.add(key)
            out.append(Enqueued(next(fresh), True))
        else:
            existing.add(key)
            out.append(None)
    if existing:
        ids = _ids_for_keys(session, existing)
        # A key created earlier in this batch resolves to that new row too.
        out = [
            o if o is not None else Enqueued(ids[(s.tenant_id, s.idempotency_key)], False)  # type: ignore[index]
            for o, s in zip(out, specs, strict=True)
        ]
    return [o for o in out if o is not None]


def _ids_for_keys(session: Executor, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    if dialect(session) == "postgresql":
        rows = session.execute(
            text(
                "SELECT k.job_id, k.tenant_id, k.idempotency_key FROM job_idempotency_keys k "
                "JOIN unnest(CAST(:tenants AS int[]), CAST(:keys AS text[])) AS w(tenant_id, key) "
                "ON k.tenant_id = w.tenant_id AND k.idempotency_key = w.key "
                # A closed generation's key whose job's range retention dropped is free, as in _PG_INSERT.
                "WHERE NOT EXISTS (SELECT 1 FROM job_ranges_dropped d WHERE d.lo <= k.job_id AND k.job_id < d.hi)"
            ),
            {"tenants": [k[0] for k in sorted(keys)], "keys": [k[1] for k in sorted(keys)]},
        ).all()
        return {(r[1], r[2]): r[0] for r in rows}
    t = JOBS
    rows = session.execute(
        select(t.c.id, t.c.tenant_id, t.c.idempotency_key).where(
            tuple_(t.c.tenant_id, t.c.idempotency_key).in_(sorted(keys))
        )
    ).all()
    return {(r[1], r[2]): r[0] for r in rows}


def rerun(session: Executor, job_id: int, *, params: dict[str, Any] | None = None, created_by: str) -> int:
    """A new job with the original's (or edited) params and ``parent_job_id``; the original never changes."""
    t = JOBS
    row = session.execute(
        select(
            t.c.tenant_id,
            t.c.job_type,
            t.c.params,
            t.c.priority,
            t.c.max_attempts,
            t.c.timeout_s,
            t.c.concurrency_key,
        ).where(t.c.id == job_id)
    ).one_or_none()
    if row is None:
        raise LookupError(f"job {job_id} does not exist")
    spec = JobSpec(
        tenant_id=row.tenant_id,
        job_type=row.job_type,
        params=dict(row.params if params is None else params),
        priority=row.priority,
        max_attempts=row.max_attempts,
        timeout_s=row.timeout_s,
        concurrency_key=row.concurrency_key,
        created_by=created_by,
        parent_job_id=job_id,
    )
    return enqueue_many(session, [spec])[0].id


def bulk_rerun(
    session: Executor, job_filter: JobFilter, *, created_by: str, now: dt.datetime | None = None
) -> list[int]:
    """Rerun every FAILED job matching the dashboard's filter, in one statement.

    A failed job whose rerun is still queued or running is skipped, so pressing the button
    twice does not double the work. Returns the new jobs' ids.
    """
    now = now or utcnow()
    jobs = JOBS
    child = jobs.alias("child")
    in_flight = (
        select(child.c.id)
        .where(child.c.parent_job_id == jobs.c.id, child.c.status.in_(("QUEUED", "PAUSED", "RUNNING")))
        .exists()
    )
    paused = (
        select(PAUSES.c.tenant_id)
        .where(PAUSES.c.tenant_id == jobs.c.tenant_id, PAUSES.c.workflow.in_([literal(ALL), jobs.c.job_type]))
        .exists()
    )
    source = (
        select(
            jobs.c.tenant_id,
            jobs.c.job_type,
            case((paused, "PAUSED"), else_="QUEUED"),
            jobs.c.params,
            jobs.c.priority,
            literal(now, PipelineJob.run_at.type),
            literal(0),
            jobs.c.max_attempts,
            jobs.c.timeout_s,
            jobs.c.concurrency_key,
            literal(created_by),
            jobs.c.id,
            literal(False),
            literal(now, PipelineJob.created_at.type),
        )
        .where(and_(job_filter.where(), jobs.c.status == "FAILED", ~in_flight))
        .order_by(jobs.c.id)
    )
    stmt = (
        insert(jobs)
        .from_select(
            [
                "tenant_id",
                "job_type",
                "status",
                "params",
                "priority",
                "run_at",
                "attempts",
                "max_attempts",
                "timeout_s",
                "concurrency_key",
                "created_by",
                "parent_job_id",
                "cancel_requested",
                "created_at",
            ],
            source,
        )
        .returning(jobs.c.id)
    )
    ids = sorted(r[0] for r in session.execute(stmt))
    if ids and dialect(session) == "postgresql":
        session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))
    return ids
