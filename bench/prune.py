"""Retention benchmark (issue 20): prune the oldest month of N jobs of history, as the runner does.

    python bench/prune.py [--history 10000000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                          [--reuse DBNAME] [--keep]

Creates a scratch database, migrates it, seeds ``--history`` finished jobs over 90 days
(``bench/history_seed.py``), then runs the runner's retention pass (``sync.scheduler.prune_history``'s
loop over ``db.jobs.prune``) with a 60-day retention, so the oldest 30 days go. Prints how long it
took, how many transactions it used and the longest one (every lock it takes is held at most
that long), the rows left, and each table's size and dead tuples after (bloat), as JSON last.
``--reuse DBNAME`` prunes an existing filled database (it is changed: use a copy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.history_seed import TABLES, seed  # noqa: E402
from db import jobs  # noqa: E402
from db.engine import make_engine  # noqa: E402
from db.migrate import upgrade  # noqa: E402

RETENTION_DAYS = 60


def table_state(engine: Any) -> dict[str, Any]:
    sql = """SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup
             FROM pg_stat_user_tables WHERE relname = ANY(:t)"""
    with engine.connect() as conn:
        return {
            r[0]: {"total_mb": round(r[1] / 1e6), "live": r[2], "dead": r[3]}
            for r in conn.execute(text(sql), {"t": list(TABLES)})
        }


def prune_month(engine: Any) -> dict[str, Any]:
    """The runner's retention pass (``sync.scheduler.prune``): chunks, one transaction each."""
    txs: list[float] = []
    total = 0
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        with engine.begin() as conn:
            n = jobs.prune(conn, RETENTION_DAYS)
        txs.append(time.perf_counter() - t)
        total += n
        if n < 5000:
            break
    return {
        "pruned_jobs": total,
        "prune_s": round(time.perf_counter() - t0, 1),
        "transactions": len(txs),
        "longest_transaction_ms": round(max(txs) * 1000, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=10_000_000)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--reuse", metavar="DBNAME")
    ap.add_argument("--keep", action="store_true")
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
        if not args.reuse:
            result["seed_s"] = round(seed(url.set(drivername="postgresql").render_as_string(hide_password=False),
                                          args.history))  # fmt: skip
        result["before"] = table_state(engine)
        result.update(prune_month(engine))
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
