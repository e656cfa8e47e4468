"""PostgreSQL keeps job history in id ranges: ranges made ahead, whole ranges dropped at retention.

Since migration 0018, on PostgreSQL ``pipeline_jobs`` is ``PARTITION BY RANGE (id)`` and
``job_steps`` / ``related_records`` are ``PARTITION BY RANGE (job_id)`` with the same bounds
(``<table>_p<lo>``), each with a DEFAULT partition so an insert beyond the ranges still lands.
Ids grow, so the newest range is the queue's hot path and older ranges only ever shrink in
status churn: their indexes and their vacuum cover their own range, and retention drops a
whole range (no row-by-row delete, no dead rows) once every job in it is finished and past the
retention. SQLite keeps plain tables and ``db.jobs.log.prune``'s row-by-row delete.

Each step and related-record partition has its own foreign key to its job partition (not one
from the parent tables), so dropping a range's step partition takes its key with it and the
``DETACH`` of the job partition checks only the small tables that reference ``pipeline_jobs``
(waits, alert links, schedules), through their indexes: the probe's 5.8 s ``DETACH`` was that
check joining 20 M steps.

Range size (``ZIXLY_JOB_PARTITION_SIZE``, default 1,000,000 ids): at the ~110,000 jobs a day the
history bench models, a range is ~9 days, so a 90-day retention keeps ~11 ranges (the probe
measured ~0.14 ms of claim planning per partition: ~1.5 ms per claim batch) and a job outlives
the retention by at most one range (~9 days). Much smaller ranges add planning to every claim;
much larger ones keep more finished rows in the hot range and delay retention.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from db.jobs._sql import Executor, dialect
from db.models import JOB_STATUSES
from db.models.base import TERMINAL

log = logging.getLogger("zixly.jobs")

DEFAULT_SIZE = 1_000_000
AHEAD = 2  # ranges kept ready above the newest id: an hour's tick never lets the DEFAULT fill
LOCK_TIMEOUT_MS = 500  # a retention or creation step that would wait longer gives up until next tick

# The range-partitioned tables and their partition key; the jobs table first.
TABLES = (("pipeline_jobs", "id"), ("job_steps", "job_id"), ("related_records", "job_id"))
CHILDREN = ("job_steps", "related_records")
# Tables whose foreign keys (or plain references) point into pipeline_jobs: retention clears
# them for a range before it detaches it, so the DETACH's check finds nothing.
_CLEAR = (
    "UPDATE pipeline_jobs SET parent_job_id = NULL WHERE parent_job_id >= :lo AND parent_job_id < :hi",
    "UPDATE schedules SET last_job_id = NULL WHERE last_job_id >= :lo AND last_job_id < :hi",
    "DELETE FROM job_waits WHERE job_id >= :lo AND job_id < :hi",
    "DELETE FROM alert_group_jobs WHERE job_id >= :lo AND job_id < :hi",
)
# A partition's index is named after its parent index and the partition (ix_pipeline_jobs_claimable_p0,
# not PostgreSQL's pipeline_jobs_p0_priority_run_at_id_idx), so a plan names the index it uses.
NAME_INDEXES = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass::text AS child, p.relname AS parent,
                  p.relname || substr(t.relname, length(pt.relname) + 1) AS wanted
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid AND c.relkind = 'i'
           JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_index px ON px.indexrelid = p.oid JOIN pg_class pt ON pt.oid = px.indrelid
           WHERE pt.relname IN ('pipeline_jobs', 'job_steps', 'related_records')
  LOOP
    IF r.child <> r.wanted THEN
      EXECUTE format('ALTER INDEX %s RENAME TO %I', r.child, r.wanted);
    END IF;
  END LOOP;
END $$"""
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")
# Unfinished statuses by name, not ``NOT IN`` the finished ones: an index range of
# (status, created_at) per status instead of a scan of the range's million rows (1–3 s, with
# the parents locked, at 10 M: the claims' stall).
_UNFINISHED = "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES if s not in TERMINAL) + ")"


