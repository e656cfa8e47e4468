"""Every script in bench/ runs as documented (``python bench/<name>.py``) at a tiny size.

Each one runs as a subprocess from the project root, as the README shows it, and must exit 0 and
print its figures (the last line of each is JSON). The sizes are tiny, so the figures mean
nothing; what is checked is that no script breaks silently. The peers a benchmark compares with
(vectorbt, pgqueuer, procrastinate: ``requirements-bench.txt``; graphile-worker: ``make
bench-graphile``) run when installed and skip with the reason when not; Zixly's own side always runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.anchors import graphile

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PG_URL = os.environ.get("ZIXLY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py"))


def installed(*packages: str) -> pytest.MarkDecorator:
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    reason = f"{', '.join(missing)} not installed (the bench set: make bench-install)"
    return pytest.mark.skipif(bool(missing), reason=reason)


def bench(script: str, *args: str, timeout: float = 120) -> dict[str, object]:
    """Run ``python bench/<script> args…`` from the root; the parsed JSON of its last line."""
    env = os.environ | {"ZIXLY_TEST_POSTGRES_URL": PG_URL, "ZIXLY_BENCH_POSTGRES_URL": PG_URL}
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"bench/{script}: {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])  # the last line is the JSON of the figures
    assert isinstance(figures, dict)
    return figures


def test_no_bench_script_shadows_a_standard_library_module() -> None:
    # ``python bench/x.py`` puts bench/ first on sys.path: a bench/queue.py once broke pyarrow's ``import queue``.
    assert SCRIPTS
    assert not [s for s in SCRIPTS if s.removesuffix(".py") in sys.stdlib_module_names]


def test_every_bench_script_has_a_quick_run_here() -> None:
    quick = {"dashboard.py", "history_seed.py", "job_queue.py", "partition_probe.py", "pauses.py", "prune.py",
             "quota.py", "rollup_cost.py", "search_text.py", "soak.py", "sweep.py", "webhook.py"}  # fmt: skip
    assert set(SCRIPTS) == quick, "a new bench script needs a tiny run in this file"


def test_sweep_zixly_alone() -> None:
    figures = bench("sweep.py", "--fast", "2", "5", "--slow", "10", "12", "--engines", "zixly")
    assert figures["pairs"] == 12
    assert figures["vectorbt"] == {"seconds": None}


@installed("vectorbt")
def test_sweep_against_vectorbt() -> None:
    figures = bench("sweep.py", "--fast", "2", "5", "--slow", "10", "12", timeout=300)  # numba compiles once
    assert figures["max_rel_diff"] is not None and figures["max_rel_diff"] < 1e-9  # type: ignore[operator]
    assert figures["undefined_mismatches"] == 0


QUEUE_TINY = ("--jobs", "200", "--runners", "1", "--samples", "3", "--single", "50", "--clients", "2")


def measured(figures: dict[str, object], system: str) -> None:
    """A system's figures as a user reads them: jobs processed, CPU spent on them, load noted."""
    mine = figures[system]
    assert mine["process_jobs_per_s"]["1"] > 0  # type: ignore[index]
    cpu = mine["cpu_us_per_job"]["1"]  # type: ignore[index]
    # The worker's PostgreSQL backends were found (psutil counts 10 ms ticks: at this size a
    # side's CPU may read 0, so the total is what must be positive).
    assert cpu["backends"] >= 1
    assert cpu["cpu_us_per_job"] > 0
    assert cpu["cpu_us_per_job"] == pytest.approx(
        cpu["cpu_us_per_job_workers"] + cpu["cpu_us_per_job_postgres"], abs=0.2
    )
    assert len(mine["load_1min"]) == 2  # type: ignore[arg-type]
    assert mine["start_latency_ms"]["p50"] > 0  # type: ignore[index]


def test_job_queue_zixly(pg_template: str) -> None:
    # A webhook job's params: every job must still complete (the bench's noop takes them).
    figures = bench("job_queue.py", *QUEUE_TINY, "--systems", "zixly", "--payload", "webhook")
    assert set(figures) == {"zixly"}
    measured(figures, "zixly")


