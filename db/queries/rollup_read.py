"""Window aggregates from the hourly rollups plus a direct count of what they do not cover yet.

A window [since, until) splits into its whole hours [h0, h1) and two partial edge hours. The
whole hours come from ``job_hour_counts`` / ``job_hour_durations`` (``db/rollups.py``) unless
the hour is marked dirty; the edges, the marked hours (jobs that finished since the last tick)
and the unfinished jobs are counted from ``pipeline_jobs`` — index ranges on ``created_at``
and ``(status, created_at)``, a few thousand rows at most. One SQL statement, so one snapshot:
a tick committing meanwhile cannot make a job count twice or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, String, bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from db.rollups import ALL_TENANTS, UNFINISHED_SQL, bucket_sql, bucket_width, duration_ms_sql, hour_sql
from db.types import UTCDateTime

_TIMES = ("since", "until", "h0", "h1")


def _hours(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The window's whole hours [h0, h1); empty (h0 = h1 = until) when it holds none."""
    floor = since.replace(minute=0, second=0, microsecond=0)
    h0 = floor if floor == since else floor + dt.timedelta(hours=1)
    h1 = until.replace(minute=0, second=0, microsecond=0)
    return (h0, h1) if h0 < h1 else (until, until)


def _params(tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    h0, h1 = _hours(since, until)
    params: dict[str, Any] = {"since": since, "until": until, "h0": h0, "h1": h1}
    if tenant_ids:
        params["tenants"] = list(tenant_ids)
    return params


def _bind(sql: str, params: dict[str, Any]) -> TextClause:
    binds = [bindparam(name, type_=UTCDateTime()) for name in _TIMES]
    if "tenants" in params:
        binds.append(bindparam("tenants", expanding=True))
    return text(sql).bindparams(*binds)


def no_jit(session: Session) -> None:
    """PostgreSQL: no JIT for this transaction's queries.

    The planner cannot know how few jobs the marked hours hold (their bounds come from a table),
    so it prices the direct branch at ~1 M rows and JIT-compiles the plan: ~2 s of compiling for a
    query that runs in milliseconds (measured at 10 M jobs).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _tenant(alias: str, tenant_ids: tuple[int, ...]) -> str:
    return f" AND {alias}.tenant_id IN :tenants" if tenant_ids else ""


_PENDING = "pending AS (SELECT DISTINCT hour, hour_end FROM job_rollup_dirty WHERE hour >= :h0 AND hour < :h1)"
_NOT_PENDING = "NOT EXISTS (SELECT 1 FROM pending p WHERE p.hour = r.hour)"


def _direct(select: str, where: str, tenant: str) -> list[str]:
    """``select`` over the jobs the rollup does not cover: the two edges and the marked hours."""
    return [
        f"{select} FROM pipeline_jobs j WHERE j.created_at >= :since AND j.created_at < :h0{tenant}{where}",
        f"{select} FROM pipeline_jobs j WHERE j.created_at >= :h1 AND j.created_at < :until{tenant}{where}",
        f"{select} FROM pending p JOIN pipeline_jobs j ON j.created_at >= p.hour AND j.created_at < p.hour_end"
        f" WHERE true{tenant}{where}",
    ]


def counts(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime, by: Sequence[str]
) -> list[Any]:
    """Jobs created in the window (every status) and FAILED ones not rerun, grouped by ``by``.

    ``by`` is a subset of ``hour``, ``tenant_id``, ``status``; rows carry those and ``jobs``,
    ``attention``.
    """
    dialect = session.get_bind().dialect.name
    no_jit(session)
    tenant = _tenant("j", tenant_ids)
    attention = (
        "CASE WHEN j.status = 'FAILED' AND NOT EXISTS "
        "(SELECT 1 FROM pipeline_jobs c WHERE c.parent_job_id = j.id) THEN 1 ELSE 0 END"
    )
    hour = hour_sql(dialect, "j.created_at")
    row = f"SELECT {hour} AS hour, j.tenant_id, j.status, 1 AS jobs, {attention} AS attention"
    parts = [
        "SELECT r.hour, r.tenant_id, r.status, r.jobs, r.attention FROM job_hour_counts r "
        f"WHERE r.hour >= :h0 AND r.hour < :h1{_tenant('r', tenant_ids)} AND {_NOT_PENDING}",
        *_direct(row, "", tenant),
        # Unfinished jobs are never rolled up: their count changes with every claim.
        f"{row} FROM pipeline_jobs j WHERE j.status IN {UNFINISHED_SQL} AND j.created_at >= :h0"
        f" AND j.created_at < :h1{tenant} AND NOT EXISTS (SELECT 1 FROM pending p"
        " WHERE j.created_at >= p.hour AND j.created_at < p.hour_end)",
    ]
    keys = ", ".join(by)
    sql = (
        f"WITH {_PENDING} SELECT {keys}{',' if keys else ''} sum(jobs) AS jobs, sum(attention) AS attention "
        f"FROM ({' UNION ALL '.join(parts)}) x" + (f" GROUP BY {keys}" if keys else "")
    )
    params = _params(tenant_ids, since, until)
    return list(session.execute(_bind(sql, params), params))


def duration_histogram(
    session: Session, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime
) -> dict[str, list[tuple[int, int]]]:
    """Completed jobs of the window per job type: [(bucket's lower bound in ms, jobs)], ascending."""
    dialect = session.get_bind().dialect.name
    no_jit(session)
    tenant = _tenant("j", tenant_ids)
    rolled_tenant = _tenant("r", tenant_ids) if tenant_ids else f" AND r.tenant_id = {ALL_TENANTS}"
    done = " AND j.status = 'COMPLETED' AND j.started_at IS NOT NULL AND j.completed_at IS NOT NULL"
    row = f"SELECT j.job_type, {duration_ms_sql(dialect, 'j')} AS ms"
    direct = " UNION ALL ".join(_direct(row, done, tenant))
    sql = (
        f"WITH {_PENDING} SELECT job_type, bucket_ms, sum(jobs) AS jobs FROM ("
        "SELECT r.job_type, r.bucket_ms, r.jobs FROM job_hour_durations r "
        f"WHERE r.hour >= :h0 AND r.hour < :h1{rolled_tenant} AND {_NOT_PENDING} "
        f"UNION ALL SELECT job_type, {bucket_sql(dialect, 'ms')} AS bucket_ms, 1 AS jobs FROM ({direct}) d"
        ") x GROUP BY job_type, bucket_ms"
    )
    params = _params(tenant_ids, since, until)
    out: dict[str, list[tuple[int, int]]] = {}
    for job_type, lower, jobs in session.execute(_bind(sql, params), params):
        out.setdefault(job_type, []).append((int(lower), int(jobs)))
    for buckets in out.values():
        buckets.sort()
    return out


def merge(histograms: Sequence[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    total: dict[int, int] = {}
    for buckets in histograms:
        for lower, jobs in buckets:
            total[lower] = total.get(lower, 0) + jobs
    return sorted(total.items())


def quantile_s(buckets: list[tuple[int, int]], q: float) -> float | None:
    """``q``-quantile in seconds of the durations as their buckets' midpoints (percentile_cont's rule)."""
    n = sum(jobs for _, jobs in buckets)
    if not n:
        return None
    pos = (n - 1) * q
    lo_i, frac = int(pos), pos - int(pos)

    def value_at(i: int) -> float:
        seen = 0
        for lower, jobs in buckets:
            seen += jobs
            if i < seen:
                return (lower + bucket_width(lower) / 2) / 1000
        lower = buckets[-1][0]
        return (lower + bucket_width(lower) / 2) / 1000

    lo = value_at(lo_i)
    return lo + (value_at(lo_i + 1) - lo) * frac if frac else lo


def last_success(tenant_ids: tuple[int, ...], since: dt.datetime) -> Any:
    """Per tenant × job type, the newest COMPLETED job's ``created_at`` since ``since`` (``last_ok``).

    ``job_last_success`` for the rolled-up hours, the marked hours' jobs directly (a textual select).
    """
    tenant = _tenant("j", tenant_ids)
    sql = (
        "SELECT tenant_id, job_type, max(created_at) AS last_ok FROM ("
        f"SELECT j.tenant_id, j.job_type, j.created_at FROM job_last_success j WHERE j.created_at >= :since{tenant} "
        "UNION ALL SELECT j.tenant_id, j.job_type, j.created_at FROM "
        "(SELECT DISTINCT hour, hour_end FROM job_rollup_dirty WHERE hour_end > :since) p "
        "JOIN pipeline_jobs j ON j.created_at >= p.hour AND j.created_at < p.hour_end "
        f"WHERE j.status = 'COMPLETED' AND j.created_at >= :since{tenant}"
        ") x GROUP BY tenant_id, job_type"
    )
    binds = [bindparam("since", value=since, type_=UTCDateTime())]
    if tenant_ids:
        binds.append(bindparam("tenants", value=list(tenant_ids), expanding=True))
    return text(sql).bindparams(*binds).columns(tenant_id=Integer, job_type=String, last_ok=UTCDateTime)
