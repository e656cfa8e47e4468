"""Jobs that wait for a callback, in-process on SQLite and PostgreSQL: the runner parks the job
WAITING, the listener's callback route resumes it exactly once, deadlines and cancels apply.

The workflow here is a stand-in registered for ``noop`` that hands its callback URL to the test
(the "external system"); the listener is the real Flask app."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

import jobtypes
from db import jobs
from db.models import JobStep, PipelineJob
from settings import Settings
from sync import workflows
from sync.context import JobContext
from sync.runner import Runner
from sync.waiting import Callback
from webhook import create_app
from webhook.callbacks import signature

ReadJob = Callable[[int], PipelineJob]


class External:
    """What the external system was given, and the workflow that gives it."""

    def __init__(self) -> None:
        self.given: list[Callback] = []
        self.timeout_s = 60.0
        self.signed = False
        self.on_timeout: Any = None
        self.runs = 0
        self.also: Callable[[Callback], None] | None = None  # what the external system does at once

    def start(self, cb: Callback) -> None:
        self.given.append(cb)
        if self.also is not None:
            self.also(cb)

    def handler(self, ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        self.runs += 1
        kw: dict[str, Any] = {"start": self.start, "signed": self.signed}
        if self.on_timeout is not None:
            kw["on_timeout"] = self.on_timeout
        payload = ctx.wait_for_callback(self.timeout_s, **kw)
        return {"payload": payload}


@pytest.fixture
def external(monkeypatch: pytest.MonkeyPatch) -> External:
    ext = External()
    workflows.load()
    monkeypatch.setitem(workflows._registry, "noop", workflows.Workflow(jobtypes.job_type("noop"), ext.handler))
    return ext


@pytest.fixture
def listener(fast_settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[FlaskClient]:
    app = create_app(fast_settings, session_factory=session_factory)
    yield app.test_client()


def enqueue(session_factory: sessionmaker[Session], tenant_id: int) -> int:
    with session_factory() as s:
        jid = jobs.enqueue(s, tenant_id=tenant_id, job_type="noop", params={}).id
        s.commit()
    return jid


def path(cb: Callback) -> str:
    return "/webhook/callbacks/" + cb.url.rsplit("/", 1)[1]


def post(client: FlaskClient, cb: Callback, body: dict[str, Any], **headers: str) -> Any:
    return client.post(path(cb), data=json.dumps(body), content_type="application/json", headers=headers)


def test_a_callback_resumes_the_waiting_job_once_with_its_payload(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob,
    external: External, listener: FlaskClient,
) -> None:  # fmt: skip
    jid = enqueue(session_factory, tenant_id)
    assert runner.run_once() is True
    job = read_job(jid)
    assert job.status == "WAITING" and job.locked_by is None and job.locked_until is None
    assert job.attempts == 0  # waiting spends no attempt
    assert len(external.given) == 1 and external.given[0].url.startswith(runner.settings.public_url)
    assert runner.run_once() is False  # a waiting job is never claimed

    first = post(listener, external.given[0], {"status": "done", "value": 42})
    assert first.status_code == 200 and first.json == {"job_id": jid, "duplicate": False}
    again = post(listener, external.given[0], {"status": "done", "value": 43})
    assert again.status_code == 200 and again.json == {"job_id": jid, "duplicate": True}

    assert runner.run_once() is True
    job = read_job(jid)
    assert job.status == "COMPLETED" and job.result == {"payload": {"status": "done", "value": 42}}
    assert job.attempts == 1 and external.runs == 2 and len(external.given) == 1  # started once
    assert runner.run_once() is False  # the duplicate resumed nothing
    with session_factory() as s:
        messages = [m for (m,) in s.query(JobStep.message).filter(JobStep.job_id == jid)]
    assert sum("callback 1 received" in m for m in messages) == 1
    late = post(listener, external.given[0], {"late": True})  # still a duplicate after the job ended
    assert late.status_code == 200 and late.json["duplicate"] is True


def test_unknown_tokens_and_oversized_bodies_are_refused(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, external: External,
    listener: FlaskClient, read_job: ReadJob,
) -> None:  # fmt: skip
    jid = enqueue(session_factory, tenant_id)
    runner.run_once()
    cb = external.given[0]
    guessed = listener.post("/webhook/callbacks/not-a-token", json={"x": 1})
    assert guessed.status_code == 404
    big = {"blob": "x" * (runner.settings.callback_max_bytes + 1)}
    assert post(listener, cb, big).status_code == 413
    assert read_job(jid).status == "WAITING"


def test_a_signed_wait_refuses_a_forged_callback(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, external: External,
    listener: FlaskClient, read_job: ReadJob,
) -> None:  # fmt: skip
    external.signed = True
    jid = enqueue(session_factory, tenant_id)
    runner.run_once()
    cb = external.given[0]
    assert cb.secret
    body = json.dumps({"ok": True}).encode()
    assert post(listener, cb, {"ok": True}).status_code == 401
    forged = listener.post(path(cb), data=body, content_type="application/json",
                           headers={"X-Zixly-Signature": signature("guessed-secret", body)})  # fmt: skip
    assert forged.status_code == 401
    assert read_job(jid).status == "WAITING"
    good = listener.post(path(cb), data=body, content_type="application/json",
                         headers={"X-Zixly-Signature": signature(cb.secret, body)})  # fmt: skip
    assert good.status_code == 200
    runner.run_once()
    assert read_job(jid).result == {"payload": {"ok": True}}


def test_a_wait_past_its_deadline_fails_the_job_or_takes_the_timeout_branch(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, external: External,
    listener: FlaskClient, read_job: ReadJob,
) -> None:  # fmt: skip
    external.timeout_s = 30
    failing = enqueue(session_factory, tenant_id)
    runner.run_once()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31)
    runner.clock = lambda: later
    runner.reap()
    assert read_job(failing).status == "QUEUED"
    runner.run_once()
    job = read_job(failing)
    assert job.status == "FAILED"
    assert job.error is not None and "WaitTimedOut: callback 1 did not come before its deadline" in job.error
    assert post(listener, external.given[0], {"late": True}).status_code == 404

    runner.clock = lambda: dt.datetime.now(dt.UTC)
    external.on_timeout = {"timed_out": True}
    branching = enqueue(session_factory, tenant_id)
    runner.run_once()
    runner.clock = lambda: later + dt.timedelta(seconds=31)
    runner.reap()
    runner.run_once()
    job = read_job(branching)
    assert job.status == "COMPLETED" and job.result == {"payload": {"timed_out": True}}


def test_a_waiting_job_is_cancelled_at_once(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, external: External,
    listener: FlaskClient, read_job: ReadJob,
) -> None:  # fmt: skip
    jid = enqueue(session_factory, tenant_id)
    runner.run_once()
    with session_factory() as s:
        assert jobs.cancel(s, jid, by="test") == "CANCELLED"
        s.commit()
    assert post(listener, external.given[0], {"x": 1}).status_code == 404
    assert read_job(jid).status == "CANCELLED"
    assert runner.run_once() is False


def test_a_callback_that_arrives_before_the_job_is_parked_is_not_lost(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, external: External,
    listener: FlaskClient, read_job: ReadJob,
) -> None:  # fmt: skip
    """A fast external system calls back while the attempt that started it is still finishing."""
    calls: list[int] = []

    def call_back_at_once(cb: Callback) -> None:
        calls.append(post(listener, cb, {"fast": True}).status_code)

    external.also = call_back_at_once
    jid = enqueue(session_factory, tenant_id)
    runner.run_once()
    assert calls == [200]
    assert read_job(jid).status == "QUEUED"  # not parked: the callback was already there
    runner.run_once()
    assert read_job(jid).result == {"payload": {"fast": True}}


def test_a_failed_start_forgets_the_wait_and_the_retry_opens_a_fresh_one(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, external: External,
    listener: FlaskClient, read_job: ReadJob,
) -> None:  # fmt: skip
    def service_down(cb: Callback) -> None:
        external.also = None  # down once
        raise ConnectionError("the external service is down")

    external.also = service_down
    jid = enqueue(session_factory, tenant_id)
    runner.run_once()
    job = read_job(jid)
    assert job.status == "QUEUED" and job.attempts == 1  # an ordinary failed attempt, retried
    assert job.error is not None and "the external service is down" in job.error
    assert post(listener, external.given[0], {"x": 1}).status_code == 404  # that URL died with its wait
    with session_factory() as s:
        s.execute(PipelineJob.__table__.update().where(PipelineJob.id == jid).values(run_at=dt.datetime.now(dt.UTC)))
        s.commit()
    runner.run_once()
    assert read_job(jid).status == "WAITING" and len(external.given) == 2
    assert post(listener, external.given[1], {"second": True}).status_code == 200
    runner.run_once()
    assert read_job(jid).result == {"payload": {"second": True}}