@installed("pgqueuer", "procrastinate", "asyncpg")
def test_job_queue_peers(pg_template: str) -> None:
    figures = bench(
        "job_queue.py", *QUEUE_TINY, "--slow-jobs", "50", "--systems", "pgqueuer,procrastinate", "--payload", "webhook"
    )
    assert set(figures) == {"pgqueuer", "procrastinate"}
    measured(figures, "pgqueuer")
    measured(figures, "procrastinate")


@pytest.mark.skipif(graphile.missing() is not None, reason=f"graphile-worker: {graphile.missing()}")
def test_job_queue_graphile(pg_template: str) -> None:
    figures = bench("job_queue.py", *QUEUE_TINY, "--systems", "graphile")
    assert set(figures) == {"graphile"}
    measured(figures, "graphile")


def test_graphile_job_specs_reach_postgresql_as_written() -> None:
    # The batched enqueue's job_spec[] literal, quoted twice (array, then record), as perfTest/init.js.
    payloads = [{"i": 1}, {"note": 'a "quoted" \\ value, (with) commas'}]
    literal = graphile.job_specs("noop", payloads)
    with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TEMP TABLE spec (identifier text, payload json, queue_name text, run_at timestamptz, "
                     "max_attempts integer, job_key text, priority integer, flags text[])")  # fmt: skip
        rows = conn.execute(
            "SELECT (s).identifier, (s).payload::text FROM unnest(%s::spec[]) AS s", (literal,)
        ).fetchall()
    assert [(name, json.loads(p)) for name, p in rows] == [("noop", p) for p in payloads]


def test_pauses(pg_template: str) -> None:
    figures = bench("pauses.py", "--queued", "500", "--tenants", "5", "--paused", "1", "--events", "5")
    assert (figures["held_jobs"], figures["resume_released_jobs"]) == (100, 100)
    assert figures["enqueue_ms_debounce_same_record"] > 0


def test_dashboard(pg_template: str) -> None:
    figures = bench("dashboard.py", "--jobs", "3000", "--page", "2", "--url", PG_URL)
    assert figures["jobs"] == 3000
    assert "jobs.page2_all" in figures["queries_ms"]  # type: ignore[operator]
    assert figures["rollup_catch_up"]["hours"] > 24 * 60  # type: ignore[index]  # most of the fill's 90 days of hours
    assert set(figures["refresh_ms"]) == set(figures["refresh_db_ms_per_minute"]) == {  # type: ignore[call-overload]
        "jobs.live_first_page_all", "jobs.live_first_page_failed", "overview.refresh_24h", "connections.probe",
        "job_page.probe",
    }  # fmt: skip


def test_webhook(pg_template: str) -> None:
    args = ("--workers", "1", "--shops", "2", "--client-threads", "2", "--saturation-s", "1")
    figures = bench("webhook.py", *args, "--rate", "20", "--duration-s", "1")
    assert figures["fixed_rate"]["errors"] == 0  # type: ignore[index]
    assert figures["load_generator"] == "python" and figures["saturation_rps"] > 0  # type: ignore[operator]
    assert figures["deliveries_per_commit"] >= 1  # type: ignore[operator]  # group commit, the default


def test_webhook_group_commit_off_reaches_the_listener(pg_template: str) -> None:
    # The listener starts without the shell's ZIXLY_* variables: the bench passes the setting itself.
    args = ("--workers", "1", "--shops", "2", "--client-threads", "2", "--saturation-s", "1", "--group-commit", "off")
    figures = bench("webhook.py", *args, "--rate", "20", "--duration-s", "1")
    assert figures["fixed_rate"]["errors"] == 0  # type: ignore[index]
    assert figures["deliveries_per_commit"] is None  # every delivery written alone


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (apt-get install wrk)")
def test_webhook_with_wrk(pg_template: str) -> None:
    args = ("--workers", "1", "--shops", "2", "--load-generator", "wrk", "--client-threads", "1", "--connections", "2")
    figures = bench("webhook.py", *args, "--saturation-s", "1", "--rate", "20", "--duration-s", "1")
    assert figures["load_generator"] == "wrk" and figures["saturation_rps"] > 0  # type: ignore[operator]
    assert figures["fixed_rate"]["errors"] == 0  # type: ignore[index]


