"""A trading-sweep job end to end: enqueued, claimed by the runner, prices over real HTTP from
the sandbox, result on the job row, the table in the blob store. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from db import jobs
from db.blobs import make_blob_store
from db.models import JobStep, PipelineJob
from sandbox.app import create_sandbox_app
from settings import Settings
from sync.runner import Runner

EXAMPLE = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 30], "step": 5, "strategy_type": "SMA"}


@pytest.fixture
def sweep_settings(fast_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    server = make_server("127.0.0.1", 0, create_sandbox_app(fast_settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fast_settings.model_copy(update={"prices_url": f"http://127.0.0.1:{server.server_port}/prices"})
    server.shutdown()
    server.server_close()
    thread.join(5)


def enqueue(factory: sessionmaker[Session], tenant_id: int, params: dict[str, object]) -> int:
    with factory() as session, session.begin():
        return jobs.enqueue(session, tenant_id=tenant_id, job_type="trading-sweep", params=params, created_by="test").id


def test_the_runner_completes_a_sweep_with_its_result_and_csv(
    sweep_settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    tenant_id: int,
    read_job: Callable[[int], PipelineJob],
) -> None:
    job_id = enqueue(session_factory, tenant_id, EXAMPLE)
    assert Runner(sweep_settings, engine, runner_id="test-runner").run_once()

    job = read_job(job_id)
    assert job.status == "COMPLETED", job.error
    result = job.result
    assert result is not None and result["pairs"] == 8 and len(result["top"]) == 8
    assert result["csv_key"] == f"{tenant_id}/{job_id}/sweep.csv"
    rows = list(csv.DictReader(io.StringIO(make_blob_store(sweep_settings).get(result["csv_key"]).decode())))
    assert len(rows) == 8

    with session_factory() as session:
        steps = session.scalars(select(JobStep).where(JobStep.job_id == job_id).order_by(JobStep.id)).all()
    messages = [step.message for step in steps]
    assert any(m.startswith("GET /{ticker}") for m in messages)  # the price call, recorded by the context
    assert any(m.startswith("backtested 8 pairs on 3541 bars") for m in messages)


def test_params_that_do_not_fit_the_chosen_dates_fail_the_job_permanently(
    sweep_settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    tenant_id: int,
    read_job: Callable[[int], PipelineJob],
) -> None:
    job_id = enqueue(session_factory, tenant_id, {**EXAMPLE, "start": "2024-05-01", "end": "2024-05-20"})
    Runner(sweep_settings, engine, runner_id="test-runner").run_once()
    job = read_job(job_id)
    assert job.status == "FAILED" and job.attempts == 1
    assert job.error is not None and "does not fit the 20 bars of BTC-USD" in job.error
