"""The HubSpot client against the HubSpot sandbox, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_live import Bearer, Receiver, live_sandbox, reset

from integrations.http import AuthError, NotFound
from integrations.hubspot import webhooks
from integrations.hubspot.client import ContactExists, HubSpotClient
from sandbox.hubspot import store as sandbox
from settings import Settings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver, Settings]]:
    with live_sandbox(tmp_path_factory.mktemp("hubspot")) as running:
        yield running


@pytest.fixture
def base(live: tuple[str, Receiver, Settings]) -> str:
    reset(live[0])
    live[1].received.clear()
    return live[0]


@pytest.fixture
def client(base: str) -> Iterator[HubSpotClient]:
    with HubSpotClient(base + "/hubspot", Bearer("pat-na1-token-1"), sleep=lambda s: None) as api:
        yield api  # type: ignore[misc]


def test_it_finds_a_contact_by_email_ignoring_case(client: HubSpotClient) -> None:
    contact = client.find_contact_by_email("Alice@Northwind.example")
    assert contact is not None
    assert (contact.email, contact.get("firstname")) == ("alice@northwind.example", "Alice")
    assert client.find_contact_by_email("nobody@example.com") is None


def test_it_creates_a_contact_and_refuses_a_second_one_with_the_same_email(client: HubSpotClient) -> None:
    created = client.create_contact({"email": "new@zixly.example", "firstname": "Nia"})
    assert created.email == "new@zixly.example" and created.id
    with pytest.raises(ContactExists) as caught:
        client.create_contact({"email": "new@zixly.example"})
    assert caught.value.existing_id == created.id and caught.value.permanent


def test_it_updates_a_contact_by_id_and_by_email(client: HubSpotClient) -> None:
    alice = client.find_contact_by_email("alice@northwind.example")
    assert alice is not None
    assert client.update_contact(alice.id, {"lifecyclestage": "customer"}).get("lifecyclestage") == "customer"
    by_email = client.update_contact("alice@northwind.example", {"phone": "+64 9 555 0100"}, id_property="email")
    assert by_email.id == alice.id and by_email.get("phone") == "+64 9 555 0100"


def test_a_batch_upsert_by_email_updates_existing_contacts_and_creates_new_ones(client: HubSpotClient) -> None:
    rows = [
        {"email": "bob@northwind.example", "lifecyclestage": "customer"},
        {"email": "zed@example.com", "firstname": "Zed"},
    ]
    first = client.upsert_contacts_by_email(rows)
    assert [(r.record.email, r.created) for r in first] == [("bob@northwind.example", False), ("zed@example.com", True)]
    again = client.upsert_contacts_by_email(rows)
    assert [r.created for r in again] == [False, False]
    assert again[1].record.id == first[1].record.id


def test_it_reads_a_deal_with_its_company_and_contact(client: HubSpotClient) -> None:
    deal_id = next(iter(sandbox.objects["deals"]))
    deal = client.get_deal(deal_id)
    assert deal.get("dealname") == "Northwind annual licence"
    assert deal.stage == "contractsent" and str(deal.amount) == "12000.00"
    alice = client.find_contact_by_email("alice@northwind.example")
    assert alice is not None and deal.contact_ids == [alice.id]
    assert len(deal.company_ids) == 1


def test_it_moves_a_deal_and_associates_another_contact(client: HubSpotClient) -> None:
    deal_id = next(iter(sandbox.objects["deals"]))
    assert client.update_deal_stage(deal_id, "closedwon").stage == "closedwon"
    bob = client.find_contact_by_email("bob@northwind.example")
    assert bob is not None
    client.associate("deals", deal_id, "contacts", bob.id)
    assert bob.id in client.get_deal(deal_id).contact_ids


def test_unknown_records_and_missing_tokens_raise_typed_errors(base: str, client: HubSpotClient) -> None:
    with pytest.raises(NotFound):
        client.get_deal("999999")
    with HubSpotClient(base + "/hubspot") as anonymous, pytest.raises(AuthError):
        anonymous.find_contact_by_email("alice@northwind.example")


def test_it_waits_out_a_429_as_the_headers_say_and_then_succeeds(base: str) -> None:
    httpx.post(base + "/_sandbox/limits", json={"vendor": "hubspot", "budget": "burst", "limit": 2, "window_s": 1.0})
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with HubSpotClient(base + "/hubspot", Bearer("pat-na1-token-429"), sleep=sleep) as api:
        for _ in range(3):
            assert api.find_contact_by_email("alice@northwind.example") is not None
    assert waits == [1.0]


def test_the_search_budget_is_four_per_second_per_token(base: str) -> None:
    from sandbox import control

    assert control._default_budgets["hubspot-search"] == [("search", 4, 1.0)]
    # A long window keeps the check independent of how fast this machine sends five requests.
    httpx.post(
        base + "/_sandbox/limits", json={"vendor": "hubspot-search", "budget": "search", "limit": 4, "window_s": 60}
    )
    statuses = []
    for _ in range(5):
        response = httpx.post(
            base + "/hubspot/crm/objects/2026-09/contacts/search",
            json={"limit": 1},
            headers={"Authorization": "Bearer pat-na1-search"},
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 429]
    assert response.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["category"] == "RATE_LIMITS"


def test_moving_a_deal_sends_a_signed_v3_property_change_webhook(
    live: tuple[str, Receiver, Settings], base: str
) -> None:
    _, receiver, settings = live
    deal_id = next(iter(sandbox.objects["deals"]))
    result = httpx.post(f"{base}/hubspot/_sandbox/deals/{deal_id}/stage", json={"stage": "closedwon"}).json()
    assert result["deliveries"][0]["delivered"]
    [delivery] = receiver.received
    assert delivery.url == settings.public_url + "/webhook/hubspot"
    assert webhooks.verify_request(
        "hubspot-test-secret",
        method="POST",
        uri=delivery.url,
        body=delivery.body,
        headers=delivery.headers,
        allow_legacy=False,
    )
    [event] = webhooks.parse_events(delivery.body)
    assert event.event_type == "deal.propertyChange"
    assert event.external_ids["deal_id"] == deal_id
    assert event.org_id == str(sandbox.PORTAL_ID)
    assert event.payload["propertyValue"] == "closedwon"


def test_failed_deliveries_are_retried_with_a_new_attempt_number_and_the_same_dedup_key(
    live: tuple[str, Receiver, Settings], base: str
) -> None:
    from flask import Response

    receiver = live[1]
    statuses = iter([503, 429, 200])
    receiver.answer = lambda r: Response("", status=next(statuses))
    try:
        deal_id = next(iter(sandbox.objects["deals"]))
        result = httpx.post(
            f"{base}/hubspot/_sandbox/deals/{deal_id}/stage", json={"stage": "closedlost", "retry_delay_s": 0.01}
        ).json()
    finally:
        receiver.answer = lambda r: Response("", status=200)
    assert [a["status"] for a in result["deliveries"][0]["attempts"]] == [503, 429, 200]
    bodies = [json.loads(r.body)[0] for r in receiver.received]
    assert [b["attemptNumber"] for b in bodies] == [0, 1, 2]
    keys = {webhooks.parse_events(r.body)[0].dedup_key for r in receiver.received}
    assert len(keys) == 1


def test_a_401_answer_is_never_retried(live: tuple[str, Receiver, Settings], base: str) -> None:
    from flask import Response

    receiver = live[1]
    receiver.answer = lambda r: Response("", status=401)
    try:
        deal_id = next(iter(sandbox.objects["deals"]))
        result = httpx.post(f"{base}/hubspot/_sandbox/deals/{deal_id}/stage", json={"retry_delay_s": 0.01}).json()
    finally:
        receiver.answer = lambda r: Response("", status=200)
    assert [a["status"] for a in result["deliveries"][0]["attempts"]] == [401]


def test_a_duplicate_send_reuses_the_event_id_with_another_occurrence_time(
    base: str, live: tuple[str, Receiver, Settings]
) -> None:
    deal_id = next(iter(sandbox.objects["deals"]))
    httpx.post(f"{base}/hubspot/_sandbox/deals/{deal_id}/stage", json={"duplicate": True})
    first, second = (json.loads(r.body)[0] for r in live[1].received)
    assert first["eventId"] == second["eventId"] and first["occurredAt"] != second["occurredAt"]


def test_the_target_can_be_given_in_the_request(base: str, live: tuple[str, Receiver, Settings]) -> None:
    target = live[1].url + "/elsewhere"
    deal_id = next(iter(sandbox.objects["deals"]))
    httpx.post(f"{base}/hubspot/_sandbox/deals/{deal_id}/stage", json={"target": target})
    assert live[1].received[0].url == target


def test_an_oauth_grant_gives_a_token_the_api_accepts_until_it_is_revoked(base: str) -> None:
    redirect = "http://127.0.0.1:3000/oauth/hubspot/callback"
    authorize = httpx.get(
        base + "/hubspot/app/oauth/authorize",
        params={"client_id": "app-1", "redirect_uri": redirect, "scope": "crm.objects.contacts.read", "state": "s1"},
    )
    assert authorize.status_code == 302
    query = parse_qs(urlsplit(authorize.headers["Location"]).query)
    assert query["state"] == ["s1"]
    form = {"client_id": "app-1", "client_secret": "s"}
    token = httpx.post(
        base + "/hubspot/oauth/v3/token",
        data={**form, "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect},
    ).json()
    assert token["hub_id"] == sandbox.PORTAL_ID and token["expires_in"] == 1800
    with HubSpotClient(base + "/hubspot", Bearer(token["access_token"])) as api:
        assert api.find_contact_by_email("alice@northwind.example") is not None
        refreshed = httpx.post(
            base + "/hubspot/oauth/v3/token",
            data={**form, "grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        ).json()
        assert refreshed["refresh_token"] == token["refresh_token"]  # HubSpot's refresh token is reusable
        httpx.post(base + "/hubspot/oauth/v3/token/revoke", data={"token": token["refresh_token"]})
        with pytest.raises(AuthError):
            api.find_contact_by_email("alice@northwind.example")
