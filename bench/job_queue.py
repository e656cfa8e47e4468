"""Job-queue benchmark: Zixly vs its anchors (pgqueuer, procrastinate, graphile-worker), same database.

    python bench/job_queue.py [--jobs N] [--runners 1,2,4] [--samples 200] [--systems …] [--history N]
        [--payload empty|webhook]

``ZIXLY_BENCH_POSTGRES_URL`` names the server (default: the test database's server). The run
creates a scratch database on it and drops it afterwards; nothing touches the ``test`` tables.

Each anchor runs as its authors run it: its module in ``bench/anchors/`` holds its worker, its
settings and where they come from (printed with the table). graphile-worker is Node, installed
from npm into ``bench/anchors/graphile/`` by ``make bench-graphile``; without node or that
install it is skipped with the reason (``--systems`` without it runs the rest).

Measured for each system: one-call enqueue (one job per call, committed per call, one client),
batched enqueue (5,000 per call), processing of no-op jobs by 1, 2 and 4 worker processes
(jobs preloaded, the clock runs from "go" to an empty queue) with the CPU time it cost per job
(the worker processes plus the PostgreSQL backends serving them, psutil, as bench/webhook.py),
and enqueue→start latency on an idle queue with LISTEN/NOTIFY (one worker; from the enqueue's
commit to the handler's own time stamp). The 1-minute load average is recorded before and after
each system. Prints a table and, last, one JSON line with the figures (null where a peer cannot
produce one).

Zixly only, labelled apart (the issue's one-call figure above stays one client): one-call
enqueue from ``--clients`` concurrent client threads (as the listener's gunicorn workers
would), once with the NOTIFY inside each enqueue's transaction (the default) and once with
``notify=False`` plus ``jobs.notify_runners`` after the commit (``enqueue_concurrent…``
keys; null for the peers, not measured for them).

``--history N`` (Zixly only, issue 20): first seeds N finished jobs of history with their steps and
related records (``bench/history_seed.py``), and between measurements deletes only the bench
tenant's jobs, so every figure is taken beside that history. ``--history 0`` runs the same way
on an empty history (the baseline to compare with). ``--reuse DBNAME`` runs in an existing database
(seeded before, e.g. by ``bench/history_seed.py``) and leaves it, so runs on an empty and a seeded
database can alternate on a noisy machine without re-seeding; each clear then also VACUUMs the job
tables (as autovacuum would; this server runs with it off) and prints how long that took.
"""

from __future__ import annotations

import os
import sys

# Run as a script, sys.path[0] is bench/: put the project root there instead (db, sync, jobtypes).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.anchors import base as anchor_base  # noqa: E402
from bench.anchors import cpu  # noqa: E402
from bench.anchors import graphile as graphile_anchor  # noqa: E402
from bench.anchors import pgqueuer as pgqueuer_anchor  # noqa: E402
from bench.anchors import procrastinate as procrastinate_anchor  # noqa: E402
from bench.anchors.base import BATCH, PAYLOADS, System, libpq, payload, sa_url, stamp  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SYSTEMS = ("zixly", "pgqueuer", "procrastinate", "graphile")
# Zixly's own knobs for many tiny jobs: 128 workers and no prefetch. A claim starts a job for
# each free worker in the same update, so every job is claimed and started in one row version and
# no start statement is left; with 16 workers and a prefetch of 256, four in five jobs took a start
# statement of their own (16 a statement) and a third row version. Five alternated runs each
# (2026-12-07 22:40 UTC): CPU per job, median, 214.3 µs (16 / 256) → 142.7 (64 / 128) → 114.7
# (128 / 0) → 132.7 (256 / 0); see docs/benchmarks.md. Overridable for tuning runs
# (``BENCH_ZIXLY_CONCURRENCY``, ``BENCH_ZIXLY_PREFETCH``; the workers inherit them).
ZIXLY_CONCURRENCY = int(os.environ.get("BENCH_ZIXLY_CONCURRENCY", "128"))
ZIXLY_PREFETCH = int(os.environ.get("BENCH_ZIXLY_PREFETCH", "0"))
REUSE: str | None = None  # --reuse DBNAME
HISTORY: int | None = None  # --history N: jobs of history seeded beside Zixly's (None: none, and TRUNCATE)


