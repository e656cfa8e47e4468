"""Dashboard benchmark (issue 7 §12): the dashboard's queries and CSV export at 1,000,000 jobs.

Creates a scratch PostgreSQL database, migrates it, fills it with INSERT … SELECT
generate_series (50 tenants, N jobs over 90 days, 2 steps and 1 related record per job),
times every page's queries (median of 5 after a warm-up), the first and the 100th (``--page``) page of the
job browser with filters, a record lookup, what the live pages poll (``refresh_ms``, and the database time
one open page costs per minute, ``refresh_db_ms_per_minute``), and a full CSV export (rows/s, then peak memory
under tracemalloc), drops the database and prints JSON as its last line.

    python bench/dashboard.py [--jobs 1000000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                              [--page 100] [--keep] [--reuse DBNAME] [--history N]

``--history N`` (issue 20) fills with ``bench/history_seed.py`` instead: N finished jobs over 90 days
(indexes rebuilt after the fill, so 10,000,000 take minutes, not hours), then the live part on top
(1,000 QUEUED and 100 RUNNING jobs created in the last minutes, the connections, a runner).

Before timing, the dashboard's hourly rollups are brought up to date the way the runner's tick does it
(``rollup_catch_up``: hours and seconds; all of them after a fill or the migration that added them).

``--keep`` leaves the filled database in place (its name goes to stderr); ``--reuse DBNAME``
skips the fill and times an existing one (migrating it to head first, so a new index lands).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, sys.path[0] is bench/: put the project root there instead (db, app).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import jobtypes  # noqa: E402
from bench.history_seed import seed  # noqa: E402
from db import queries, rollups  # noqa: E402
from db.engine import make_engine, make_session_factory  # noqa: E402
from db.export import jobs_csv  # noqa: E402
from db.filters import JobFilter  # noqa: E402
from db.migrate import upgrade  # noqa: E402

TYPES = ["xero-invoice-paid", "shopify-order-to-xero", "hubspot-deal-won-to-asana", "xero-contacts-to-hubspot",
         "trading-sweep"]  # fmt: skip

FILL = [
    """INSERT INTO tenants (name, timezone) SELECT 'Tenant ' || lpad(g::text, 3, '0'), 'UTC'
       FROM generate_series(1, 50) g""",
    """INSERT INTO connections (tenant_id, system, external_org_id, status, expires_at)
       SELECT t.id, s.system, s.system || '-' || t.id, CASE WHEN t.id % 17 = 0 THEN 'expired' ELSE 'connected' END,
              now() + interval '30 minutes'
       FROM tenants t CROSS JOIN (VALUES ('xero'), ('hubspot'), ('shopify'), ('asana')) s(system)""",
    # Jobs: 90 days of history, newest ~ now; 90 % completed, 7 % failed, 2 % cancelled, 1 % queued/running.
    """INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, result, error, attempts, created_by,
                                  created_at, run_at, started_at, completed_at)
       SELECT 1 + (g % 50),
              (ARRAY[{types}])[1 + (g % 5)],
              CASE WHEN g % 100 < 90 THEN 'COMPLETED' WHEN g % 100 < 97 THEN 'FAILED'
                   WHEN g % 100 < 99 THEN 'CANCELLED' WHEN g % 200 = 199 THEN 'QUEUED' ELSE 'RUNNING' END,
              jsonb_build_object('invoice_number', 'INV-' || lpad((g % 10000)::text, 5, '0'),
                                 'order_name', '#' || (1000 + g % 50000)),
              CASE WHEN g % 100 < 90 THEN '{{"ok": true}}'::jsonb END,
              CASE WHEN g % 100 BETWEEN 90 AND 96 THEN 'HubSpot answered 429 for 3 attempts' END,
              1, 'webhook:xero', ts, ts, ts + interval '50 ms', ts + (g % 7 + 1) * interval '1 second'
       FROM (SELECT g, now() - (g * (interval '90 days' / :n)) AS ts FROM generate_series(1, :n) g) x""",
    """UPDATE pipeline_jobs SET started_at = NULL, completed_at = NULL, result = NULL WHERE status = 'QUEUED'""",
    """UPDATE pipeline_jobs SET completed_at = NULL, result = NULL WHERE status = 'RUNNING'""",
    """INSERT INTO job_steps (job_id, attempt, kind, message, system, method, path, status_code, latency_ms, at)
       SELECT id, 1, 'call', 'GET invoice', 'xero', 'GET', '/api.xro/2.0/Invoices', 200, 120, started_at
       FROM pipeline_jobs WHERE started_at IS NOT NULL
       UNION ALL
       SELECT id, 1, 'info', 'done', NULL, NULL, NULL, NULL, NULL, coalesce(completed_at, started_at)
       FROM pipeline_jobs WHERE started_at IS NOT NULL""",
    """INSERT INTO related_records (job_id, tenant_id, system, record_type, record_id, action, at)
       SELECT id, tenant_id, 'xero', 'invoice', params->>'invoice_number', 'READ', created_at FROM pipeline_jobs""",
    """INSERT INTO runners (id, host, pid, slots, busy) VALUES ('bench', 'bench', 1, 8, 3)""",
]


# On top of ``--history``: what is live now (the history itself is only finished jobs).
LIVE = [
    FILL[1],
    """INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, attempts, created_by, created_at, run_at,
                                  started_at, locked_by, locked_until)
       SELECT t.id, 'xero-invoice-paid', CASE WHEN g <= 100 THEN 'RUNNING' ELSE 'QUEUED' END,
              jsonb_build_object('invoice_number', 'INV-' || lpad(g::text, 5, '0')), 0, 'webhook:xero',
              now() - g * interval '100 ms', now() - g * interval '100 ms',
              CASE WHEN g <= 100 THEN now() END, CASE WHEN g <= 100 THEN 'bench' END,
              CASE WHEN g <= 100 THEN now() + interval '5 minutes' END
       FROM generate_series(1, 1100) g JOIN tenants t ON t.name = 'History ' || lpad((1 + g % 50)::text, 3, '0')""",
    FILL[-1],
]


def timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    fn()  # warm-up: plan caches, buffer cache
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(samples), 2)


def page_n(session: Any, f: JobFilter, n: int) -> Callable[[], Any]:
    cursor = None
    for _ in range(n - 1):
        page = queries.browse_jobs(session, f, cursor)
        cursor = page.next_cursor
        assert cursor is not None, "fewer pages than asked for"
    return lambda: queries.browse_jobs(session, f, cursor)


# What the live pages poll, and how often (app/pages/jobs.py, overview.py, connections.py, app/job_view.py).
REFRESH_EVERY_S = {
    "jobs.live_first_page_all": 10,
    "jobs.live_first_page_failed": 10,
    "overview.refresh_24h": 30,
    "connections.probe": 5,
    "job_page.probe": 10,
}


def live_refresh(s: Any, some_job: int) -> dict[str, float]:
    """One refresh of each live page: the Jobs list's first page, Overview's tiles and charts, the probes."""
    now = dt.datetime.now(dt.UTC)
    day = (now - dt.timedelta(hours=24), now)

    def overview() -> None:
        queries.kpis(s, (), *day)
        queries.jobs_over_time(s, (), *day)
        queries.duration_percentiles(s, (), *day)
        queries.volume_by_tenant(s, (), *day)

    return {
        "jobs.live_first_page_all": timed(lambda: queries.browse_jobs(s, JobFilter())),
        "jobs.live_first_page_failed": timed(lambda: queries.browse_jobs(s, JobFilter(statuses=("FAILED",)))),
        "overview.refresh_24h": timed(overview),
        "connections.probe": timed(lambda: queries.connection_states(s, 7)),
        "job_page.probe": timed(lambda: queries.job_state(s, some_job)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--page", type=int, default=100, help="the deep page of the job browser to time")
    ap.add_argument("--keep", action="store_true", help="leave the filled database for --reuse")
    ap.add_argument("--reuse", metavar="DBNAME", help="time an already filled database (no fill, not dropped)")
    ap.add_argument("--history", type=int, metavar="N", help="fill with N finished jobs (bench/history_seed.py)")
    args = ap.parse_args()
    name = args.reuse or f"zixly_bench_dashboard_{os.getpid()}"
    admin = make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        fill_s = None
        if args.reuse:
            with engine.connect() as conn:
                args.jobs = conn.execute(text("SELECT count(*) FROM pipeline_jobs")).scalar_one()
        elif args.history is not None:
            t0 = time.perf_counter()
            seed(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), args.history)
            with engine.begin() as conn:
                for sql in LIVE:
                    conn.execute(text(sql))
            args.jobs = args.history + 1100
            fill_s = round(time.perf_counter() - t0, 1)
        else:
            t0 = time.perf_counter()
            with engine.begin() as conn:
                for sql in FILL:
                    conn.execute(text(sql.format(types=", ".join(f"'{t}'" for t in TYPES))), {"n": args.jobs})
            fill_s = round(time.perf_counter() - t0, 1)
            print(f"filled {args.jobs:,} jobs in {fill_s:.0f} s", file=sys.stderr)
        # The runner's rollup tick, until nothing is marked (a fill, or the history a migration marked).
        hours, rollup_s = rollups.catch_up(engine.begin)
        print(f"rollups: caught up on {hours:,} hours in {rollup_s:.1f} s", file=sys.stderr)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        result = run(engine, args.jobs, args.page)
        result["fill_s"] = fill_s
        result["rollup_catch_up"] = {"hours": hours, "s": round(rollup_s, 1)}
    finally:
        engine.dispose()
        if args.keep or args.reuse:
            print(f"kept database {name} (--reuse {name}; drop it when done)", file=sys.stderr)
        else:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["machine"] = f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}"
    result["date"] = dt.date.today().isoformat()
    print(json.dumps(result))
    return 0


def run(engine: Any, jobs: int, deep: int = 100) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    day, week = (now - dt.timedelta(hours=24), now), (now - dt.timedelta(days=7), now)
    failed = JobFilter(statuses=("FAILED",))
    tenant_failed = JobFilter(tenant_ids=(7,), statuses=("FAILED",))
    typed = JobFilter(job_types=("shopify-order-to-xero",), created_from=now - dt.timedelta(days=30))
    q: dict[str, float] = {}
    with make_session_factory(engine)() as s:
        some_job = s.scalar(text("SELECT max(id) FROM pipeline_jobs WHERE status = 'COMPLETED'"))
        q["overview.kpis_24h"] = timed(lambda: queries.kpis(s, (), *day))
        q["overview.kpis_7d"] = timed(lambda: queries.kpis(s, (), *week))
        q["overview.jobs_over_time_24h"] = timed(lambda: queries.jobs_over_time(s, (), *day))
        q["overview.duration_percentiles_24h"] = timed(lambda: queries.duration_percentiles(s, (), *day))
        q["overview.volume_by_tenant_24h"] = timed(lambda: queries.volume_by_tenant(s, (), *day))
        q["overview.kpis_24h_one_tenant"] = timed(lambda: queries.kpis(s, (7,), *day))
        q["clients.health_board"] = timed(lambda: queries.health_board(s))
        q["connections.one_tenant"] = timed(
            lambda: queries.connections(s, 7, workflows=jobtypes.WORKFLOW_USES, uses=jobtypes.USES)
        )
        q["filters.job_types"] = timed(lambda: queries.job_types(s))
        q["filters.tenants"] = timed(lambda: queries.tenants(s))
        q["jobs.page1_all"] = timed(lambda: queries.browse_jobs(s, JobFilter()))
        q["jobs.page1_failed"] = timed(lambda: queries.browse_jobs(s, failed))
        q["jobs.page1_tenant_failed"] = timed(lambda: queries.browse_jobs(s, tenant_failed))
        q["jobs.page1_type_30d"] = timed(lambda: queries.browse_jobs(s, typed))
        q["jobs.page1_text_429"] = timed(lambda: queries.browse_jobs(s, JobFilter(text="429")))
        q[f"jobs.page{deep}_all"] = timed(page_n(s, JobFilter(), deep))
        q[f"jobs.page{deep}_failed"] = timed(page_n(s, failed, deep))
        q[f"jobs.page{deep}_one_tenant"] = timed(page_n(s, JobFilter(tenant_ids=(7,)), deep))
        q["jobs.bulk_rerun_count_failed"] = timed(lambda: queries.count_jobs(s, failed, 5000))
        q["jobs.detail"] = timed(lambda: queries.job_detail(s, some_job))
        q["lookup.record"] = timed(lambda: queries.lookup_record(s, "INV-00042"))
        q["webhooks.deliveries"] = timed(lambda: queries.deliveries(s))
        q["schedules.list"] = timed(lambda: queries.schedules(s))
        q["audit.log"] = timed(lambda: queries.audit_log(s))
        rare = timed(lambda: queries.browse_jobs(s, JobFilter(text="INV-00042")), repeat=3)
        refresh = live_refresh(s, some_job)

        def export() -> int:
            size = 0
            with make_session_factory(engine)() as es:
                for chunk in jobs_csv(es, JobFilter()):
                    size += len(chunk)
            return size

        t0 = time.perf_counter()
        size = export()
        export_s = time.perf_counter() - t0
        tracemalloc.start()
        export()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "jobs": jobs,
        "max_page_query_ms": max(q.values()),
        "queries_ms": q,
        "rare_text_search_ms": rare,
        "refresh_ms": refresh,
        # One open filter/page for a minute (the 3 s shared cache makes N tabs of it cost the same).
        "refresh_db_ms_per_minute": {
            name: round(refresh[name] * 60 / every_s, 1) for name, every_s in REFRESH_EVERY_S.items()
        },
        "export_rows": jobs,
        "export_s": round(export_s, 2),
        "export_mb": round(size / 1e6, 1),
        "export_rows_per_s": round(jobs / export_s),
        "export_peak_mb": round(peak / 1e6, 1),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
