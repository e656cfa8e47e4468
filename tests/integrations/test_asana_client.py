"""The Asana client against the Asana sandbox, over real HTTP — webhooks and handshake included."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Response
from sandbox_live import Bearer, Received, Receiver, live_sandbox, reset

from integrations.asana import webhooks
from integrations.asana.client import AsanaClient
from integrations.http import AuthError, NotFound, PermanentError
from settings import Settings

ONBOARDING, CHASING = "1201000000000201", "1201000000000202"
PAT = "2/1201000000000101/1201000000009999:0123456789abcdef"


def echo_handshake(item: Received) -> Response:
    secret = webhooks.handshake_secret(item.headers)
    if secret is not None:
        return Response("", status=204, headers=webhooks.handshake_response_headers(secret))
    return Response("", status=200)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver, Settings]]:
    with live_sandbox(tmp_path_factory.mktemp("asana")) as running:
        yield running


@pytest.fixture
def base(live: tuple[str, Receiver, Settings]) -> str:
    reset(live[0])
    httpx.post(live[0] + "/asana/_sandbox/config", json={"heartbeat_delay_s": None, "retry_delay_s": 0.01})
    live[1].received.clear()
    live[1].answer = echo_handshake
    return live[0]


@pytest.fixture
def client(base: str) -> Iterator[AsanaClient]:
    with AsanaClient(base + "/asana/api/1.0", Bearer(PAT), sleep=lambda s: None) as api:
        yield api


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_it_creates_a_task_in_a_project_with_assignee_due_date_and_notes(client: AsanaClient) -> None:
    task = client.create_task(
        ONBOARDING,
        "Send welcome pack",
        assignee="ben@zixly.example",
        due_on=date(2026, 12, 24),
        notes="Invoice INV-0042 paid",
    )
    assert task.name == "Send welcome pack" and task.notes == "Invoice INV-0042 paid"
    assert task.due_on == date(2026, 12, 24)
    assert task.assignee is not None and task.assignee.name == "Ben Account"
    assert [p.gid for p in task.projects] == [ONBOARDING]
    assert client.get_task(task.gid) == task


def test_an_unknown_assignee_or_project_is_refused(client: AsanaClient) -> None:
    with pytest.raises(PermanentError):
        client.create_task(ONBOARDING, "x", assignee="nobody@example.com")
    with pytest.raises(NotFound):
        client.create_task("999", "x")


def test_it_lists_tasks_modified_since_a_moment_paging_through_offsets(client: AsanaClient) -> None:
    recent = list(client.tasks_modified_since(ONBOARDING, datetime(2026, 11, 22, 12, tzinfo=UTC)))
    assert [t.name for t in recent] == ["Map HubSpot pipeline stages"]
    everything = list(client.tasks_modified_since(CHASING, datetime(2026, 1, 1, tzinfo=UTC), page_size=1))
    assert [t.name for t in everything] == [
        "Chase INV-0042 (Blue Fern)",
        "Chase INV-0057 (Kestrel)",
        "Reconcile Shopify payouts",
    ]
    changed = client.update_task(everything[1].gid, {"completed": True})
    assert changed.completed and changed.completed_at is not None
    again = list(client.tasks_modified_since(CHASING, datetime.now(UTC).replace(microsecond=0, second=0)))
    assert [t.gid for t in again] == [changed.gid]


def test_it_reads_projects(client: AsanaClient) -> None:
    project = client.get_project(ONBOARDING)
    assert project.name == "Client onboarding" and project.workspace is not None
    assert [p.gid for p in client.list_projects(project.workspace.gid)] == [ONBOARDING, CHASING]


def test_unknown_tasks_and_bad_tokens_raise_typed_errors(base: str, client: AsanaClient) -> None:
    with pytest.raises(NotFound):
        client.get_task("42")
    with AsanaClient(base + "/asana/api/1.0", Bearer("not-a-token")) as anonymous, pytest.raises(AuthError):
        anonymous.get_task("42")


def test_it_waits_out_a_429_for_the_retry_after_the_sandbox_sends(base: str) -> None:
    httpx.post(base + "/_sandbox/limits", json={"vendor": "asana", "budget": "minute", "limit": 2, "window_s": 1.0})
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with AsanaClient(base + "/asana/api/1.0", Bearer(PAT), sleep=sleep) as api:
        for _ in range(3):
            api.get_project(ONBOARDING)
    assert waits == [1.0]


def test_creating_a_webhook_performs_the_handshake_and_returns_the_secret(
    client: AsanaClient, live: tuple[str, Receiver, Settings]
) -> None:
    receiver = live[1]
    target = receiver.url + "/webhook/asana/7"
    hook = client.create_webhook(ONBOARDING, target, filters=[{"resource_type": "task"}])
    [shake] = receiver.received
    assert shake.url == target and shake.headers["X-Hook-Secret"] == hook.secret
    assert hook.active and hook.resource_gid == ONBOARDING and hook.target == target


def test_a_target_that_does_not_echo_the_secret_fails_the_create_call(
    client: AsanaClient, live: tuple[str, Receiver, Settings]
) -> None:
    live[1].answer = lambda r: Response("", status=200)
    with pytest.raises(PermanentError, match="handshake"):
        client.create_webhook(ONBOARDING, live[1].url + "/webhook/asana/7")


def test_task_changes_reach_the_project_webhook_signed_with_its_secret(
    client: AsanaClient, live: tuple[str, Receiver, Settings]
) -> None:
    receiver = live[1]
    hook = client.create_webhook(ONBOARDING, receiver.url + "/webhook/asana/7")
    assert hook.secret is not None
    task = client.create_task(ONBOARDING, "Book training", assignee="me")
    client.update_task(task.gid, {"due_on": "2027-01-15"})
    wait_for(lambda: len(receiver.received) >= 3)
    deliveries = receiver.received[1:]
    for delivery in deliveries:
        assert webhooks.verify_request(hook.secret, delivery.body, delivery.headers)
        assert not webhooks.verify_request("another-secret", delivery.body, delivery.headers)
    events = [e for d in deliveries for e in webhooks.parse_events(d.body, org_id="1201000000000001")]
    assert sorted(e.event_type for e in events) == ["task.added", "task.changed.due_on"]
    assert all(e.external_ids["task_gid"] == task.gid for e in events)
    added = next(e for e in events if e.event_type == "task.added")
    assert added.external_ids["parent_project_gid"] == ONBOARDING


def test_filters_keep_unwanted_events_away(client: AsanaClient, live: tuple[str, Receiver, Settings]) -> None:
    receiver = live[1]
    client.create_webhook(
        ONBOARDING,
        receiver.url + "/webhook/asana/7",
        filters=[{"resource_type": "task", "action": "changed", "fields": ["completed"]}],
    )
    task = client.create_task(ONBOARDING, "Quiet task")
    client.update_task(task.gid, {"name": "Renamed quietly"})
    client.update_task(task.gid, {"completed": True})
    wait_for(lambda: len(receiver.received) >= 2)
    time.sleep(0.2)
    [delivery] = receiver.received[1:]
    [event] = webhooks.parse_events(delivery.body, org_id=None)
    assert event.event_type == "task.changed.completed"


def test_completing_a_task_in_the_sandbox_answers_with_the_delivery_log(
    base: str, client: AsanaClient, live: tuple[str, Receiver, Settings]
) -> None:
    receiver = live[1]
    client.create_webhook(CHASING, receiver.url + "/webhook/asana/8")
    task = next(client.tasks_modified_since(CHASING, datetime(2026, 1, 1, tzinfo=UTC)))
    statuses = iter([503, 200])
    receiver.answer = lambda r: Response("", status=next(statuses))
    logs = httpx.post(f"{base}/asana/_sandbox/tasks/{task.gid}/complete").json()["deliveries"]
    assert [a["status"] for a in logs[0]["attempts"]] == [503, 200]
    bodies = {r.body for r in receiver.received[1:]}
    assert len(bodies) == 1
    assert json.loads(bodies.pop())["events"][0]["change"]["field"] == "completed"


def test_a_heartbeat_follows_the_handshake(
    base: str, client: AsanaClient, live: tuple[str, Receiver, Settings]
) -> None:
    httpx.post(base + "/asana/_sandbox/config", json={"heartbeat_delay_s": 0.05})
    hook = client.create_webhook(ONBOARDING, live[1].url + "/webhook/asana/9")
    wait_for(lambda: len(live[1].received) >= 2)
    heartbeat = live[1].received[1]
    assert heartbeat.body == b'{"events":[]}'
    assert webhooks.verify_request(hook.secret or "", heartbeat.body, heartbeat.headers)
    client.delete_webhook(hook.gid)


def test_an_oauth_grant_works_until_its_refresh_token_is_revoked(base: str) -> None:
    redirect = "http://127.0.0.1:3000/oauth/asana/callback"
    answer = httpx.get(
        base + "/asana/-/oauth_authorize",
        params={
            "client_id": "app",
            "redirect_uri": redirect,
            "response_type": "code",
            "state": "z",
            "scope": "tasks:read",
        },
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = httpx.post(
        base + "/asana/-/oauth_token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": "app",
            "client_secret": "s",
        },
    ).json()
    assert token["expires_in"] == 3600 and token["data"]["email"] == "ana@zixly.example"
    with AsanaClient(base + "/asana/api/1.0", Bearer(token["access_token"])) as api:
        assert api.get_project(ONBOARDING).name == "Client onboarding"
        httpx.post(
            base + "/asana/-/oauth_revoke",
            data={"token": token["refresh_token"], "client_id": "app", "client_secret": "s"},
        )
        with pytest.raises(AuthError):
            api.get_project(ONBOARDING)


def test_asana_deletes_a_webhook_whose_deliveries_keep_failing_and_get_webhook_says_so(
    client: AsanaClient, live: tuple[str, Receiver, Settings]
) -> None:
    base, receiver = live[0], live[1]
    # The task exists before the webhook, so no asynchronous "added" delivery races the one below.
    task = client.create_task(ONBOARDING, "Doomed delivery")
    hook = client.create_webhook(ONBOARDING, receiver.url + "/webhook/asana/7")
    seen = client.get_webhook(hook.gid)
    assert (seen.gid, seen.active, seen.resource_gid) == (hook.gid, True, ONBOARDING)
    # The failure window (24 h at Asana) shrunk to nothing: the first failed delivery ends it.
    httpx.post(base + "/asana/_sandbox/config", json={"failure_deletion_s": 0, "retries": 0}).raise_for_status()
    receiver.answer = lambda r: Response("", status=500)
    logs = httpx.post(f"{base}/asana/_sandbox/tasks/{task.gid}/complete").json()["deliveries"]
    assert logs and not logs[0]["delivered"]
    with pytest.raises(NotFound):
        client.get_webhook(hook.gid)
