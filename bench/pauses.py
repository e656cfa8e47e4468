"""What pausing clients and debouncing events cost the queue (PostgreSQL).

    python bench/pauses.py [--queued 200000] [--tenants 50] [--paused 10] [--events 2000]

``ZIXLY_BENCH_POSTGRES_URL`` names the server (default: the test database's server). The run
creates a scratch database on it, migrates it and drops it afterwards.

Measured: the claim (10 jobs) with ``--queued`` jobs spread over ``--tenants`` tenants, with no
pause, with ``--paused`` tenants paused while their jobs are still QUEUED (the claim's guard
skips them) and once they are PAUSED; the straggler sweep (``hold_stragglers``) marking them and
then finding nothing; resuming one paused tenant (releasing its held jobs, one statement); and
one-event-per-transaction enqueue, plain vs. through debounce (each event a new record, and each
event about one record, so all but the first join its job). Prints lines and, last, one JSON line.
"""

from __future__ import annotations

import os
import sys

# Run as a script, sys.path[0] is bench/: put the project root there instead.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
from sqlalchemy import Connection, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from db import jobs  # noqa: E402
from db.engine import make_engine  # noqa: E402
from db.jobs.debounce import Event, enqueue_events  # noqa: E402
from db.migrate import upgrade  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def ms(fn: Callable[[Connection], Any], engine: Engine, *, repeat: int = 1, rollback: bool = False) -> list[float]:
    out = []
    for _ in range(repeat):
        with engine.begin() as conn:
            start = time.perf_counter()
            fn(conn)
            out.append((time.perf_counter() - start) * 1000)
            if rollback:
                conn.rollback()
    return out


def claim_ms(engine: Engine) -> float:
    return statistics.median(
        ms(lambda c: jobs.claim(c, "bench", limit=10, lease_s=30), engine, repeat=30, rollback=True)
    )


def enqueue_ms(engine: Engine, events: int, make: Callable[[int], Event], debounced: bool) -> float:
    now = dt.datetime.now(dt.UTC)

    def one(n: int) -> Callable[[Connection], Any]:
        if debounced:
            return lambda c: enqueue_events(c, [make(n)], now=now)
        return lambda c: jobs.enqueue_many(c, [make(n).spec], now=now)

    times = [ms(one(n), engine)[0] for n in range(events)]
    return statistics.median(times)


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    figures: dict[str, Any] = {"queued": args.queued, "tenants": args.tenants, "paused": args.paused}
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (name) SELECT 't' || g FROM generate_series(1, :n) g"), {"n": args.tenants}
            )
            conn.execute(
                text(
                    "INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, run_at, created_at) "
                    "SELECT 1 + g % :t, 'noop', 'QUEUED', '{}', now() - interval '1 hour', now() "
                    "FROM generate_series(1, :n) g"
                ),
                {"t": args.tenants, "n": args.queued},
            )
            conn.execute(text("ANALYZE"))
        figures["claim_ms_no_pause"] = claim_ms(engine)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO client_pauses (tenant_id, workflow, reason, paused_by, paused_at) "
                    "SELECT g, '*', 'bench', 'bench', now() FROM generate_series(1, :n) g"
                ),
                {"n": args.paused},
            )
        figures["claim_ms_paused_still_queued"] = claim_ms(engine)
        held: list[int] = []
        figures["hold_sweep_ms_marking"] = ms(lambda c: held.append(jobs.pauses.hold_stragglers(c)), engine)[0]
        figures["held_jobs"] = held[0]
        figures["hold_sweep_ms_nothing_to_mark"] = statistics.median(
            ms(lambda c: jobs.pauses.hold_stragglers(c), engine, repeat=5)
        )
        figures["claim_ms_paused_held"] = claim_ms(engine)
        released: list[int | None] = []
        figures["resume_ms"] = ms(lambda c: released.append(jobs.pauses.resume(c, tenant_id=1, per_minute=60)), engine)[
            0
        ]
        figures["resume_released_jobs"] = released[0]

        def event(key: Callable[[int], str]) -> Callable[[int], Event]:
            def make(n: int) -> Event:
                spec = jobs.JobSpec(
                    tenant_id=args.tenants, job_type="xero-invoice-paid", params={"invoice_id": key(n), "n": n},
                    concurrency_key=f"xero:invoice:{key(n)}", created_by="webhook:xero",
                    idempotency_key=f"e{key(n)}:{n}",
                )  # fmt: skip
                return Event(spec, 3.0, "bench")

            return make

        figures["enqueue_ms_plain"] = enqueue_ms(engine, args.events, event(lambda n: f"p{n}"), debounced=False)
        figures["enqueue_ms_debounce_new_record"] = enqueue_ms(
            engine, args.events, event(lambda n: f"d{n}"), debounced=True
        )
        figures["enqueue_ms_debounce_same_record"] = enqueue_ms(
            engine, args.events, event(lambda n: "one"), debounced=True
        )
    finally:
        engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=200_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--paused", type=int, default=10)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    base = os.environ.get("ZIXLY_BENCH_POSTGRES_URL", DEFAULT_URL)
    scratch = f"zixly_bench_pauses_{os.getpid()}"
    libpq = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = psycopg.connect(libpq, autocommit=True)
    admin.execute(f'CREATE DATABASE "{scratch}"')
    url = make_url(base).set(drivername="postgresql+psycopg", database=scratch).render_as_string(hide_password=False)
    try:
        figures = run(url, args)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.close()
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    for key, value in figures.items():
        print(f"{key:36} {value:.2f}" if isinstance(value, float) else f"{key:36} {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
