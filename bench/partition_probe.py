"""Probe of the proposed layout (issue 20 item 2), not the product: jobs partitioned by id range.

    python bench/partition_probe.py DBNAME [--partitions 9] [--cutoff-days 60]

In a database seeded by ``bench/history_seed.py`` (and left there), copies ``pipeline_jobs``,
``job_steps`` and ``related_records`` into ``probe_jobs`` (``PARTITION BY RANGE (id)``) and
``probe_steps`` / ``probe_related`` (``PARTITION BY RANGE (job_id)``, foreign keys to
``probe_jobs`` kept, ON DELETE CASCADE), ``--partitions`` equal id ranges over the history plus one
open partition for new jobs, with the B-tree indexes of the real tables (not the two trigram
GIN indexes: they change neither measurement). Then measures, as JSON:

* the claim statement of ``db/jobs/claim.py`` on both layouts (planning and execution ms of a
  claim of 256 QUEUED jobs, rolled back; median of 5), after 20,000 QUEUED jobs are added to each;
* retention by partition: the ranges whose newest ``completed_at`` is past the cutoff (60 days) go —
  their step and related-record partitions dropped, then the job partition detached and dropped
  (``lock_timeout`` 2 s) — seconds in all (``retention_s``, including the probe's check, which reads
  each partition whole; the product would read indexes), seconds of the drop statements alone, and
  the longest single statement (its lock's hold time).

Drops its ``probe_*`` tables at the start and the end.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg  # noqa: E402

from db.jobs.claim import _PG_CLAIM  # noqa: E402

INDEXES = [
    "CREATE INDEX ON probe_jobs (priority DESC, run_at, id) WHERE status = 'QUEUED'",
    "CREATE INDEX ON probe_jobs (locked_until) WHERE status = 'RUNNING'",
    "CREATE INDEX ON probe_jobs (concurrency_key) WHERE status = 'RUNNING' AND concurrency_key IS NOT NULL",
    "CREATE INDEX ON probe_jobs (created_at, id)",
    "CREATE INDEX ON probe_jobs (tenant_id, created_at)",
    "CREATE INDEX ON probe_jobs (status, created_at)",
    "CREATE INDEX ON probe_jobs (tenant_id, status, created_at) WHERE status IN ('FAILED', 'CANCELLED')",
    "CREATE INDEX ON probe_jobs (job_type, created_at)",
    "CREATE INDEX ON probe_jobs (parent_job_id) WHERE parent_job_id IS NOT NULL",
    "CREATE INDEX ON probe_jobs (completed_at) WHERE completed_at IS NOT NULL",
    "CREATE INDEX ON probe_steps (job_id, id)",
    "CREATE INDEX ON probe_related (tenant_id, record_id)",
    "CREATE INDEX ON probe_related (record_id)",
    "CREATE INDEX ON probe_related (job_id)",
    "CREATE INDEX ON probe_related (lower(record_label))",
]
DROP = "DROP TABLE IF EXISTS probe_steps, probe_related, probe_jobs CASCADE"


def build(conn: psycopg.Connection, parts: int) -> None:
    lo, hi = conn.execute("SELECT min(id), max(id) + 1 FROM pipeline_jobs").fetchone()  # type: ignore[misc]
    step = -(-(hi - lo) // parts)
    conn.execute(DROP)
    for table, like, pk, key in (("probe_jobs", "pipeline_jobs", "id", "id"),
                                 ("probe_steps", "job_steps", "job_id, id", "job_id"),
                                 ("probe_related", "related_records", "job_id, id", "job_id")):  # fmt: skip
        conn.execute(
            f"CREATE TABLE {table} (LIKE {like} INCLUDING DEFAULTS, PRIMARY KEY ({pk})) PARTITION BY RANGE ({key})"
        )
    bounds = [(lo + i * step, lo + (i + 1) * step) for i in range(parts)] + [(lo + parts * step, 1 << 62)]
    for i, (a, b) in enumerate(bounds):
        for t in ("probe_jobs", "probe_steps", "probe_related"):
            conn.execute(f"CREATE TABLE {t}_{i} PARTITION OF {t} FOR VALUES FROM ({a}) TO ({b})")
    conn.execute("ALTER TABLE probe_steps ADD FOREIGN KEY (job_id) REFERENCES probe_jobs (id) ON DELETE CASCADE")
    conn.execute("ALTER TABLE probe_related ADD FOREIGN KEY (job_id) REFERENCES probe_jobs (id) ON DELETE CASCADE")
    conn.execute("SET session_replication_role = replica")  # the copied rows are consistent already
    conn.execute("INSERT INTO probe_jobs SELECT * FROM pipeline_jobs")
    conn.execute("INSERT INTO probe_steps SELECT * FROM job_steps")
    conn.execute("INSERT INTO probe_related SELECT * FROM related_records")
    conn.execute("SET session_replication_role = origin")
    for ddl in INDEXES:
        conn.execute(ddl)
    conn.execute("VACUUM (ANALYZE) probe_jobs, probe_steps, probe_related")


def claim_ms(conn: psycopg.Connection, table: str) -> dict[str, float]:
    sql = _PG_CLAIM.text.replace("pipeline_jobs", table)
    for name, value in (
        ("now", "now()"),
        ("until", "now() + interval '30 s'"),
        ("runner", "'probe'"),
        ("limit", "256"),
        ("start", "0"),
    ):
        sql = sql.replace(f":{name}", value)
    plan, run = [], []
    for _ in range(6):
        with conn.transaction(force_rollback=True):
            out = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchone()[0][0]  # type: ignore[index]
        plan.append(out["Planning Time"])
        run.append(out["Execution Time"])
    return {"planning_ms": round(statistics.median(plan[1:]), 2), "execution_ms": round(statistics.median(run[1:]), 2)}


def retention(conn: psycopg.Connection, cutoff_days: int = 60) -> dict[str, float]:
    parts = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'probe_jobs'::regclass ORDER BY c.relname"
    ).fetchall()
    conn.execute("SET lock_timeout = '2s'")
    longest, ddl_s, dropped, jobs = 0.0, 0.0, 0, 0
    t0 = time.perf_counter()
    for (name,) in parts:
        newest, unfinished, n = conn.execute(
            f"SELECT max(completed_at), count(*) FILTER (WHERE completed_at IS NULL), count(*) FROM {name}"
        ).fetchone()  # type: ignore[misc]
        if n == 0 or unfinished or newest is None:
            continue
        if conn.execute("SELECT %s < now() - make_interval(days => %s)", [newest, cutoff_days]).fetchone()[0]:  # type: ignore[index]
            suffix = name.removeprefix("probe_jobs")
            for ddl in (f"DROP TABLE probe_steps{suffix}", f"DROP TABLE probe_related{suffix}",
                        f"ALTER TABLE probe_jobs DETACH PARTITION {name}", f"DROP TABLE {name}"):  # fmt: skip
                t = time.perf_counter()
                conn.execute(ddl)
                longest = max(longest, time.perf_counter() - t)
                ddl_s += time.perf_counter() - t
            dropped, jobs = dropped + 1, jobs + n
    return {"partitions_dropped": dropped, "jobs_dropped": jobs, "retention_s": round(time.perf_counter() - t0, 2),
            "drop_statements_s": round(ddl_s, 2),
            "longest_statement_ms": round(longest * 1000, 1)}  # fmt: skip


def main() -> int:
    db = sys.argv[1]
    parts = int(sys.argv[sys.argv.index("--partitions") + 1]) if "--partitions" in sys.argv else 9
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}", autocommit=True) as conn:
        t0 = time.perf_counter()
        build(conn, parts)
        out: dict[str, object] = {"build_s": round(time.perf_counter() - t0), "partitions": parts + 1}
        tenant = conn.execute("SELECT min(id) FROM tenants").fetchone()[0]  # type: ignore[index]
        for table in ("pipeline_jobs", "probe_jobs"):
            with conn.transaction():
                conn.execute(
                    f"INSERT INTO {table} (tenant_id, job_type, params, created_at, run_at) "
                    "SELECT %s, 'noop', '{}', now(), now() FROM generate_series(1, 20000)",
                    [tenant],
                )
            conn.execute(f"ANALYZE {table}")
            out[f"claim_{table}"] = claim_ms(conn, table)
            conn.execute(f"DELETE FROM {table} WHERE job_type = 'noop' AND status = 'QUEUED'")
        cutoff = int(sys.argv[sys.argv.index("--cutoff-days") + 1]) if "--cutoff-days" in sys.argv else 60
        out.update(retention(conn, cutoff))
        conn.execute(DROP)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
