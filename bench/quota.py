"""Xero's per-organisation quota across runners: ``python bench/quota.py [--jobs 500] [--per-minute 60]``.

Real processes (``tests/e2e/e2e_stack.py``): the sandbox enforcing Xero's per-organisation
minute limit (429 with ``Retry-After`` and ``X-Rate-Limit-Problem``, windows that start on each
organisation's first call), the listener, and ``--runners`` runner processes on a scratch
PostgreSQL database (or ``--sqlite``). Two tenants connect two Xero organisations through the
real OAuth flow. ``--jobs`` invoice jobs (``xero_invoice_paid`` on an unpaid invoice: one Xero
call each) are queued for organisation A; once its queue has waited through a window,
``--second-jobs`` for organisation B. Prints how long A took against the minimum its quota
allows (the window that the last call falls in), how many calls were answered 429, how many
attempts the jobs spent, and how long B's jobs took from queueing to done.

``--window-s`` shortens the minute (``ZIXLY_QUOTA_TIME_SCALE`` for the runners, the sandbox
budget's window) so a quick run keeps the same logic: ``--window-s 5`` is 60 calls per 5 s.
The last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests" / "e2e"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from e2e_stack import Stack, wait_for  # noqa: E402

from db import jobs as queue  # noqa: E402
from db import quota  # noqa: E402
from db.engine import make_engine  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from jobtypes import XERO_INVOICE_PAID  # noqa: E402
from sandbox.demo_accounts import XERO_TENANT_ID  # noqa: E402
from sandbox.xero.data import invoice_id  # noqa: E402

UNPAID = invoice_id("INV-0040")  # AUTHORISED: the job reads it (one call) and has nothing to do
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def minimum_s(calls: int, per_window: int, window_s: float) -> float:
    """The least time ``calls`` calls can take under ``per_window`` per ``window_s``: the start of
    the window the last one falls in (the first ``per_window`` go at once)."""
    return math.floor((calls - 1) / per_window) * window_s


def run(
    db_url: str,
    tmp: Path,
    *,
    jobs: int,
    second_jobs: int,
    per_minute: int,
    window_s: float,
    runners: int,
    concurrency: int = 4,
    max_wait_s: float | None = None,
) -> dict[str, Any]:
    """Run the measurement against a migrated, empty database; the figures."""
    stack = Stack(
        db_url, tmp,
        ZIXLY_QUOTA_TIME_SCALE=f"{window_s / 60:g}", ZIXLY_RUNNER_CONCURRENCY=str(concurrency),
        ZIXLY_RUNNER_LEASE_S="30", ZIXLY_RUNNER_POLL_S="0.2",
        **({} if max_wait_s is None else {"ZIXLY_QUOTA_MAX_WAIT_S": f"{max_wait_s:g}"}),
    )  # fmt: skip
    try:
        stack.start()
        for _ in range(runners - 1):
            stack.start_runner()
        stack.control("limits", vendor="xero", budget="day", limit=10_000_000, window_s=86_400)
        stack.sandbox_post("/_sandbox/xero/consent", tenant_ids=[XERO_TENANT_ID])
        tenant_a = stack.create_tenant("Org A", systems=("xero",))
        org_b = stack.sandbox_post("/_sandbox/xero/organisations", name="Org B", with_demo_records=True)
        stack.sandbox_post("/_sandbox/xero/consent", tenant_ids=[org_b["tenant_id"]])
        tenant_b = stack.create_tenant("Org B", systems=("xero",))
        if per_minute < 60:  # a tenant's own lower limit, as set on the Clients board
            with stack.engine.begin() as conn:
                for tenant in (tenant_a, tenant_b):
                    quota.set_override(conn, stack.connection(tenant, "xero").id, "minute", per_minute, by="bench")
        # The sandbox enforces the (shortened) minute from here on, each organisation's window
        # starting on its first call, as Xero's do.
        stack.control("limits", vendor="xero", budget="minute", limit=per_minute, window_s=window_s)

        def enqueue(tenant: int, n: int) -> None:
            specs = [
                queue.JobSpec(tenant_id=tenant, job_type=XERO_INVOICE_PAID, params={"invoice_id": UNPAID})
                for _ in range(n)
            ]
            with stack.engine.begin() as conn:
                queue.enqueue_many(conn, specs)

        started = time.monotonic()
        enqueue(tenant_a, jobs)
        if second_jobs:
            time.sleep(window_s * 1.5)  # A's queue now waits for its next window
            enqueue(tenant_b, second_jobs)

        def finished() -> bool:
            with stack.engine.connect() as conn:
                return not conn.execute(
                    text("SELECT count(*) FROM pipeline_jobs WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')")
                ).scalar_one()

        budget = (minimum_s(jobs, per_minute, window_s) + 4 * window_s) * 3 + 60
        wait_for(finished, budget, "every job to finish", every=0.5)
        wall_s = time.monotonic() - started
        return figures(stack, tenant_a, tenant_b, jobs=jobs, per_minute=per_minute, window_s=window_s) | {
            "wall_s": round(wall_s, 1)
        }
    finally:
        stack.stop()


def figures(
    stack: Stack, tenant_a: int, tenant_b: int, *, jobs: int, per_minute: int, window_s: float
) -> dict[str, Any]:
    per_tenant: dict[str, Any] = {}
    with stack.engine.connect() as conn:
        for label, tenant in (("a", tenant_a), ("b", tenant_b)):
            row = conn.execute(
                text(
                    "SELECT count(*), min(created_at), max(completed_at), max(attempts), "
                    "sum(CASE WHEN status = 'COMPLETED' THEN 1 ELSE 0 END) FROM pipeline_jobs WHERE tenant_id = :t"
                ),
                {"t": tenant},
            ).one()
            steps = conn.execute(
                text(
                    "SELECT count(*), sum(CASE WHEN s.status_code = 429 THEN 1 ELSE 0 END) FROM job_steps s "
                    "JOIN pipeline_jobs j ON j.id = s.job_id WHERE j.tenant_id = :t AND s.kind = 'call' "
                    "AND s.system = 'xero'"
                ),
                {"t": tenant},
            ).one()
            first_call, last_call = conn.execute(
                text(
                    "SELECT min(s.at), max(s.at) FROM job_steps s JOIN pipeline_jobs j ON j.id = s.job_id "
                    "WHERE j.tenant_id = :t AND s.kind = 'call' AND s.system = 'xero'"
                ),
                {"t": tenant},
            ).one()
            waits = [
                json.loads(m) if isinstance(m, str) else m
                for (m,) in conn.execute(text("SELECT metrics FROM pipeline_jobs WHERE tenant_id = :t"), {"t": tenant})
            ]
            created, completed = queue._sql.read_ts(row[1]), queue._sql.read_ts(row[2])
            first, last = queue._sql.read_ts(first_call), queue._sql.read_ts(last_call)
            per_tenant[label] = {
                "jobs": int(row[0]),
                "completed": int(row[4] or 0),
                "max_attempts_spent": int(row[3] or 0),
                "xero_calls": int(steps[0]),
                "answered_429": int(steps[1] or 0),
                "requeued_for_quota": sum(int((m or {}).get("quota_waits", 0)) for m in waits),
                "queued_to_done_s": round((completed - created).total_seconds(), 1) if created and completed else None,
                "first_to_last_call_s": round((last - first).total_seconds(), 1) if first and last else None,
                "last_done_at": completed.isoformat() if completed else None,
            }
    a = per_tenant["a"]
    least = minimum_s(a["xero_calls"] or jobs, per_minute, window_s)
    a["minimum_s"] = least
    a["over_minimum_pct"] = (
        round(100 * (a["first_to_last_call_s"] - least) / least, 1) if least and a["first_to_last_call_s"] else None
    )
    return per_tenant


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=500, help="invoice jobs for organisation A")
    ap.add_argument("--second-jobs", type=int, default=20, help="jobs for organisation B, queued behind A's")
    ap.add_argument("--per-minute", type=int, default=60, help="Xero's limit per window (60; lower is a tenant's own)")
    ap.add_argument("--window-s", type=float, default=60.0, help="the window: 60 as Xero; e.g. 5 for a quick run")
    ap.add_argument("--runners", type=int, default=3)
    ap.add_argument("--max-wait-s", type=float, help="ZIXLY_QUOTA_MAX_WAIT_S for the runners (default 5)")
    ap.add_argument("--sqlite", action="store_true", help="a scratch SQLite file instead of PostgreSQL")
    ap.add_argument("--url", default=os.environ.get("ZIXLY_BENCH_POSTGRES_URL", DEFAULT_PG))
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="zixly-bench-quota-"))
    name = f"zixly_bench_quota_{os.getpid()}"
    admin = make_url(args.url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    if args.sqlite:
        url = f"sqlite:///{tmp / 'zixly.db'}"
    else:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        result = run(url, tmp, jobs=args.jobs, second_jobs=args.second_jobs, per_minute=args.per_minute,
                     window_s=args.window_s, runners=args.runners, max_wait_s=args.max_wait_s)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)  # the logs are kept when the run failed
    finally:
        if not args.sqlite:
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["setup"] = {
        "jobs": args.jobs, "second_jobs": args.second_jobs, "per_window": args.per_minute, "window_s": args.window_s,
        "runners": args.runners, "database": "sqlite" if args.sqlite else "postgresql",
    }  # fmt: skip
    result["machine"] = f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}"
    result["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    a, b = result["a"], result["b"]
    print(f"A: {a['completed']}/{a['jobs']} jobs, {a['xero_calls']} Xero calls, {a['answered_429']} answered 429, "
          f"first to last call {a['first_to_last_call_s']} s vs minimum {a['minimum_s']:g} s "
          f"({a['over_minimum_pct']} % over); max attempts spent {a['max_attempts_spent']}; "
          f"{a['requeued_for_quota']} requeues for quota")  # fmt: skip
    print(f"B: {b['completed']}/{b['jobs']} jobs, {b['answered_429']} answered 429, "
          f"queued to done {b['queued_to_done_s']} s")  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