def test_soak_refuses_a_run_too_short_to_compare() -> None:
    done = subprocess.run([sys.executable, "bench/soak.py", "--seconds", "5"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert "at least 20" in done.stderr


@pytest.mark.slow
def test_soak(pg_template: str) -> None:
    # The same run as tests/reliability/test_soak.py's quick 20-second soak (every make test),
    # here through the script's wrapper; ~40 s, so with the slow runs.
    env = os.environ | {"ZIXLY_TEST_POSTGRES_URL": PG_URL}
    command = [sys.executable, "bench/soak.py", "--seconds", "20", "--rate", "4"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "figures:" in done.stdout


def test_quota_tiny() -> None:
    figures = bench("quota.py", "--jobs", "30", "--second-jobs", "3", "--per-minute", "10", "--window-s", "2",
                    "--runners", "1", timeout=300)  # fmt: skip
    assert figures["a"]["completed"] == 30 and figures["a"]["answered_429"] == 0
    assert figures["b"]["completed"] == 3 and figures["setup"]["runners"] == 1


def test_prune_tiny() -> None:
    """The runner's retention on a small seeded history: old jobs go, in short transactions, the rest stay."""
    figures = bench("prune.py", "--history", "3000", "--partition-size", "300", "--url", PG_URL)
    assert figures["history"] == 3000
    assert 0 < figures["pruned_jobs"] < 3000 and figures["jobs_left"] == 3000 - figures["pruned_jobs"]  # type: ignore[operator]
    # Whole ranges of 300 ids went (about a month of 90 days: 3 of 10), none waited on a lock.
    assert figures["ranges_dropped"] >= 1 and figures["ranges_skipped_lock_timeout"] == 0
    assert figures["pruned_jobs"] <= 300 * figures["ranges_dropped"]  # type: ignore[operator]
    assert figures["claims"]["during"]["claims"] >= 0  # type: ignore[index]


def test_rollup_cost_tiny() -> None:
    """The rollup triggers' cost on claims and finishes: both ways timed, the markers one per hour per batch."""
    figures = bench("rollup_cost.py", "--jobs", "300", "--batch", "100", "--rounds", "2", "--url", PG_URL)
    assert figures["jobs"] == 300
    assert all(len(v) == 2 for v in figures["finish_ms_per_1000_jobs_on_off"])  # type: ignore[union-attr]
    assert 0 < figures["markers_left_by_last_round"] <= 3 * 2  # type: ignore[operator]


def test_search_text_tiny() -> None:
    """The search index's cost per finishing job by text, and SQLite's searches, on a few jobs."""
    figures = bench("search_text.py", "--jobs", "300", "--batch", "100", "--rounds", "1", "--url", PG_URL)
    as_text, search = figures["params as text"], figures["search text"]
    assert as_text["trigrams"] > search["trigrams"] > 0  # type: ignore[index,operator]
    assert all(v["us_per_job"] > 0 for k, v in figures.items() if k != "sqlite_search_s")  # type: ignore[union-attr]
    assert set(figures["sqlite_search_s"]) == {"a rare value", "no job's text", "a key name"}  # type: ignore[arg-type]


def test_history_seed_and_partition_probe_tiny(pg_template: str) -> None:
    """history_seed.py fills a migrated database; partition_probe.py builds, claims from and drops its copy."""
    name = f"zixly_probe_{os.getpid()}"
    admin_url = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin_url.render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        try:
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            done = subprocess.run([sys.executable, "bench/history_seed.py", url, "3000"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
            assert done.returncode == 0 and "seeded 3,000 jobs" in done.stdout, done.stderr[-2000:]
            figures = bench("partition_probe.py", name, "--partitions", "2")
            assert figures["partitions"] == 3
            assert figures["claim_probe_jobs"]["execution_ms"] > 0  # type: ignore[index]
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
