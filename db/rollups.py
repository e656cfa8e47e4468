"""Hourly job rollups for the dashboard (issue #20 item 3): counts kept so no page reads a week of jobs.

Three tables, per hour of ``created_at`` (the dashboard's windows are by creation time):

- ``job_hour_counts``: finished jobs (COMPLETED / FAILED / CANCELLED) per tenant × status, and how
  many FAILED ones have no rerun yet ("needing attention");
- ``job_hour_durations``: COMPLETED jobs per tenant × job type × duration bucket (the duration in
  ms to two significant digits, see :func:`bucket_sql`), plus ``tenant_id = 0`` rows summing all
  tenants, so the unfiltered Overview reads a few rows per hour;
- ``job_last_success``: per tenant × job type, the newest ``created_at`` of a COMPLETED job
  (the health board's "last success"; it only grows: jobs do not leave COMPLETED).

How they stay exact, late commits included: triggers on ``pipeline_jobs`` (migration
``0019_job_rollups``) insert a marker row into ``job_rollup_dirty`` for the creation hour of every
job that becomes, stops being or is deleted as a finished job (and for the parent of a rerun),
*in the writer's own transaction*. :func:`refresh` (a runner tick) deletes markers and recomputes
their hours from ``pipeline_jobs`` in one transaction; a marker committed later (a slow finish, a
backdated import) is simply picked up by the next tick. Readers (``db/queries/rollup_read.py``)
take rolled-up rows only for hours with no marker, and count the marked hours, the window's
partial edge hours and the unfinished jobs directly, all in one statement (one snapshot), so a
page shows the same numbers whether or not the tick has run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
UNFINISHED = ("QUEUED", "RUNNING", "WAITING", "PAUSED")
TERMINAL_SQL = "('COMPLETED', 'FAILED', 'CANCELLED')"
UNFINISHED_SQL = "('QUEUED', 'RUNNING', 'WAITING', 'PAUSED')"
ALL_TENANTS = 0  # job_hour_durations' tenant_id for the sum over every tenant
HOURS_PER_TICK = 168  # a week of marked hours per transaction; the newest first
MAX_RUN_H = 24  # contiguous hours recomputed by one statement


def hour_sql(dialect: str, column: str) -> str:
    """The UTC hour ``column`` falls in, as the rollup tables store it."""
    if dialect == "postgresql":
        return f"(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    # SQLite keeps timestamps as SQLAlchemy writes them: text with microseconds, so hours compare as text.
    return f"strftime('%Y-%m-%d %H:00:00.000000', {column})"


def hour_end_sql(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"({hour_sql(dialect, column)} + interval '1 hour')"
    return f"strftime('%Y-%m-%d %H:00:00.000000', {column}, '+1 hour')"


def duration_ms_sql(dialect: str, alias: str = "") -> str:
    """A job's run time in whole milliseconds (never negative), as SQL."""
    p = f"{alias}." if alias else ""
    if dialect == "postgresql":
        return f"GREATEST(CAST(round(extract(epoch FROM {p}completed_at - {p}started_at) * 1000) AS bigint), 0)"
    return f"CAST(max((julianday({p}completed_at) - julianday({p}started_at)) * 86400000.0, 0) + 0.5 AS INTEGER)"


def bucket_sql(dialect: str, ms: str) -> str:
    """``ms`` rounded down to two significant digits (1,234 → 1,200; 56,789 → 56,000; under 100: itself).

    Ninety buckets a decade: a percentile read back as its bucket's midpoint is within 5 % of the
    exact one (at most half a bucket), with no ``log()`` (SQLite may be built without it).
    """
    digits = f"length(CAST({ms} AS TEXT))"
    steps = " ".join(f"WHEN {n} THEN {10 ** (n - 2)}" for n in range(3, 19))
    return f"({ms} / (CASE {digits} {steps} ELSE 1 END) * (CASE {digits} {steps} ELSE 1 END))"


def bucket_width(lower_ms: int) -> int:
    """The width of the bucket that starts at ``lower_ms`` (the inverse of :func:`bucket_sql`)."""
    return int(10 ** max(len(str(lower_ms)) - 2, 0))