@dataclass(frozen=True)
class Range:
    name: str  # the jobs partition, pipeline_jobs_p<lo>
    lo: int
    hi: int

    def child(self, table: str) -> str:
        return table + self.name.removeprefix("pipeline_jobs")


@dataclass
class Retired:
    """What one retention pass did (the bench reports it)."""

    ranges: list[tuple[int, int]] = field(default_factory=list)  # dropped (lo, hi)
    jobs: int = 0
    keys: int = 0  # idempotency keys gone with their generations (db.jobs.idempotency_keys)
    skipped: int = 0  # droppable ranges given up on this time (lock timeout)
    row_transactions: int = 0  # row-by-row chunks (SQLite; the DEFAULT partition)
    longest_statement_s: float = 0.0
    longest_transaction_s: float = 0.0  # a drop transaction: the parents are locked this long
    longest_by_kind_s: dict[str, float] = field(default_factory=dict)  # first two words of each statement


def partitioned(ex: Executor | Engine) -> bool:
    """True where migration 0018 partitioned the job tables (PostgreSQL)."""
    return (ex.dialect.name if isinstance(ex, Engine) else dialect(ex)) == "postgresql"


def ranges(conn: Connection) -> list[Range]:
    """The id ranges of ``pipeline_jobs`` (the DEFAULT partition left out), lowest first."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'pipeline_jobs'::regclass"
        )
    ).all()
    out = []
    for name, bound in rows:
        m = _BOUND.search(bound)
        if m:
            out.append(Range(name, int(m.group(1)), int(m.group(2))))
    return sorted(out, key=lambda r: r.lo)


def create_range(conn: Connection, lo: int, hi: int) -> Range:
    """The three partitions for ids ``[lo, hi)`` and the step/related keys to their jobs."""
    r = Range(f"pipeline_jobs_p{lo}", lo, hi)
    for table, _ in TABLES:
        conn.execute(text(f"CREATE TABLE {r.child(table)} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})"))
    for table in CHILDREN:
        conn.execute(
            text(
                f"ALTER TABLE {r.child(table)} ADD CONSTRAINT fk_{r.child(table)}_job_id "
                f"FOREIGN KEY (job_id) REFERENCES {r.name} (id) ON DELETE CASCADE"
            )
        )
    conn.execute(text(NAME_INDEXES))
    return r


def newest_id(conn: Connection) -> int:
    """The highest id handed out (or in the DEFAULT partition), 0 on an empty database."""
    seq = conn.execute(text("SELECT pg_sequence_last_value('pipeline_jobs_id_seq')")).scalar()
    in_default = conn.execute(text("SELECT max(id) FROM pipeline_jobs_default")).scalar()
    return max(int(seq or 0), int(in_default or 0))


def ensure_ahead(engine: Engine, *, size: int = DEFAULT_SIZE, upto: int | None = None) -> list[Range]:
    """Create ranges until ``AHEAD`` ranges of ``size`` ids lie above the newest id (or ``upto``).

    One transaction per range under a short ``lock_timeout`` (creating a partition locks the
    parent for a moment): a range that cannot be made now is made on the next tick, and the
    DEFAULT partition takes any insert meanwhile. A new range starts above every id already in
    the DEFAULT partition (PostgreSQL refuses a range that would own rows there); those rows
    stay in the DEFAULT, where ``db.jobs.prune`` deletes them row by row once past retention.
    """
    made: list[Range] = []
    while True:
        try:
            with engine.begin() as conn:
                limit_lock_waits(conn)
                existing = ranges(conn)
                top = existing[-1].hi if existing else 0
                newest = max(newest_id(conn), upto or 0)
                if top > newest + (AHEAD - 1) * size:
                    return made
                in_default = conn.execute(text("SELECT max(id) FROM pipeline_jobs_default")).scalar()
                lo = max(top, int(in_default or 0) + 1)
                made.append(create_range(conn, lo, lo + size))
        except DBAPIError as exc:
            if sqlstate(exc) == ALREADY_EXISTS:  # another runner made this range first: look again
                continue
            if sqlstate(exc) == LOCK_TIMED_OUT:  # the next tick
                return made
            raise


def sqlstate(exc: DBAPIError) -> str | None:
    """The PostgreSQL error code behind ``exc`` (``LOCK_TIMED_OUT``, ``ALREADY_EXISTS``, …)."""
    return getattr(exc.orig, "sqlstate", None)


LOCK_TIMED_OUT = "55P03"
ALREADY_EXISTS = "42P07"


def limit_lock_waits(conn: Connection, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> None:
    """Make any lock wait of this transaction give up (``LOCK_TIMED_OUT``) after ``lock_timeout_ms``."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'"))


