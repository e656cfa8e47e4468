"""Jobs that wait for a callback, with real processes on PostgreSQL: the sandbox's trading API
runs sweeps and calls back to the listener under gunicorn; runners are killed and restarted.

The sandbox is told to hold its callbacks, so the test decides when the external system calls
back (``/_sandbox/trading/sweeps/<id>/deliver``) and can forge one with the URL it was given."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, wait_for

from db import jobs

pytestmark = pytest.mark.e2e
SWEEP = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 30], "step": 5, "run_on": "service"}


@pytest.fixture(autouse=True)
def held_callbacks(stack: Stack) -> Any:
    httpx.post(f"{stack.base}/_sandbox/trading/hold", json={"hold": True}).raise_for_status()
    yield
    httpx.post(f"{stack.base}/_sandbox/trading/hold", json={"hold": False})


def enqueue(stack: Stack, tenant: int, **params: Any) -> int:
    with stack.factory() as session, session.begin():
        return jobs.enqueue(session, tenant_id=tenant, job_type="trading-sweep", params={**SWEEP, **params}).id


def status(stack: Stack, job_id: int) -> str:
    return stack.job(job_id).status


def sweep_for(stack: Stack, known: set[str]) -> dict[str, Any]:
    """The one sweep the service received since ``known``, once it finished computing."""

    def found() -> dict[str, Any] | None:
        sweeps = httpx.get(f"{stack.base}/_sandbox/trading/sweeps").json()["sweeps"]
        new = [s for s in sweeps if s["sweep_id"] not in known and s["status"] != "running"]
        return new[0] if new else None

    sweep: dict[str, Any] = wait_for(found, 30, "the trading service to receive and finish the sweep")
    known.add(sweep["sweep_id"])
    return sweep


def deliver(stack: Stack, sweep: dict[str, Any]) -> int:
    response = httpx.post(f"{stack.base}/_sandbox/trading/sweeps/{sweep['sweep_id']}/deliver", timeout=30)
    return int(response.json()["status"])


KNOWN: set[str] = set()


def test_a_callback_resumes_the_job_while_its_runner_is_up(stack: Stack, tenant: int) -> None:
    job_id = enqueue(stack, tenant)
    wait_for(lambda: status(stack, job_id) == "WAITING", 30, "the job to wait")
    job = stack.job(job_id)
    assert job.locked_by is None and job.attempts == 0  # no runner slot, no lease, no attempt spent
    sweep = sweep_for(stack, KNOWN)
    assert sweep["callback_url"].startswith(f"{stack.listener}/webhook/callbacks/")
    assert sweep["callback_secret"]  # the sweep's callback is signed
    assert deliver(stack, sweep) == 200
    done = wait_for(lambda: status(stack, job_id) == "COMPLETED" and stack.job(job_id), 30, "the job to complete")
    assert done.result is not None and done.result["pairs"] == 8 and done.attempts == 1


def test_a_callback_while_no_runner_runs_is_kept_and_resumes_after_the_restart(stack: Stack, tenant: int) -> None:
    job_id = enqueue(stack, tenant)
    wait_for(lambda: status(stack, job_id) == "WAITING", 30, "the job to wait")
    sweep = sweep_for(stack, KNOWN)

    stack.kill_runner()  # kill -9: the waiting job holds no lease, nothing needs reaping
    assert status(stack, job_id) == "WAITING"

    body = json.dumps({"sweep_id": sweep["sweep_id"], "status": "completed"}).encode()
    forged = "sha256=" + hmac.new(b"a guessed secret", body, hashlib.sha256).hexdigest()
    answer = httpx.post(sweep["callback_url"], content=body,
                        headers={"Content-Type": "application/json", "X-Zixly-Signature": forged})  # fmt: skip
    assert answer.status_code == 401
    unsigned = httpx.post(sweep["callback_url"], content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert status(stack, job_id) == "WAITING"

    assert deliver(stack, sweep) == 200
    assert status(stack, job_id) == "QUEUED"  # resumed, waiting for a runner
    assert deliver(stack, sweep) == 200  # a duplicate delivery: 200, nothing changes
    token = sweep["callback_url"].rsplit("/", 1)[1]
    with stack.factory() as session:
        wait = jobs.waits.by_token(session, token)
    assert wait is not None and wait.outcome == "received" and wait.payload is not None
    assert wait.payload["sweep_id"] == sweep["sweep_id"]

    stack.start_runner()
    done = wait_for(lambda: status(stack, job_id) == "COMPLETED" and stack.job(job_id), 30, "the job to complete")
    assert done.result is not None and done.result["pairs"] == 8
    messages = [s.message for s in stack.steps(job_id)]
    assert sum(m.startswith("started sweep") for m in messages) == 1  # the external work started once
    assert sum(m == "callback 1 received" for m in messages) == 1  # resumed once, despite two deliveries
    guessed = httpx.post(f"{stack.listener}/webhook/callbacks/{token[:-2]}xx", json={"status": "completed"})
    assert guessed.status_code == 404


def test_a_callback_that_never_comes_fails_the_job_at_its_deadline(stack: Stack, tenant: int) -> None:
    job_id = enqueue(stack, tenant, service_timeout_s=2)
    wait_for(lambda: status(stack, job_id) == "WAITING", 30, "the job to wait")
    sweep_for(stack, KNOWN)
    failed = wait_for(lambda: status(stack, job_id) == "FAILED" and stack.job(job_id), 30, "the job to time out")
    assert failed.error is not None and "WaitTimedOut: callback 1 did not come before its deadline" in failed.error


def test_a_waiting_job_is_cancelled_at_once_and_its_callback_is_refused(stack: Stack, tenant: int) -> None:
    job_id = enqueue(stack, tenant)
    wait_for(lambda: status(stack, job_id) == "WAITING", 30, "the job to wait")
    sweep = sweep_for(stack, KNOWN)
    with stack.factory() as session, session.begin():
        assert jobs.cancel(session, job_id, by="ops@agency.example") == "CANCELLED"
    assert deliver(stack, sweep) == 404
    assert status(stack, job_id) == "CANCELLED"
