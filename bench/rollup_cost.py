"""What the rollup triggers (migration 0019) cost the runner's finish path, on PostgreSQL.

    python bench/rollup_cost.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                [--jobs 20000] [--batch 256] [--rounds 4]

A scratch database (migrated to head, dropped after): each round puts ``--jobs`` QUEUED jobs in
place, claims and finishes them with ``db.jobs.complete`` (the runner's batched statement, one transaction
per batch), once with the triggers on and once with them disabled (``ALTER TABLE … DISABLE
TRIGGER``), alternating which goes first; before the finishes, a claim-like UPDATE of the same
batches (QUEUED → RUNNING: it runs the statement trigger too, and finds nothing to mark).
Prints JSON: median ms per 1,000 jobs claimed and finished, each way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

# Run as a script, sys.path[0] is bench/: put the project root there instead (db).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from db.engine import make_engine  # noqa: E402
from db.jobs.finish import Finished, complete  # noqa: E402
from db.migrate import upgrade  # noqa: E402

TRIGGERS = ("job_rollup_insert", "job_rollup_update", "job_rollup_delete")

_QUEUED = """
INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, attempts, created_at, run_at, started_at,
                           locked_by, locked_until)
SELECT 1 + g % 5, 'noop', 'QUEUED', '{}'::jsonb, 1, now() - g * interval '1 second', now(), NULL, NULL, NULL
FROM generate_series(1, :n) g RETURNING id
"""


_CLAIM = """
UPDATE pipeline_jobs SET status = 'RUNNING', started_at = now(), locked_by = 'bench',
    locked_until = now() + interval '1 hour' WHERE id = ANY(:ids)
"""


def one_round(engine: object, n: int, batch: int, triggers: bool) -> tuple[float, float]:
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM job_rollup_dirty"))
        conn.execute(text("TRUNCATE pipeline_jobs CASCADE"))
        ids = [r[0] for r in conn.execute(text(_QUEUED), {"n": n})]
        for name in TRIGGERS:
            conn.execute(text(f"ALTER TABLE pipeline_jobs {'ENABLE' if triggers else 'DISABLE'} TRIGGER {name}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # type: ignore[attr-defined]
        conn.execute(text("VACUUM ANALYZE pipeline_jobs"))
    t0 = time.perf_counter()
    for i in range(0, n, batch):  # a claim-like UPDATE: every UPDATE statement runs the PostgreSQL trigger
        with engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text(_CLAIM), {"ids": ids[i : i + batch]})
    claim_ms = (time.perf_counter() - t0) * 1000 / n * 1000
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        with engine.begin() as conn:  # type: ignore[attr-defined]
            done = complete(conn, "bench", [Finished(job_id=j, attempt=1) for j in ids[i : i + batch]])
            assert len(done) == len(ids[i : i + batch])
    return claim_ms, (time.perf_counter() - t0) * 1000 / n * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    name = f"zixly_bench_rollup_cost_{os.getpid()}"
    admin = make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(args.url).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (name, timezone) SELECT 'T' || g, 'UTC' FROM generate_series(1, 5) g")
            )
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        for r in range(args.rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for triggers in order:
                (on if triggers else off).append(one_round(engine, args.jobs, args.batch, triggers))
        marked = None
        with engine.connect() as conn:
            marked = conn.execute(text("SELECT count(*) FROM job_rollup_dirty")).scalar_one()
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result = {
        "jobs": args.jobs,
        "batch": args.batch,
        "claim_ms_per_1000_jobs_on_off": [[round(x[0], 1) for x in on], [round(x[0], 1) for x in off]],
        "finish_ms_per_1000_jobs_on_off": [[round(x[1], 1) for x in on], [round(x[1], 1) for x in off]],
        "median_claim_on_off": [round(statistics.median(x[0] for x in v), 1) for v in (on, off)],
        "median_finish_on_off": [round(statistics.median(x[1] for x in v), 1) for v in (on, off)],
        "markers_left_by_last_round": marked,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
