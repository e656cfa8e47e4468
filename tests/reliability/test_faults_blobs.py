"""Blob storage fails under a trading sweep (real runner processes on PostgreSQL).

- a local blob folder that cannot be created (its parent is a file): the attempt fails with
  an error naming the store, the job is retried, and once the folder can be written the same
  runner completes it — no restart;
- an S3 store whose endpoint does not answer: the job fails after its attempts with the S3
  error, and nothing is half-recorded (no result, no "stored" step, no blob).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from procs import Procs, count, free_port, wait_for
from sqlalchemy import text

from db import jobs
from db.models import PipelineJob, Tenant

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]

SWEEP = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 30], "step": 5, "strategy_type": "SMA"}


@contextmanager
def sweep_stack(db_url: str, tmp: Path, **env: str) -> Iterator[tuple[Procs, int]]:
    """The sandbox (prices) and one runner with ``env``; a tenant to own the sweeps."""
    stack = Procs(db_url, tmp, **env)
    try:
        stack.start_sandbox()
        stack.start_runner()
        with stack.factory() as session, session.begin():
            tenant = Tenant(name=f"sweeps-{tmp.name}")
            session.add(tenant)
            session.flush()
            tenant_id = tenant.id
        yield stack, tenant_id
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


def enqueue_sweep(stack: Procs, tenant_id: int, max_attempts: int) -> int:
    with stack.factory() as session, session.begin():
        return jobs.enqueue(
            session, tenant_id=tenant_id, job_type="trading-sweep", params=SWEEP, max_attempts=max_attempts
        ).id


def steps(stack: Procs, job_id: int) -> list[str]:
    with stack.engine.connect() as conn:
        rows = conn.execute(text("SELECT message FROM job_steps WHERE job_id = :id ORDER BY id"), {"id": job_id})
        return [str(r[0]) for r in rows]


def test_an_unwritable_blob_folder_fails_the_attempt_and_the_retry_completes(pg_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "blobs-parent"
    blocker.write_text("a file where the blob folder's parent should be")
    blobs = blocker / "blobs"
    with sweep_stack(pg_url, tmp_path, ZIXLY_BLOB_URL=str(blobs)) as (stack, tenant_id):
        runner_pid = stack.runner().pid
        job_id = enqueue_sweep(stack, tenant_id, max_attempts=3)

        def failed_once() -> PipelineJob | None:
            job = stack.job(job_id)
            return job if job.error else None

        first = wait_for(failed_once, 60, "the first attempt to fail")
        assert first.status != "COMPLETED" and first.result is None, (first.status, first.error)
        assert "BlobError: local blob store" in (first.error or "") and "sweep.csv" in (first.error or "")
        blocker.unlink()  # the folder can be written again

        done = wait_for(lambda: (j := stack.job(job_id)).status in ("COMPLETED", "FAILED") and j, 90, "the retry")
        messages = steps(stack, job_id)
        failures = [m for m in messages if m.startswith("attempt ") and " failed (will retry): BlobError" in m]
        assert done.status == "COMPLETED", (done.error, messages)
        assert done.attempts == len(failures) + 1 >= 2, messages  # failed attempts were retried, then one worked
        assert sum(m.startswith("stored ") for m in messages) == 1  # only the successful attempt stored
        assert stack.runner().pid == runner_pid and stack.runner().poll() is None  # the same runner, no restart
        stored = sorted(p.name for p in (blobs / str(tenant_id) / str(job_id)).iterdir())
        assert stored == ["equity.csv", "sweep.csv"]
        count("faults: blob store (local folder unwritable, then writable)").update(
            jobs=1, **{"failed attempts": len(failures), "completed": 1, "blobs stored": len(stored)}
        )


def test_an_unreachable_s3_store_fails_the_job_with_nothing_half_recorded(pg_url: str, tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here
    env = {
        "ZIXLY_BLOB_URL": "s3://zixly-reliability/sweeps",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead}",
        "AWS_ACCESS_KEY_ID": "reliability",
        "AWS_SECRET_ACCESS_KEY": "reliability",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with sweep_stack(pg_url, tmp_path, **env) as (stack, tenant_id):
        job_id = enqueue_sweep(stack, tenant_id, max_attempts=2)
        done = wait_for(lambda: (j := stack.job(job_id)).status in ("COMPLETED", "FAILED") and j, 90, "the sweep")
        messages = steps(stack, job_id)
        assert done.status == "FAILED", (done.error, messages)
        assert done.attempts == 2
        assert "S3 blob store s3://zixly-reliability/sweeps: put" in (done.error or ""), done.error
        assert "Could not connect to the endpoint URL" in (done.error or ""), done.error
        assert done.result is None  # nothing half-recorded: no result, no "stored" step
        assert not any(m.startswith("stored ") for m in messages)
        assert sum(m.startswith("attempt ") and " failed " in m for m in messages) == 2
        assert stack.runner().poll() is None
        count("faults: blob store (S3 endpoint unreachable)").update(
            jobs=1, failed=1, attempts=done.attempts, **{"stored steps": 0}
        )