def _recompute_sql(dialect: str) -> list[str]:
    """Recompute the hours in [:lo, :hi): every statement is idempotent."""
    h = hour_sql(dialect, "j.created_at")
    ms = duration_ms_sql(dialect, "j")
    newer = "GREATEST" if dialect == "postgresql" else "max"  # SQLite's two-argument max() is GREATEST
    upsert = (
        "ON CONFLICT (tenant_id, job_type) DO UPDATE SET "
        f"created_at = {newer}(job_last_success.created_at, excluded.created_at)"
    )
    return [
        "DELETE FROM job_hour_counts WHERE hour >= :lo AND hour < :hi",
        f"""INSERT INTO job_hour_counts (hour, tenant_id, status, jobs, attention)
SELECT {h}, j.tenant_id, j.status, count(*),
       count(CASE WHEN j.status = 'FAILED'
                   AND NOT EXISTS (SELECT 1 FROM pipeline_jobs c WHERE c.parent_job_id = j.id) THEN 1 END)
FROM pipeline_jobs j
WHERE j.created_at >= :lo AND j.created_at < :hi AND j.status IN {TERMINAL_SQL}
GROUP BY {h}, j.tenant_id, j.status""",
        "DELETE FROM job_hour_durations WHERE hour >= :lo AND hour < :hi",
        f"""INSERT INTO job_hour_durations (hour, tenant_id, job_type, bucket_ms, jobs)
SELECT hour, tenant_id, job_type, {bucket_sql(dialect, "ms")}, count(*)
FROM (SELECT {h} AS hour, j.tenant_id, j.job_type, {ms} AS ms FROM pipeline_jobs j
      WHERE j.created_at >= :lo AND j.created_at < :hi AND j.status = 'COMPLETED'
        AND j.started_at IS NOT NULL AND j.completed_at IS NOT NULL) d
GROUP BY hour, tenant_id, job_type, {bucket_sql(dialect, "ms")}""",
        f"""INSERT INTO job_hour_durations (hour, tenant_id, job_type, bucket_ms, jobs)
SELECT hour, {ALL_TENANTS}, job_type, bucket_ms, sum(jobs) FROM job_hour_durations
WHERE hour >= :lo AND hour < :hi AND tenant_id <> {ALL_TENANTS}
GROUP BY hour, job_type, bucket_ms""",
        f"""INSERT INTO job_last_success (tenant_id, job_type, created_at)
SELECT j.tenant_id, j.job_type, max(j.created_at) FROM pipeline_jobs j
WHERE j.created_at >= :lo AND j.created_at < :hi AND j.status = 'COMPLETED'
GROUP BY j.tenant_id, j.job_type
{upsert}""",
    ]


def _runs(hours: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Contiguous marked hours as [lo, hi) ranges of at most MAX_RUN_H hours (one statement each)."""
    runs: list[list[Any]] = []
    for start, end in sorted(set(hours)):
        if runs and runs[-1][1] == start and runs[-1][2] < MAX_RUN_H:
            runs[-1][1] = end
            runs[-1][2] += 1
        else:
            runs.append([start, end, 1])
    return [(lo, hi) for lo, hi, _ in runs]


def refresh(conn: Connection, *, max_hours: int = HOURS_PER_TICK) -> int:
    """Recompute up to ``max_hours`` marked hours (newest first) in the caller's transaction.

    Returns how many hours were recomputed (0: nothing was marked, or another runner is at it).
    The markers are deleted first: every job whose marker this deletes was committed before the
    recompute statements start, so they count it; markers committed meanwhile stay for the next tick.
    """
    dialect = conn.dialect.name
    # One runner at a time: two recomputing the same hour would collide on its keys.
    lock = "SELECT pg_try_advisory_xact_lock(hashtext('zixly.job_rollups'))"
    if dialect == "postgresql" and not conn.execute(text(lock)).scalar():
        return 0
    marked = conn.execute(
        text(
            "DELETE FROM job_rollup_dirty WHERE hour IN "
            "(SELECT DISTINCT hour FROM job_rollup_dirty ORDER BY hour DESC LIMIT :n) RETURNING hour, hour_end"
        ),
        {"n": max_hours},
    ).all()
    if not marked:
        return 0
    statements = [text(sql) for sql in _recompute_sql(dialect)]
    for lo, hi in _runs([(r[0], r[1]) for r in marked]):
        for statement in statements:
            conn.execute(statement, {"lo": lo, "hi": hi})
    return len({r[0] for r in marked})


def catch_up(conn_factory: Any, *, max_hours: int = HOURS_PER_TICK) -> tuple[int, float]:
    """Run :func:`refresh` until no hour is marked (after the migration or a bulk load); (hours, seconds)."""
    import time

    t0 = time.perf_counter()
    total = 0
    while True:
        with conn_factory() as conn:
            n = refresh(conn, max_hours=max_hours)
        total += n
        if n == 0:
            return total, time.perf_counter() - t0


def as_hour(value: Any) -> dt.datetime:
    """A stored hour (datetime on PostgreSQL, text on SQLite) as an aware UTC datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