class _Changed(Exception):
    """The range gained an unfinished or recent job between the check and the lock: keep it."""


@dataclass
class _Clock:
    longest: float = 0.0
    by_kind: dict[str, float] = field(default_factory=dict)

    def run(self, conn: Connection, sql: str, params: Mapping[str, object] | None = None) -> int:
        t = time.perf_counter()
        n = conn.execute(text(sql), params or {}).rowcount
        took = time.perf_counter() - t
        self.longest = max(self.longest, took)
        kind = " ".join(sql.split()[:2])
        self.by_kind[kind] = max(self.by_kind.get(kind, 0.0), took)
        return int(n or 0)


def _droppable(conn: Connection, r: Range, cutoff: dt.datetime, newest: int) -> bool:
    """Every job of ``r`` finished before ``cutoff``, and no new id can land in it (index reads)."""
    if r.hi > newest + 1:
        return False
    unfinished = conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {r.name} WHERE {_UNFINISHED})")).scalar()
    if unfinished:
        return False
    last = conn.execute(text(f"SELECT max(completed_at) FROM {r.name}")).scalar()
    return last is None or last < cutoff


def drop_expired(
    engine: Engine,
    retention_days: int,
    *,
    now: dt.datetime,
    lock_timeout_ms: int = LOCK_TIMEOUT_MS,
    keep_from: int | None = None,
) -> Retired:
    """Drop every range whose jobs are all finished and completed more than ``retention_days`` ago.

    Ranges reaching ``keep_from`` or above are kept (the current generation of idempotency keys,
    ``db.jobs.idempotency_keys``, whose keys would outlive them). Per range, in one transaction
    under ``lock_timeout``, references into the range are cleared
    (reruns' ``parent_job_id``, ``schedules.last_job_id``, waits, alert links), the step and
    related-record partitions dropped, the job partition detached and dropped. A lock not had
    within the timeout rolls the range back untouched for the next tick, so
    claims never queue behind retention for longer than the timeout.
    """
    out = Retired()
    clock = _Clock()
    cutoff = now - dt.timedelta(days=retention_days)
    with engine.connect() as conn:
        candidates = ranges(conn)
        newest = newest_id(conn)
        conn.rollback()
    for r in candidates:
        if keep_from is not None and r.hi > keep_from:
            continue  # the current generation of idempotency keys may name its jobs
        with engine.connect() as conn:
            ok = _droppable(conn, r, cutoff, newest)
            # Counted for the report outside the locking transaction (a scan of the range).
            jobs = conn.execute(text(f"SELECT count(*) FROM {r.name}")).scalar_one() if ok else 0
            conn.rollback()
        if not ok:
            continue
        params = {"lo": r.lo, "hi": r.hi}
        t = time.perf_counter()
        try:
            with engine.begin() as conn:
                clock.by_kind["begin"] = max(clock.by_kind.get("begin", 0.0), time.perf_counter() - t)
                limit_lock_waits(conn, lock_timeout_ms)
                # The parents first, steps before jobs, as the queue takes them (a claim locks
                # pipeline_jobs, then each partition; a worker's step, job_steps, then its job's
                # partition for the key): taking a partition first would wait on a claim that
                # waits on us. Held for the few short statements below, the claims' stall.
                clock.run(
                    conn, "LOCK TABLE ONLY job_steps, ONLY related_records, ONLY pipeline_jobs IN ACCESS EXCLUSIVE MODE"
                )
                if conn.execute(text("SELECT to_regclass(:n)"), {"n": r.name}).scalar() is None:
                    raise _Changed  # another runner dropped it meanwhile
                for sql in _CLEAR:
                    clock.run(conn, sql, params)
                for table in CHILDREN:
                    clock.run(conn, f"DROP TABLE {r.child(table)}")
                clock.run(conn, f"ALTER TABLE pipeline_jobs DETACH PARTITION {r.name}")
                # Checked again once detached (nothing can write to it now): a transaction that
                # took an id of the range before it closed may have committed meanwhile.
                t_check = time.perf_counter()
                ok = _droppable(conn, r, cutoff, newest)
                clock.by_kind["recheck"] = max(clock.by_kind.get("recheck", 0.0), time.perf_counter() - t_check)
                if not ok:
                    raise _Changed
                clock.run(conn, f"DROP TABLE {r.name}")
                # With the drop: the enqueue reads a closed generation's keys for these ids as free.
                clock.run(conn, "INSERT INTO job_ranges_dropped (lo, hi) VALUES (:lo, :hi)", params)
                t_commit = time.perf_counter()
            clock.by_kind["commit"] = max(clock.by_kind.get("commit", 0.0), time.perf_counter() - t_commit)
        except _Changed:
            continue
        except DBAPIError as exc:
            if sqlstate(exc) != LOCK_TIMED_OUT:
                raise
            log.warning("retention of jobs %d–%d waited too long for a lock; next tick", r.lo, r.hi - 1)
            out.skipped += 1
            continue
        out.longest_transaction_s = max(out.longest_transaction_s, time.perf_counter() - t)
        out.ranges.append((r.lo, r.hi))
        out.jobs += int(jobs)
    out.longest_statement_s = clock.longest
    out.longest_by_kind_s = clock.by_kind
    return out


