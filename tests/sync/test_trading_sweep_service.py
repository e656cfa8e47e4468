"""A trading sweep through the external trading service (sandbox) gives the same result as one
run in the runner. Real HTTP both ways: the runner starts the sweep on the sandbox's trading API,
the sandbox calls back to the real listener, the runner resumes. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from db.blobs import make_blob_store
from db.models import PipelineJob
from sandbox.app import create_sandbox_app
from settings import Settings
from sync.runner import Runner
from tests.servers import serving
from webhook import create_app

EXAMPLE = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 40], "step": 5, "strategy_type": "EMA",
           "start": "2020-01-01", "end": "2023-12-31"}  # fmt: skip
TIMING = ("seconds", "engine_seconds", "csv_key", "equity_key", "params")


@pytest.fixture
def stack(fast_settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> Iterator[Settings]:
    """The sandbox and the listener, each on its own loopback port."""
    with serving(create_sandbox_app(fast_settings)) as sandbox:
        httpx.post(f"{sandbox}/_sandbox/reset")
        listener_app = create_app(fast_settings, session_factory=session_factory)
        with serving(listener_app) as listener:
            yield fast_settings.model_copy(
                update={"prices_url": f"{sandbox}/prices", "trading_url": f"{sandbox}/trading", "public_url": listener}
            )


def enqueue(factory: sessionmaker[Session], tenant_id: int, params: dict[str, object]) -> int:
    with factory() as session, session.begin():
        return jobs.enqueue(session, tenant_id=tenant_id, job_type="trading-sweep", params=params).id


def wait_status(read_job: Callable[[int], PipelineJob], job_id: int, status: str, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while read_job(job_id).status != status:
        assert time.monotonic() < end, f"job {job_id} is {read_job(job_id).status}, not {status}"
        time.sleep(0.05)


def test_a_sweep_through_the_service_equals_the_same_sweep_in_the_runner(
    stack: Settings, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int,
    read_job: Callable[[int], PipelineJob],
) -> None:  # fmt: skip
    def count(run_on: str) -> float:
        labels = {"ticker": "BTC-USD", "run_on": run_on, "status": "completed"}
        return REGISTRY.get_sample_value("trading_sweep_jobs_total", labels) or 0.0

    before = {where: count(where) for where in ("runner", "service")}
    runner = Runner(stack, engine, runner_id="test-runner")
    local = enqueue(session_factory, tenant_id, EXAMPLE)
    assert runner.run_once()
    assert read_job(local).status == "COMPLETED", read_job(local).error

    remote = enqueue(session_factory, tenant_id, {**EXAMPLE, "run_on": "service"})
    assert runner.run_once()
    wait_status(read_job, remote, "QUEUED")  # the service called back; the job is claimable again
    assert runner.run_once()
    job = read_job(remote)
    assert job.status == "COMPLETED", job.error
    assert job.attempts == 1

    a, b = read_job(local).result, job.result
    assert a is not None and b is not None
    assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert b["pairs"] == a["pairs"] > 10 and b["best"] == a["best"]
    store = make_blob_store(stack)
    assert store.get(a["csv_key"]) == store.get(b["csv_key"])
    assert store.get(a["equity_key"]) == store.get(b["equity_key"])
    # One completed sweep each in the metrics the trading-pipeline dashboard charts (the wait counted nothing).
    assert {where: count(where) - before[where] for where in before} == {"runner": 1.0, "service": 1.0}


def test_a_service_that_never_calls_back_fails_the_sweep_at_its_deadline(
    stack: Settings, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int,
    read_job: Callable[[int], PipelineJob],
) -> None:  # fmt: skip
    sandbox = stack.trading_url.rsplit("/", 1)[0] if stack.trading_url else ""
    httpx.post(f"{sandbox}/_sandbox/trading/hold", json={"hold": True})
    runner = Runner(stack, engine, runner_id="test-runner")
    job_id = enqueue(session_factory, tenant_id, {**EXAMPLE, "run_on": "service", "service_timeout_s": 1})
    assert runner.run_once()
    assert read_job(job_id).status == "WAITING"
    time.sleep(1.1)
    runner.reap()
    assert runner.run_once()
    job = read_job(job_id)
    assert job.status == "FAILED"
    assert job.error is not None and "WaitTimedOut: callback 1 did not come before its deadline" in job.error