# -- workers (run as subprocesses: --worker SYSTEM) ----------------------------------------


def worker_zixly(url: str, stamp_file: str) -> None:
    import dataclasses

    from apscheduler.schedulers.background import BackgroundScheduler
    from pydantic import ConfigDict

    import jobtypes
    import jobtypes.catalogue
    import jobtypes.params
    from settings import Settings
    from sync import workflows
    from sync.listen import Listener
    from sync.runner import Runner
    from sync.scheduler import build_scheduler

    # The catalogued noop, its handler swapped for one that stamps the start time of the latency
    # samples (``note: true``; they are keyed by job id) and does nothing for the throughput jobs.
    def noop_stamp(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        if params["note"]:
            stamp(stamp_file, str(ctx.job_id))
        return {}

    # ``--payload webhook``: the noop takes a webhook job's params too (its own model refuses
    # unknown fields); they are validated as a real job's are, then ignored.
    class PayloadParams(jobtypes.params.NoopParams):
        model_config = ConfigDict(extra="allow")

    workflows.load()
    noop = dataclasses.replace(jobtypes.job_type(jobtypes.NOOP), params=PayloadParams)
    jobtypes.catalogue.BY_NAME[jobtypes.NOOP] = noop  # the runner's check reads the catalogue
    workflows._registry[jobtypes.NOOP] = workflows.Workflow(noop, noop_stamp)

    settings = Settings(
        env="test", database_url=sa_url(url), runner_concurrency=ZIXLY_CONCURRENCY, runner_prefetch=ZIXLY_PREFETCH,
        runner_metrics_port=0, log_json=False, _env_file=None,  # type: ignore[call-arg]
    )  # fmt: skip
    runner = Runner(settings)
    print("ready", flush=True)
    sys.stdin.readline()
    runner.start()
    scheduler: BackgroundScheduler = build_scheduler(runner)
    scheduler.start()
    Listener(settings.database_url, runner.wake, runner.stopping).start()
    runner.wake()
    sys.stdin.readline()
    runner.stop(grace_s=5)
    scheduler.shutdown(wait=False)


WORKERS: dict[str, Callable[[str, str], None]] = {
    "zixly": worker_zixly,
    "pgqueuer": pgqueuer_anchor.worker,
    "procrastinate": procrastinate_anchor.worker,
}


class Workers:
    """N worker processes of one system, started, readied, released together."""

    def __init__(self, system: System, n: int, stamp_file: str) -> None:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}, "PYTHONUNBUFFERED": "1"}
        self.procs = [
            subprocess.Popen(
                system.worker_command(stamp_file),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=ROOT,
                text=True,
            )
            for _ in range(n)
        ]
        for proc in self.procs:
            line = proc.stdout.readline() if proc.stdout else ""
            if line.strip() != "ready":
                raise RuntimeError(f"{system.name} worker failed to start")

    def go(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def stop(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            try:
                proc.stdin.write("stop\n")
                proc.stdin.flush()
            except BrokenPipeError:
                pass
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- per-system operations (in the bench process) ------------------------------------------


class Zixly(System):
    name = "zixly"
    settings = (
        f"runner concurrency {ZIXLY_CONCURRENCY}, prefetch {ZIXLY_PREFETCH} (ZIXLY_RUNNER_CONCURRENCY, "
        "ZIXLY_RUNNER_PREFETCH), LISTEN/NOTIFY; jobs kept (pipeline_jobs is queue and record)"
    )

    def setup(self) -> None:
        from sqlalchemy import text

        from db import jobs
        from db.engine import make_engine
        from db.migrate import upgrade

        self.jobs, self.text, self.make_engine = jobs, text, make_engine
        self.stamp_keys: dict[int, str] = {}
        self.engine = make_engine(sa_url(self.url), pool_pre_ping=False)
        self.autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        upgrade(self.engine)
        with self.engine.begin() as conn:
            sql = "INSERT INTO tenants (name) VALUES ('bench') ON CONFLICT (name) "
            sql += " DO UPDATE SET active = true RETURNING id"
            self.tenant = conn.execute(text(sql)).scalar_one()
        if HISTORY and not REUSE:  # a reused database is seeded already
            from bench.history_seed import seed

            seed(libpq(self.url), HISTORY)

    def clear(self) -> None:
        if HISTORY is not None:  # keep the history: delete the bench tenant's jobs (steps etc. cascade)
            with self.engine.begin() as conn:
                conn.execute(self.text("DELETE FROM pipeline_jobs WHERE tenant_id = :t"), {"t": self.tenant})
                conn.execute(self.text("DELETE FROM runners"))
            if REUSE:
                t0 = time.perf_counter()
                with self.autocommit.connect() as conn:
                    conn.execute(self.text("VACUUM pipeline_jobs, job_steps, related_records"))
                print(f"  vacuum after clear: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            return
        with self.engine.begin() as conn:
            tables = "pipeline_jobs, job_steps, related_records, runners, schedules, webhook_deliveries"
            # CASCADE: the tables that point at jobs (waits, alert groups' jobs) empty with them.
            conn.execute(self.text(f"TRUNCATE {tables} CASCADE"))

    def enqueue_one(self, i: int) -> None:
        # One statement in its own transaction (an autocommit connection: no BEGIN/COMMIT round
        # trips), as pgqueuer's enqueue; the commit is durable (synchronous_commit=on).
        with self.autocommit.connect() as conn:
            self.jobs.enqueue(conn, tenant_id=self.tenant, job_type="noop", params={"i": i})

    def enqueue_batch(self, n: int) -> None:
        with self.engine.begin() as conn:
            for start in range(0, n, BATCH):
                specs = [
                    self.jobs.JobSpec(self.tenant, "noop", payload(i)) for i in range(start, min(start + BATCH, n))
                ]
                self.jobs.enqueue_many(conn, specs)

    def enqueue_stamp(self, i: int) -> None:
        with self.engine.begin() as conn:
            job = self.jobs.enqueue(conn, tenant_id=self.tenant, job_type="noop", params={"note": True})
        self.stamp_keys[i] = str(job.id)

    def stamp_key(self, i: int) -> str:
        return self.stamp_keys[i]

    def enqueue_concurrent(self, n: int, clients: int, *, after_commit: bool) -> float:
        """``n`` one-call enqueues (each committed durably) from ``clients`` threads; jobs/s."""
        base = self.make_engine(sa_url(self.url), pool_size=clients, pool_pre_ping=False)
        engine = base.execution_options(isolation_level="AUTOCOMMIT")
        counter = iter(range(n))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                with engine.connect() as conn:  # each statement commits (durably) on its own
                    self.jobs.enqueue(conn, tenant_id=self.tenant, job_type="noop", params={"i": i},
                                      notify=not after_commit)  # fmt: skip
                    if after_commit:
                        self.jobs.notify_runners(conn)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        with engine.connect():  # open the pool's connections before the clock starts
            pass
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - start
        base.dispose()
        return n / took

    def any_left(self) -> bool:
        # By index scans, not a bitmap one: an index scan marks the dead entries it passes (the
        # claimed and finished jobs' old row versions) so the next poll skips them; a bitmap scan
        # never does and read them all again at every poll, 15–45 ms each with 200,000 jobs
        # run, about a tenth of the machine's CPU taken from the runners (perf, session 12).
        sql = (
            "SELECT EXISTS (SELECT 1 FROM pipeline_jobs WHERE status = 'QUEUED') "
            "OR EXISTS (SELECT 1 FROM pipeline_jobs WHERE status = 'RUNNING')"
        )
        with self.engine.begin() as conn:
            conn.execute(self.text("SET LOCAL enable_bitmapscan = off"))
            return bool(conn.execute(self.text(sql)).scalar_one())

    def processed(self) -> int:
        with self.engine.connect() as conn:
            sql = "SELECT count(*) FROM pipeline_jobs WHERE status = 'COMPLETED' AND tenant_id = :t"
            return int(conn.execute(self.text(sql), {"t": self.tenant}).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


# -- measurements ---------------------------------------------------------------------------


def rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def measure_processing(system: System, meter: Callable[[list[int]], cpu.Meter], jobs: int, runners: int,
                       stamp_file: str) -> dict[str, float]:  # fmt: skip
    """Jobs/s from "go" to an empty queue, and the CPU µs each job cost (workers + their backends)."""
    system.clear()
    system.enqueue_batch(jobs)
    workers = Workers(system, runners, stamp_file)
    try:
        cpu_meter = meter([p.pid for p in workers.procs])
        cpu_meter.start()
        start = time.perf_counter()
        workers.go()
        polling = 0.0  # the bench's own polls: they share the machine with the workers
        while True:
            t0 = time.perf_counter()
            left = system.any_left()
            polling += time.perf_counter() - t0
            if not left:
                break
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"{system.name}: {runners} runners did not finish in 10 minutes")
            time.sleep(0.02)
        took = time.perf_counter() - start
        print(f"  {system.name}: polling took {polling / took:.1%} of the run", file=sys.stderr, flush=True)
        spent = cpu_meter.stop()  # before the stop: the backends still serve the workers
    finally:
        workers.stop()
    done = system.processed()
    if done is not None and done != jobs:
        raise RuntimeError(f"{system.name}: {done} of {jobs} jobs completed")
    return {
        "jobs_per_s": round(jobs / took),
        "cpu_us_per_job": round((spent["workers"] + spent["postgres"]) * 1e6 / jobs, 1),
        "cpu_us_per_job_workers": round(spent["workers"] * 1e6 / jobs, 1),
        "cpu_us_per_job_postgres": round(spent["postgres"] * 1e6 / jobs, 1),
        "backends": spent["backends"],
    }


def measure_latency(system: System, samples: int, stamp_file: str) -> dict[str, float]:
    system.clear()
    Path(stamp_file).write_text("")
    workers = Workers(system, 1, stamp_file)
    lat: list[float] = []
    try:
        workers.go()
        time.sleep(1.0)  # let the worker settle into its idle wait
        for i in range(samples):
            system.enqueue_stamp(i)
            t0 = time.time()  # the job exists from its commit on
            deadline = time.monotonic() + 10
            while True:
                stamps = dict(line.split() for line in Path(stamp_file).read_text().splitlines())
                key = system.stamp_key(i)
                if key in stamps:
                    lat.append((float(stamps[key]) - t0) * 1000)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{system.name}: job {i} did not start within 10 s")
                time.sleep(0.0005)
            time.sleep(0.02)  # an idle queue between samples
    finally:
        workers.stop()
    lat.sort()
    return {
        "p50": round(statistics.median(lat), 2),
        "p95": round(lat[int(0.95 * (len(lat) - 1))], 2),
        "p99": round(lat[int(0.99 * (len(lat) - 1))], 2),
    }


def bench_system(system: System, meter: Callable[[list[int]], cpu.Meter], args: argparse.Namespace,
                 stamp_file: str) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"settings": system.settings, "load_1min": [load()]}
    system.setup()
    try:
        system.clear()
        single = min(args.jobs, args.single)
        out["enqueue_jobs_per_s"] = round(rate(single, lambda: [system.enqueue_one(i) for i in range(single)]))
        out["enqueue_concurrent_jobs_per_s"] = out["enqueue_concurrent_notify_after_commit_jobs_per_s"] = None
        if isinstance(system, Zixly) and args.clients:
            for key, after in (("enqueue_concurrent_jobs_per_s", False),
                               ("enqueue_concurrent_notify_after_commit_jobs_per_s", True)):  # fmt: skip
                system.clear()
                out[key] = round(system.enqueue_concurrent(single, args.clients, after_commit=after))
        system.clear()
        out["enqueue_batch_jobs_per_s"] = round(rate(args.jobs, lambda: system.enqueue_batch(args.jobs)))
        jobs = min(args.jobs, args.slow_jobs) if system.name == "procrastinate" else args.jobs
        runs = {str(n): measure_processing(system, meter, jobs, n, stamp_file) for n in args.runners}
        out["process_jobs_per_s"] = {n: r["jobs_per_s"] for n, r in runs.items()}
        out["cpu_us_per_job"] = {n: {k: v for k, v in r.items() if k != "jobs_per_s"} for n, r in runs.items()}
        out["processed_jobs"] = jobs
        out["start_latency_ms"] = measure_latency(system, args.samples, stamp_file)
    finally:
        system.clear()
        system.close()
    out["load_1min"].append(load())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runners", default="1,2,4")
    parser.add_argument("--samples", type=int, default=200, help="enqueue→start latency samples")
    parser.add_argument("--single", type=int, default=2000, help="jobs for the one-call enqueue figure")
    parser.add_argument("--clients", type=int, default=16, help="client threads for Zixly's concurrent one-call figure")
    parser.add_argument("--slow-jobs", type=int, default=3000, help="jobs procrastinate processes (it is slow)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--worker", choices=list(WORKERS))
    parser.add_argument("--url")
    parser.add_argument("--stamp")
    parser.add_argument(
        "--payload",
        choices=PAYLOADS,
        default="empty",
        help="what each processed job carries, for every system (webhook: a webhook job's params)",
    )
    parser.add_argument("--history", type=int, help="seed N finished jobs of history first (Zixly only)")
    parser.add_argument("--reuse", metavar="DBNAME", help="run in this existing database, and keep it (with --history)")
    args = parser.parse_args()
    global HISTORY, REUSE
    HISTORY, REUSE = args.history, args.reuse
    anchor_base.PAYLOAD = args.payload
    if args.worker:
        WORKERS[args.worker](args.url, args.stamp)
        return 0
    args.runners = [int(n) for n in args.runners.split(",")]
    names = args.systems.split(",")
    if "graphile" in names and (why := graphile_anchor.missing()):
        print(f"graphile skipped: {why}", file=sys.stderr)
        names.remove("graphile")
    base = os.environ.get("ZIXLY_BENCH_POSTGRES_URL", DEFAULT_URL)
    scratch = args.reuse or f"zixly_bench_{os.getpid()}"
    admin = psycopg.connect(libpq(base), autocommit=True)
    if not args.reuse:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    url = make_url(base).set(database=scratch).render_as_string(hide_password=False)
    results: dict[str, Any] = {}
    classes: dict[str, type[System]] = {
        "zixly": Zixly,
        "pgqueuer": pgqueuer_anchor.PgQueuerSystem,
        "procrastinate": procrastinate_anchor.ProcrastinateSystem,
        "graphile": graphile_anchor.GraphileSystem,
    }

    def meter(pids: list[int]) -> cpu.Meter:
        return cpu.Meter(admin, scratch, pids)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            stamp_file = str(Path(tmp) / "stamps.txt")
            for name in names:
                print(f"… {name} (load {load()})", file=sys.stderr, flush=True)
                results[name] = bench_system(classes[name](url), meter, args, stamp_file)
    finally:
        if not args.reuse:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.close()
    print_table(results, args)
    print(json.dumps({name: {k: v for k, v in r.items() if k not in ("processed_jobs", "settings")}
                      for name, r in results.items()}))  # fmt: skip
    return 0


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    cols = list(results)
    rows: list[tuple[str, list[str]]] = [
        ("enqueue, one call (jobs/s)", [str(results[c]["enqueue_jobs_per_s"]) for c in cols]),
        (f"enqueue, one call, {args.clients} clients (jobs/s)",
         [str(results[c]["enqueue_concurrent_jobs_per_s"]) for c in cols]),
        (f"  … NOTIFY after commit, {args.clients} clients",
         [str(results[c]["enqueue_concurrent_notify_after_commit_jobs_per_s"]) for c in cols]),
        ("enqueue, batched (jobs/s)", [str(results[c]["enqueue_batch_jobs_per_s"]) for c in cols]),
    ]  # fmt: skip
    for n in args.runners:
        rows.append((f"process, {n} runner(s) (jobs/s)", [str(results[c]["process_jobs_per_s"][str(n)]) for c in cols]))
        rows.append((f"  CPU per job, {n} runner(s) (µs)",
                     [str(results[c]["cpu_us_per_job"][str(n)]["cpu_us_per_job"]) for c in cols]))  # fmt: skip
        rows.append(("    … of which PostgreSQL (µs)",
                     [str(results[c]["cpu_us_per_job"][str(n)]["cpu_us_per_job_postgres"]) for c in cols]))  # fmt: skip
    for q in ("p50", "p95", "p99"):
        rows.append((f"enqueue→start {q} (ms)", [str(results[c]["start_latency_ms"][q]) for c in cols]))
    rows.append(("jobs processed per run", [str(results[c]["processed_jobs"]) for c in cols]))
    rows.append(("load average, 1 min (start→end)",
                 ["→".join(str(x) for x in results[c]["load_1min"]) for c in cols]))  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{c:>14}" for c in cols))
    for label, vals in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{v:>14}" for v in vals))
    print()
    for c in cols:
        print(f"{c}: {results[c]['settings']}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
