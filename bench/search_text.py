"""What a finished job's entry in the params search index costs PostgreSQL, by search text.

    python bench/search_text.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                [--jobs 40000] [--batch 100] [--rounds 3]

A scratch database (migrated to head, for ``zixly_search_text`` and pg_trgm; dropped after) and a
bare table of ``--jobs`` jobs with a webhook's params (``bench/anchors/base.py``, a Shopify
order's), its only index the finished-jobs trigram GIN of the variant measured:
``CAST(params AS TEXT)`` (migration 0022), ``zixly_search_text(params)`` (0023), or none. Each
round marks every job COMPLETED, ``--batch`` per statement as the runner's completions are, and
times it in the one backend doing the work; the variants alternate. Prints JSON: per variant,
the median µs per job and the trigrams per job.

Then SQLite (a scratch file, migrated): ``--jobs`` finished jobs with those params, and how long
the job browser's filter takes to count the matches of a rare value, a text no job holds, and
a key name (every job's JSON holds it, so SQLite's search text is read for every job).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, sys.path[0] is bench/: put the project root there instead (db, bench).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.anchors import base  # noqa: E402
from bench.anchors.base import libpq, sa_url  # noqa: E402
from db.engine import make_engine  # noqa: E402
from db.migrate import upgrade  # noqa: E402

VARIANTS = {"params as text": "CAST(params AS TEXT)", "search text": "zixly_search_text(params)", "no index": None}


def measure(conn: psycopg.Connection, expression: str | None, jobs: int, batch: int) -> tuple[float, float]:
    """µs per job to mark ``jobs`` finished with this index, and its trigrams per job."""
    conn.execute("DROP TABLE IF EXISTS probe")
    conn.execute("CREATE TABLE probe (id bigint PRIMARY KEY, status text NOT NULL, params jsonb NOT NULL)")
    if expression:
        conn.execute(f"CREATE INDEX ON probe USING gin (({expression}) gin_trgm_ops) WHERE status = 'COMPLETED'")
    base.PAYLOAD = "webhook"
    with conn.cursor().copy("COPY probe (id, status, params) FROM STDIN") as copy:
        for i in range(jobs):
            copy.write_row((i, "QUEUED", Jsonb(base.payload(i))))
    conn.execute("VACUUM ANALYZE probe")
    started = time.perf_counter()
    for low in range(0, jobs, batch):
        conn.execute("UPDATE probe SET status = 'COMPLETED' WHERE id >= %s AND id < %s", (low, low + batch))
    elapsed = time.perf_counter() - started
    trigrams = conn.execute(f"SELECT avg(cardinality(show_trgm({expression or 'CAST(params AS TEXT)'}))) FROM probe")
    return elapsed / jobs * 1e6, float(trigrams.fetchone()[0])  # type: ignore[index]


def sqlite_searches(jobs: int) -> dict[str, float]:
    """Seconds to count a search's matches among ``jobs`` webhook jobs on SQLite, by text."""
    from sqlalchemy import func, insert, select
    from sqlalchemy.orm import Session

    from db.filters import JobFilter
    from db.models import PipelineJob, Tenant

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/zixly.db")
        upgrade(engine)
        base.PAYLOAD = "webhook"
        timings: dict[str, float] = {}
        with Session(engine) as session:
            tenant = Tenant(name="Bench")
            session.add(tenant)
            session.flush()
            rows = [{"tenant_id": tenant.id, "job_type": "noop", "status": "COMPLETED", "params": base.payload(i)}
                    for i in range(jobs)]  # fmt: skip
            session.execute(insert(PipelineJob), rows)
            session.commit()
            for label, needle in (("a rare value", str(4_000_000 + jobs // 2)), ("no job's text", "nothing-like-it"),
                                  ("a key name", "order_id")):  # fmt: skip
                started = time.perf_counter()
                session.scalar(select(func.count()).select_from(PipelineJob).where(JobFilter(text=needle).where()))
                timings[label] = round(time.perf_counter() - started, 3)
        engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scratch = f"zixly_bench_search_{os.getpid()}"
    with psycopg.connect(libpq(args.url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    url = make_url(sa_url(args.url)).set(database=scratch).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        trigrams: dict[str, float] = {}
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            for r in range(args.rounds):
                names = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
                for name in names:
                    us, trigrams[name] = measure(conn, VARIANTS[name], args.jobs, args.batch)
                    times[name].append(us)
                    print(f"round {r + 1}: {name}: {us:.1f} µs per job", file=sys.stderr)
        result: dict[str, object] = {
            n: {"us_per_job": round(statistics.median(t), 1), "trigrams": round(trigrams[n], 1)}
            for n, t in times.items()
        }
        result["sqlite_search_s"] = sqlite_searches(args.jobs)
        print(json.dumps(result))
    finally:
        with psycopg.connect(libpq(args.url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


if __name__ == "__main__":
    main()
