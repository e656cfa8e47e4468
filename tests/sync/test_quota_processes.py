"""The quota governor across real runner processes, on PostgreSQL and SQLite.

A quick ``bench/quota.py``: the sandbox enforces Xero's per-organisation minute, shortened to
5 s, windows starting on each organisation's first call; both tenants set their own lower limit
of 20 calls (so the quota binds however fast the machine runs the jobs). Three ``python -m sync``
processes run 60 invoice jobs of organisation A (80 in the slow runs), and 10 of organisation B
are queued once A's queue waits for its next window. No wait is allowed in a worker slot (``ZIXLY_QUOTA_MAX_WAIT_S=0``),
so every job the quota holds back is requeued for the window's opening.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quota_bench", ROOT / "bench" / "quota.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# make test: 60 of A's jobs, three windows (the first 20 calls go at once, so the least time is
# two windows); the slow runs: 80, four windows.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("jobs", [60, pytest.param(80, marks=pytest.mark.slow)])
def test_runners_keep_one_organisations_calls_within_its_quota_and_others_pass(
    db_url: str, tmp_path: Path, jobs: int
) -> None:
    figures = bench_module().run(
        db_url, tmp_path, jobs=jobs, second_jobs=10, per_minute=20, window_s=5.0, runners=3, max_wait_s=0
    )
    a, b = figures["a"], figures["b"]
    # Every job done, one Xero call each, none answered 429 by the sandbox.
    assert (a["completed"], a["xero_calls"], a["answered_429"]) == (jobs, jobs, 0)
    assert (b["completed"], b["xero_calls"], b["answered_429"]) == (10, 10, 0)
    # The jobs held back went back to the queue without spending an attempt.
    assert a["requeued_for_quota"] > 0
    assert a["max_attempts_spent"] == 1
    # N calls at 20 per window need N/20 windows: the calls spread over all but the first of them.
    assert a["minimum_s"] == (jobs // 20 - 1) * 5.0
    assert a["first_to_last_call_s"] >= a["minimum_s"]
    # B's jobs, queued behind A's, finished while A's queue still waited for its windows.
    assert dt.datetime.fromisoformat(b["last_done_at"]) < dt.datetime.fromisoformat(a["last_done_at"])
