"""Retention benchmark (issue 20): prune the oldest month of N jobs of history, as the runner does.

    python bench/prune.py [--history 10000000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                          [--reuse DBNAME] [--keep] [--claimers 1]

Creates a scratch database, migrates it, seeds ``--history`` finished jobs over 90 days
(``bench/history_seed.py``), then runs the runner's retention pass (``db.jobs.retention.retain``,
what ``sync.scheduler.prune`` runs: whole id ranges dropped on PostgreSQL, then the DEFAULT
partition row by row) with a 60-day retention, so the oldest 30 days go. Meanwhile ``--claimers``
threads claim from 1,000 QUEUED jobs (``db.jobs.claim`` of one job, rolled back, back to back):
their longest claim during retention against before it is how long retention stalls the queue.
Prints how long retention took, its longest statement and transaction (every lock it takes is
held at most that long), the rows left, and each table's size and dead tuples after (bloat,
summed over partitions), as JSON last. ``--reuse DBNAME`` prunes an existing filled database
(it is changed: use a copy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.history_seed import KEYS, TABLES, seed  # noqa: E402
from db import jobs  # noqa: E402
from db.engine import make_engine  # noqa: E402
from db.jobs.retention import retain  # noqa: E402
from db.migrate import upgrade  # noqa: E402

RETENTION_DAYS = 60  # --retention-days


def table_state(engine: Any) -> dict[str, Any]:
    """Size, live and dead rows per table, summed over its partitions (a plain table is its own)."""
    sql = """SELECT t, sum(pg_total_relation_size(p.relid)), sum(s.n_live_tup), sum(s.n_dead_tup), count(*)
             FROM unnest(CAST(:t AS text[])) AS t
             CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(t::regclass) WHERE isleaf
                                 UNION SELECT t::regclass WHERE NOT EXISTS
                                   (SELECT 1 FROM pg_partition_tree(t::regclass) WHERE NOT isleaf)) p
             LEFT JOIN pg_stat_user_tables s ON s.relid = p.relid
             WHERE to_regclass(t) IS NOT NULL GROUP BY t"""
    with engine.connect() as conn:
        return {
            r[0]: {"total_mb": round(int(r[1]) / 1e6), "live": int(r[2] or 0), "dead": int(r[3] or 0), "parts": r[4]}
            for r in conn.execute(text(sql), {"t": [*TABLES, KEYS]})
        }


class Claimers:
    """Threads claiming one job each, back to back, rolled back: the queue's view of retention."""

    def __init__(self, engine: Any, n: int) -> None:
        self.engine, self.stop, self.phase = engine, threading.Event(), "before"
        self.times: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                phase = self.phase
                t = time.perf_counter()
                got = jobs.claim(conn, "bench-prune", limit=1, lease_s=30)
                conn.rollback()
                self.times[phase].append(time.perf_counter() - t)
                assert got, "no QUEUED job to claim"

    def report(self) -> dict[str, Any]:
        def summary(xs: list[float]) -> dict[str, Any]:
            if not xs:
                return {"claims": 0}
            xs = sorted(xs)
            p99 = xs[max(0, int(len(xs) * 0.99) - 1)]
            return {"claims": len(xs), "p50_ms": round(statistics.median(xs) * 1000, 1),
                    "p99_ms": round(p99 * 1000, 1), "max_ms": round(xs[-1] * 1000, 1)}  # fmt: skip

        return {phase: summary(xs) for phase, xs in self.times.items()}


def prune_month(engine: Any, claimers: int, retention_days: int = RETENTION_DAYS) -> dict[str, Any]:
    """The runner's retention pass (``sync.scheduler.prune``), with claims running beside it."""
    with engine.begin() as conn:
        tenant = conn.execute(text("SELECT min(id) FROM tenants")).scalar_one()
        jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "bench-prune-claim")] * 1000)
    watch = Claimers(engine, claimers)
    for th in watch.threads:
        th.start()
    time.sleep(5 if claimers else 0)
    watch.phase = "during"
    t0 = time.perf_counter()
    done = retain(engine, retention_days, now=dt.datetime.now(dt.UTC))
    took = time.perf_counter() - t0
    watch.phase = "after"
    time.sleep(3 if claimers else 0)
    watch.stop.set()
    for th in watch.threads:
        th.join()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM pipeline_jobs WHERE job_type = 'bench-prune-claim'"))
    return {
        "pruned_jobs": done.jobs,
        "prune_s": round(took, 2),
        "ranges_dropped": len(done.ranges),
        "ranges_skipped_lock_timeout": done.skipped,
        "idempotency_keys_deleted": done.keys,
        "row_transactions": done.row_transactions,
        "longest_statement_ms": round(done.longest_statement_s * 1000, 1),
        "longest_transaction_ms": round(done.longest_transaction_s * 1000, 1),
        "longest_by_statement_ms": {k: round(v * 1000, 1) for k, v in done.longest_by_kind_s.items()},
        "claims": watch.report() if claimers else None,
    }


def resize(engine: Any, size: int, history: int) -> None:
    """Replace the empty database's ranges by ranges of ``size`` ids for ``history`` jobs."""
    with engine.begin() as conn:
        for r in jobs.partitions.ranges(conn):
            conn.execute(text(f"DROP TABLE {r.child('job_steps')}, {r.child('related_records')}"))
            conn.execute(text(f"ALTER TABLE pipeline_jobs DETACH PARTITION {r.name}"))
            conn.execute(text(f"DROP TABLE {r.name}"))
    jobs.partitions.ensure_ahead(engine, size=size, upto=history)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=10_000_000)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--reuse", metavar="DBNAME")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--partition-size", type=int, default=jobs.partitions.DEFAULT_SIZE,
                    help="PostgreSQL: ids per range in a fresh database (tiny history, tiny ranges)")  # fmt: skip
    ap.add_argument("--retention-days", type=int, default=RETENTION_DAYS)
    ap.add_argument("--claimers", type=int, default=1, help="threads claiming during retention (0: none)")
    args = ap.parse_args()
    name = args.reuse or f"zixly_bench_prune_{os.getpid()}"
    admin = make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.url).set(database=name)
    engine = make_engine(url.render_as_string(hide_password=False))
    result: dict[str, Any] = {}
    try:
        upgrade(engine)
        if not args.reuse and jobs.partitions.partitioned(engine):
            resize(engine, args.partition_size, args.history)
        if not args.reuse:
            result["seed_s"] = round(seed(url.set(drivername="postgresql").render_as_string(hide_password=False),
                                          args.history))  # fmt: skip
        result["before"] = table_state(engine)
        result.update(prune_month(engine, args.claimers, args.retention_days))
        with engine.connect() as conn:
            result["jobs_left"] = conn.execute(text("SELECT count(*) FROM pipeline_jobs")).scalar_one()
        result["after"] = table_state(engine)
    finally:
        engine.dispose()
        if args.keep or args.reuse:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["history"] = args.history
    result["machine"] = f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}"
    result["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="minutes")
    result["load"] = os.getloadavg()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