def prune_rows(conn: Executor, cutoff: dt.datetime, limit: int, *, table: str = "pipeline_jobs") -> int:
    """Row-by-row delete of up to ``limit`` finished jobs completed before ``cutoff`` (PostgreSQL).

    ``db.jobs.prune``'s PostgreSQL body over ``pipeline_jobs``; retention runs it over
    ``pipeline_jobs_default`` only (jobs that landed beyond the ranges), since whole ranges are
    dropped. Reruns' ``parent_job_id`` is a plain column on the partitioned table (no
    self-referencing key), so it is cleared here, as ON DELETE SET NULL does on SQLite; the
    jobs' idempotency keys go with them. Steps, related records, waits and alert links cascade.
    """
    ids = [
        r[0]
        for r in conn.execute(
            text(
                f"SELECT id FROM {table} WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') "
                "AND completed_at < :cutoff ORDER BY completed_at LIMIT :limit"
            ),
            {"cutoff": cutoff, "limit": limit},
        )
    ]
    if not ids:
        return 0
    conn.execute(
        text("UPDATE pipeline_jobs SET parent_job_id = NULL WHERE parent_job_id = ANY(:ids) AND NOT id = ANY(:ids)"),
        {"ids": ids},
    )
    # Found by the job's own copy of its key (the primary key's columns; no index on job_id).
    conn.execute(
        text(
            f"DELETE FROM job_idempotency_keys k USING {table} j WHERE j.id = ANY(:ids) "
            "AND k.tenant_id = j.tenant_id AND k.idempotency_key = j.idempotency_key AND k.job_id = j.id"
        ),
        {"ids": ids},
    )
    return int(conn.execute(text(f"DELETE FROM {table} WHERE id = ANY(:ids)"), {"ids": ids}).rowcount)  # type: ignore[attr-defined]
