"""Alerts end to end on both databases: the runner fails real jobs, groups them, and sends the
messages to a real HTTP receiver (Slack and a Standard Webhooks endpoint) and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from db import jobs
from db.alerts import channels
from db.alerts.fingerprint import failure_fingerprint, normalise
from db.engine import make_engine
from db.models import AlertDelivery, AlertGroup, Tenant
from settings import Settings
from sync.alerts.check import check
from sync.alerts.deliver import deliver_due
from sync.runner import Runner
from tests.alert_receivers import HttpReceiver, http_receiver, smtp_server

SLACK_SCHEMA = json.loads((Path(__file__).parents[1] / "fixtures" / "alerts" / "slack_message.schema.json").read_text())


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


@pytest.fixture
def smtp() -> Iterator[tuple[int, Any]]:
    with smtp_server() as s:
        yield s


@pytest.fixture
def alert_settings(fast_settings: Settings, smtp: tuple[int, Any]) -> Settings:
    return fast_settings.model_copy(
        update={"smtp_port": smtp[0], "alert_group_wait_s": 30.0, "alert_interval_s": 900.0,
                "alert_resolve_after_s": 600.0}
    )  # fmt: skip


@pytest.fixture
def tenants(session: Session) -> list[int]:
    rows = [Tenant(name=f"Client {i}") for i in range(5)]
    session.add_all(rows)
    session.commit()
    return [t.id for t in rows]


def add_channel(session: Session, settings: Settings, kind: str, config: dict[str, Any], *,
                events: tuple[str, ...] = ("job_failed",), tenant_id: int | None = None) -> dict[str, Any]:  # fmt: skip
    _id, stored = channels.create_channel(
        session, settings.cipher(), name=f"{kind} channel", kind=kind, config=config, events=list(events),
        tenant_id=tenant_id,
    )  # fmt: skip
    session.commit()
    return stored


def fail_jobs(session_factory: sessionmaker[Session], runner: Runner, tenant_ids: list[int], n: int) -> None:
    with session_factory() as s:
        for i in range(n):
            jobs.enqueue(s, tenant_id=tenant_ids[i % len(tenant_ids)], job_type="noop",
                         params={"fail_times": 1 + i % 3, "permanent": True})  # fmt: skip
        s.commit()
    assert runner.run_until_empty() == n


def at(offset_s: float) -> Callable[[], dt.datetime]:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)
    return lambda: moment


def verify_webhook(stored: dict[str, Any], received: Any) -> dict[str, Any]:
    """The independent check: the standardwebhooks package verifies id, timestamp and signature."""
    payload: dict[str, Any] = Webhook(stored["secret"]).verify(received.body, received.headers)
    return payload


def test_normalising_strips_ids_numbers_uuids_emails_and_timestamps() -> None:
    a = "HubSpotError: 503 for contact 4411 (jane@acme.test) at 2026-12-06T10:00:01Z "
    a += "req 3f2a9c1e-0b1d-4e5f-8a9b-0c1d2e3f4a5b"
    b = "HubSpotError: 503 for contact 98 (bo@other.example) at 2026-12-07 11:30:00+00:00 "
    b += "req 0a0a0a0a-0b1d-4e5f-8a9b-0c1d2e3f4a5b"
    assert normalise(a) == normalise(b) == "HubSpotError: <n> for contact <n> (<email>) at <time> req <uuid>"
    assert failure_fingerprint("xero-invoice-paid", a) == failure_fingerprint("xero-invoice-paid", b)
    assert failure_fingerprint("xero-invoice-paid", a) != failure_fingerprint("noop", a)
    assert normalise("Xero invoice 9f8e7d6c5b4a3210 was deleted") == "Xero invoice <id> was deleted"


def test_500_failures_of_one_outage_make_one_message_per_channel_then_one_resolved(
    alert_settings: Settings, engine: Engine, session: Session, session_factory: sessionmaker[Session],
    tenants: list[int], receiver: HttpReceiver, smtp: tuple[int, Any],
) -> None:  # fmt: skip
    hook = add_channel(session, alert_settings, "webhook", {"url": receiver.url + "/hook"})
    add_channel(session, alert_settings, "slack", {"url": receiver.url + "/slack/T000/B000/XXXX"})
    add_channel(session, alert_settings, "email", {"to": ["ops@agency.example"]})
    runner = Runner(alert_settings, engine, runner_id="r1", jitter=lambda _d: 0.0)
    fail_jobs(session_factory, runner, tenants, 500)

    assert check(engine, alert_settings, at(5)) == 0  # the group gathers failures first (group wait)
    assert check(engine, alert_settings, at(60)) == 3  # one message per channel
    assert deliver_due(engine, alert_settings, "r1", at(61)) == {"sent": 3, "retry": 0, "failed": 0}
    assert check(engine, alert_settings, at(120)) == 0  # nothing new: nothing sent

    [delivery] = receiver.at("/hook")
    payload = verify_webhook(hook, delivery)
    assert payload["type"] == "alert.job_failed.firing"
    assert payload["data"]["count"] == 500
    assert payload["data"]["tenants"] == {f"Client {i}": 100 for i in range(5)}
    [slack] = receiver.at("/slack/T000/B000/XXXX")
    message = json.loads(slack.body)
    jsonschema.validate(message, SLACK_SCHEMA)
    assert "(500)" in message["blocks"][0]["text"]["text"]
    [mail] = smtp[1].messages
    assert mail["Subject"].startswith("[Zixly] FIRING: Jobs failed (500)")
    assert {p.get_content_type() for p in mail.iter_parts()} == {"text/plain", "text/html"}
    assert "Tenants affected (5)" in mail.get_body(("plain",)).get_content()

    # The outage ends: a job of the type succeeds; once quiet and past the interval, one resolved message.
    with session_factory() as s:
        jobs.enqueue(s, tenant_id=tenants[0], job_type="noop", params={})
        s.commit()
    runner.run_until_empty()
    assert check(engine, alert_settings, at(700)) == 0  # resolved, but within the interval of the last message
    assert check(engine, alert_settings, at(1000)) == 3
    deliver_due(engine, alert_settings, "r1", at(1001))
    resolved = [verify_webhook(hook, r) for r in receiver.at("/hook")][1]
    assert resolved["type"] == "alert.job_failed.resolved"
    assert len(receiver.requests) == 4 and len(smtp[1].messages) == 2  # 500 failures: 2 messages per channel
    jsonschema.validate(json.loads(receiver.at("/slack/T000/B000/XXXX")[1].body), SLACK_SCHEMA)


def test_a_growing_group_gets_at_most_one_update_per_interval(
    alert_settings: Settings, engine: Engine, session: Session, session_factory: sessionmaker[Session],
    tenants: list[int], receiver: HttpReceiver,
) -> None:  # fmt: skip
    hook = add_channel(session, alert_settings, "webhook", {"url": receiver.url + "/hook"})
    runner = Runner(alert_settings, engine, runner_id="r1", jitter=lambda _d: 0.0)
    fail_jobs(session_factory, runner, tenants[:1], 3)
    assert check(engine, alert_settings, at(60)) == 1
    fail_jobs(session_factory, runner, tenants[1:3], 4)
    assert check(engine, alert_settings, at(300)) == 0  # within the interval
    assert check(engine, alert_settings, at(961)) == 1  # the interval passed and the count grew
    deliver_due(engine, alert_settings, "r1", at(962))
    counts = [verify_webhook(hook, r)["data"]["count"] for r in receiver.at("/hook")]
    assert counts == [3, 7]


def test_a_tenant_channel_hears_only_about_its_tenant(
    alert_settings: Settings, engine: Engine, session: Session, session_factory: sessionmaker[Session],
    tenants: list[int], receiver: HttpReceiver,
) -> None:  # fmt: skip
    hook = add_channel(session, alert_settings, "webhook", {"url": receiver.url + "/client1"}, tenant_id=tenants[1])
    add_channel(session, alert_settings, "webhook", {"url": receiver.url + "/client4"}, tenant_id=tenants[4])
    runner = Runner(alert_settings, engine, runner_id="r1", jitter=lambda _d: 0.0)
    fail_jobs(session_factory, runner, tenants[:3], 9)
    check(engine, alert_settings, at(60))
    deliver_due(engine, alert_settings, "r1", at(61))
    assert receiver.at("/client4") == []
    [only] = receiver.at("/client1")
    data = verify_webhook(hook, only)["data"]
    assert data["tenants"] == {"Client 1": 3} and data["count"] == 3


def test_a_failing_channel_is_retried_with_backoff_then_recorded_as_failed_with_the_reason(
    alert_settings: Settings, engine: Engine, session: Session, session_factory: sessionmaker[Session],
    tenants: list[int], receiver: HttpReceiver,
) -> None:  # fmt: skip
    add_channel(session, alert_settings, "slack", {"url": receiver.url + "/down"})
    add_channel(session, alert_settings, "slack", {"url": receiver.url + "/gone"})
    receiver.status.update({"/down": 503, "/gone": 404})
    runner = Runner(alert_settings, engine, runner_id="r1", jitter=lambda _d: 0.0)
    fail_jobs(session_factory, runner, tenants, 2)
    check(engine, alert_settings, at(60))
    assert deliver_due(engine, alert_settings, "r1", at(61)) == {"sent": 0, "retry": 1, "failed": 1}
    assert deliver_due(engine, alert_settings, "r1", at(80)) == {"sent": 0, "retry": 0, "failed": 0}  # backing off
    receiver.status["/down"] = 200
    assert deliver_due(engine, alert_settings, "r1", at(92)) == {"sent": 1, "retry": 0, "failed": 0}
    with session_factory() as s:
        rows = {d.payload and d.status: (d.attempts, d.last_error) for d in s.scalars(select(AlertDelivery))}
    assert rows["sent"] == (2, None)
    assert rows["failed"][0] == 1 and "HTTP 404" in rows["failed"][1]


@pytest.mark.parametrize("n_runners", [3])
def test_several_runners_write_and_send_each_message_exactly_once(
    alert_settings: Settings, engine: Engine, session: Session, session_factory: sessionmaker[Session],
    tenants: list[int], receiver: HttpReceiver, n_runners: int,
) -> None:  # fmt: skip
    add_channel(session, alert_settings, "webhook", {"url": receiver.url + "/hook"})
    add_channel(session, alert_settings, "slack", {"url": receiver.url + "/slack"})
    runner = Runner(alert_settings, engine, runner_id="r1", jitter=lambda _d: 0.0)
    with session_factory() as s:  # 20 distinct problems: 20 groups
        for i in range(20):
            jobs.enqueue(s, tenant_id=tenants[0], job_type="noop", params={"fail_times": 1, "permanent": True},
                         idempotency_key=f"k{i}")  # fmt: skip
        s.commit()
    runner.run_until_empty()
    with session_factory() as s:  # make each failure its own problem
        for i, job in enumerate(s.scalars(select(jobs._sql.PipelineJob).order_by(jobs._sql.PipelineJob.id))):
            job.error = f"PermanentJobError: problem {'abcdefghijklmnopqrst'[i]}"
        s.commit()
    engines = [make_engine(alert_settings) for _ in range(n_runners)]
    barrier = threading.Barrier(n_runners)
    errors: list[BaseException] = []

    def one_runner(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                check(engines[i], alert_settings, at(60))
                deliver_due(engines[i], alert_settings, f"runner-{i}", at(61))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_runner, args=(i,)) for i in range(n_runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for e in engines:
        e.dispose()
    assert not errors, errors
    ids = [r.headers["Webhook-Id"] for r in receiver.at("/hook")]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert len(receiver.at("/slack")) == 20
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AlertDelivery)) == 40
        assert s.scalar(select(func.count()).where(AlertGroup.event == "job_failed")) == 20
