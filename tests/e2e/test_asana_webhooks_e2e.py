"""Asana webhooks that exist and stay alive, with real processes on both databases.

The sandbox, the listener (gunicorn) and a runner run as subprocesses; the tenant connects
Asana through the real OAuth flow and names its onboarding project through the dashboard's
own action. From there Zixly alone creates the webhook (the sandbox's Asana performs the real
``X-Hook-Secret`` handshake against the listener while ``POST /webhooks`` is open), re-creates
it when Asana deletes it or the project changes, and deletes it on disconnect. A handshake
Zixly did not start — forged or replayed — is refused with 404 and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from e2e_stack import Stack, wait_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import actions
from db.auth import Actor
from db.engine import is_busy
from db.models import Connection, ConnectionWebhook, PipelineJob, Schedule, Tenant, WebhookDelivery
from db.schedules import run_schedule_now
from jobtypes import ASANA_TASK_RECONCILE, ASANA_WEBHOOK_ENSURE, HUBSPOT_DEAL_WON_TO_ASANA
from sandbox.demo_accounts import ASANA_ONBOARDING_PROJECT_GID

OTHER_PROJECT = "1201000000000202"  # the sandbox's "Invoices to chase"
ADMIN = Actor(email="ops@agency.example", role="ADMIN")
PAT = {"Authorization": "Bearer 2/1201000000000101:0123abcd"}  # an Asana personal access token


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"asana-{request.param}")
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp / "zixly.db")
        url = f"sqlite:///{tmp / 'zixly.db'}"
    else:
        url = request.getfixturevalue("e2e_db_url")
    stack = Stack(url, tmp)
    try:
        yield stack.start()
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def asana(stack: Stack) -> dict[str, int]:
    """A tenant with Asana connected through OAuth (the listener's callback queues the upkeep)."""
    with stack.factory() as session, session.begin():
        tenant = Tenant(name="Northwind Onboarding")
        session.add(tenant)
        session.flush()
        session.add(Connection(tenant_id=tenant.id, system="asana"))
        tenant_id = tenant.id
    stack.connect(tenant_id, "asana")
    with stack.factory() as session:
        connection_id = session.scalar(
            select(Connection.id).where(Connection.tenant_id == tenant_id, Connection.system == "asana")
        )
    assert connection_id is not None
    return {"tenant": tenant_id, "connection": int(connection_id)}


def _webhook(stack: Stack, connection_id: int) -> ConnectionWebhook | None:
    with stack.factory() as session:
        return session.get(ConnectionWebhook, connection_id)


def _active(stack: Stack, connection_id: int, *, other_than: str | None = None) -> ConnectionWebhook:
    def check() -> ConnectionWebhook | None:
        row = _webhook(stack, connection_id)
        if row is not None and row.state == "active" and row.webhook_gid and row.webhook_gid != other_than:
            return row
        return None

    try:
        found: ConnectionWebhook = wait_for(check, 60, "an active Asana webhook")
    except AssertionError:
        print(stack.logs())
        raise
    return found


def _sandbox_hook(stack: Stack, gid: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{stack.base}/asana/api/1.0/webhooks/{gid}", headers=PAT, trust_env=False)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    hook: dict[str, Any] = answer.json()["data"]
    return hook


def _write(stack: Stack, work: Callable[[Session], object]) -> None:
    """One unit of work, retried while SQLite is busy, as the dashboard's actions are (the runner
    and the listener write to the same file meanwhile)."""
    for attempt in range(5):
        try:
            with stack.factory() as session:
                work(session)
                session.commit()
            return
        except Exception as exc:
            if not is_busy(exc) or attempt == 4:
                raise
            time.sleep(0.25 * (attempt + 1))


def _set_project(stack: Stack, tenant_id: int, project: str | None) -> None:
    """What the dashboard's workflow settings form does when the onboarding project is saved."""
    _write(
        stack,
        lambda session: actions.save_workflow_setting(
            session, ADMIN, tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, enabled=True, options={"asana_project_gid": project}
        ),
    )


def _secret_and_deliveries(stack: Stack, connection_id: int) -> tuple[str | None, int]:
    with stack.factory() as session:
        secret = session.scalar(select(Connection.webhook_secret_ciphertext).where(Connection.id == connection_id))
        deliveries = session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
    return secret, int(deliveries)


def _reconcile_jobs(stack: Stack, tenant_id: int) -> int:
    with stack.factory() as session:
        count = session.scalar(
            select(func.count())
            .select_from(PipelineJob)
            .where(PipelineJob.tenant_id == tenant_id, PipelineJob.job_type == ASANA_TASK_RECONCILE)
        )
    return int(count or 0)


def _complete_a_task(stack: Stack, project: str) -> list[dict[str, Any]]:
    """Complete an open task of ``project`` in the sandbox's Asana; its webhooks deliver the events."""
    tasks = httpx.get(
        f"{stack.base}/asana/api/1.0/projects/{project}/tasks",
        params={"opt_fields": "completed", "limit": 100},
        headers=PAT,
        trust_env=False,
    ).json()["data"]
    open_task = next(t for t in tasks if not t.get("completed"))
    deliveries: list[dict[str, Any]] = stack.sandbox_post(f"/asana/_sandbox/tasks/{open_task['gid']}/complete")[
        "deliveries"
    ]
    return deliveries


def connecting_without_a_project_creates_no_webhook(stack: Stack, asana: dict[str, int]) -> None:
    def ensured() -> PipelineJob | None:
        with stack.factory() as session:
            return session.scalar(
                select(PipelineJob).where(
                    PipelineJob.tenant_id == asana["tenant"],
                    PipelineJob.job_type == ASANA_WEBHOOK_ENSURE,
                    PipelineJob.status == "COMPLETED",
                )
            )

    job = wait_for(ensured, 60, "the upkeep job queued by connecting Asana")
    assert job.params["reason"] == "asana connected"
    assert job.result["action"] == "none"
    assert _webhook(stack, asana["connection"]) is None
    with stack.factory() as session:  # and its schedule, which notices a webhook Asana deleted
        assert session.scalar(
            select(Schedule.id).where(Schedule.tenant_id == asana["tenant"], Schedule.job_type == ASANA_WEBHOOK_ENSURE)
        )


def naming_the_project_creates_the_webhook_and_a_signed_event_makes_a_job(stack: Stack, asana: dict[str, int]) -> None:
    _set_project(stack, asana["tenant"], ASANA_ONBOARDING_PROJECT_GID)
    row = _active(stack, asana["connection"])
    assert row.resource_gid == ASANA_ONBOARDING_PROJECT_GID and row.handshake_sha256 is None
    assert row.webhook_gid is not None
    hook = _sandbox_hook(stack, row.webhook_gid)
    assert hook is not None and hook["active"] and hook["resource"]["gid"] == ASANA_ONBOARDING_PROJECT_GID
    assert hook["target"].startswith(f"{stack.listener}/webhook/asana/{asana['connection']}/")

    before = _reconcile_jobs(stack, asana["tenant"])
    [delivery] = _complete_a_task(stack, ASANA_ONBOARDING_PROJECT_GID)
    assert delivery["delivered"], delivery
    assert _reconcile_jobs(stack, asana["tenant"]) > before


def a_forged_or_replayed_handshake_is_refused_and_stores_nothing(stack: Stack, asana: dict[str, int]) -> None:
    row = _active(stack, asana["connection"])
    assert row.webhook_gid is not None
    hook = _sandbox_hook(stack, row.webhook_gid)
    assert hook is not None
    before = _secret_and_deliveries(stack, asana["connection"])
    base = f"{stack.listener}/webhook/asana/{asana['connection']}"
    attacker = {"X-Hook-Secret": "attacker-secret"}
    for url in (base, f"{base}/guessed-token", hook["target"]):  # the last one replays the real token
        answer = httpx.post(url, headers=attacker, trust_env=False)
        for _ in range(5):  # 503 "retry later" while SQLite is busy: a sender retries, as Asana would
            if answer.status_code != 503:
                break
            time.sleep(0.5)
            answer = httpx.post(url, headers=attacker, trust_env=False)
        assert answer.status_code == 404, (url, answer.text)
        assert "X-Hook-Secret" not in answer.headers
    assert _secret_and_deliveries(stack, asana["connection"]) == before

    # An event signed with the attacker's secret is still refused, and makes no job.
    body = json.dumps({"events": [{"action": "changed", "resource": {"gid": "1", "resource_type": "task"}}]})
    signature = hmac.new(b"attacker-secret", body.encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hook-Signature": signature}
    assert httpx.post(base, content=body, headers=headers, trust_env=False).status_code == 401
    assert _secret_and_deliveries(stack, asana["connection"]) == before


def a_webhook_asana_deleted_is_re_created_by_the_scheduled_check(stack: Stack, asana: dict[str, int]) -> None:
    old = _active(stack, asana["connection"]).webhook_gid
    assert old is not None
    stack.sandbox_post(f"/asana/_sandbox/webhooks/{old}/fail")  # as after a day of failed deliveries
    assert _sandbox_hook(stack, old) is None
    with stack.factory() as session:
        schedule_id = session.scalar(
            select(Schedule.id).where(Schedule.tenant_id == asana["tenant"], Schedule.job_type == ASANA_WEBHOOK_ENSURE)
        )
    assert schedule_id is not None
    _write(stack, lambda session: run_schedule_now(session, schedule_id, created_by="test"))
    row = _active(stack, asana["connection"], other_than=old)
    assert row.webhook_gid is not None and _sandbox_hook(stack, row.webhook_gid) is not None

    before = _reconcile_jobs(stack, asana["tenant"])
    [delivery] = _complete_a_task(stack, ASANA_ONBOARDING_PROJECT_GID)  # signed with the new secret
    assert delivery["delivered"], delivery
    assert _reconcile_jobs(stack, asana["tenant"]) > before


def changing_the_project_moves_the_webhook(stack: Stack, asana: dict[str, int]) -> None:
    old = _active(stack, asana["connection"]).webhook_gid
    assert old is not None
    _set_project(stack, asana["tenant"], OTHER_PROJECT)
    row = _active(stack, asana["connection"], other_than=old)
    assert row.resource_gid == OTHER_PROJECT
    assert _sandbox_hook(stack, old) is None  # the old project's webhook was deleted
    hook = _sandbox_hook(stack, str(row.webhook_gid))
    assert hook is not None and hook["resource"]["gid"] == OTHER_PROJECT


def disconnecting_deletes_the_webhook(stack: Stack, asana: dict[str, int]) -> None:
    gid = _active(stack, asana["connection"]).webhook_gid
    assert gid is not None
    _write(stack, lambda session: actions.disconnect(session, stack.settings, ADMIN, asana["tenant"], "asana"))
    assert _sandbox_hook(stack, gid) is None
    assert _webhook(stack, asana["connection"]) is None
    with stack.factory() as session:
        connection = session.get(Connection, asana["connection"])
        assert connection is not None
        assert (connection.status, connection.webhook_secret_ciphertext, connection.last_error) == (
            "disconnected",
            None,
            None,
        )


def test_an_asana_webhook_from_connecting_to_disconnecting(stack: Stack, asana: dict[str, int]) -> None:
    """One tenant's story, in order: each step starts from the state the one before it left (so
    they are one test, which pytest-xdist cannot split across its workers)."""
    connecting_without_a_project_creates_no_webhook(stack, asana)
    naming_the_project_creates_the_webhook_and_a_signed_event_makes_a_job(stack, asana)
    a_forged_or_replayed_handshake_is_refused_and_stores_nothing(stack, asana)
    a_webhook_asana_deleted_is_re_created_by_the_scheduled_check(stack, asana)
    changing_the_project_moves_the_webhook(stack, asana)
    disconnecting_deletes_the_webhook(stack, asana)
