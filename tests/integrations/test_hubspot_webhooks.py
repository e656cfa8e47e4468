"""HubSpot webhook signatures (every vector of TEST_VECTORS.json) and event parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integrations.hubspot import webhooks

VECTORS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "TEST_VECTORS.json"


def vectors(vendor: str, scheme: str | None = None) -> list[dict[str, Any]]:
    found = [v for v in json.loads(VECTORS_FILE.read_text())["vectors"] if v["vendor"] == vendor]
    return [v for v in found if scheme is None or v["scheme"] == scheme]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [v["id"] for v in items]


LEGACY = vectors("hubspot", "v1") + vectors("hubspot", "v2")
V3 = vectors("hubspot", "v3")


@pytest.mark.parametrize("vector", LEGACY, ids=ids(LEGACY))
def test_it_computes_and_accepts_each_legacy_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    method, uri = vector["method"] or "POST", vector["uri"] or ""
    if vector["scheme"] == "v1":
        assert webhooks.signature_v1(vector["secret"], body) == vector["expected"]
    else:
        assert webhooks.signature_v2(vector["secret"], method, uri, body) == vector["expected"]
    headers = {"X-HubSpot-Signature": vector["expected"], "X-HubSpot-Signature-Version": vector["scheme"]}
    assert webhooks.verify_request(vector["secret"], method=method, uri=uri, body=body, headers=headers)


@pytest.mark.parametrize("vector", LEGACY, ids=ids(LEGACY))
def test_it_rejects_each_legacy_vector_with_a_tampered_body_or_wrong_secret(vector: dict[str, Any]) -> None:
    method, uri = vector["method"] or "POST", vector["uri"] or ""
    headers = {"X-HubSpot-Signature": vector["expected"], "X-HubSpot-Signature-Version": vector["scheme"]}
    tampered = (vector["body"] + " ").encode()
    assert not webhooks.verify_request(vector["secret"], method=method, uri=uri, body=tampered, headers=headers)
    assert not webhooks.verify_request(
        "not-the-secret", method=method, uri=uri, body=vector["body"].encode(), headers=headers
    )


@pytest.mark.parametrize("vector", V3, ids=ids(V3))
def test_it_computes_the_v3_vector_and_accepts_it_within_five_minutes(vector: dict[str, Any]) -> None:
    body, ts = vector["body"].encode(), vector["timestamp"]
    assert webhooks.signature_v3(vector["secret"], vector["method"], vector["uri"], body, ts) == vector["expected"]
    headers = {"X-HubSpot-Signature-v3": vector["expected"], "X-HubSpot-Request-Timestamp": ts}
    clock = int(ts) / 1000 + 299
    assert webhooks.verify_request(
        vector["secret"], method=vector["method"], uri=vector["uri"], body=body, headers=headers, now=lambda: clock
    )


@pytest.mark.parametrize("vector", V3, ids=ids(V3))
def test_it_rejects_the_v3_vector_once_older_than_five_minutes(vector: dict[str, Any]) -> None:
    body, ts = vector["body"].encode(), vector["timestamp"]
    headers = {"X-HubSpot-Signature-v3": vector["expected"], "X-HubSpot-Request-Timestamp": ts}
    late = int(ts) / 1000 + 301
    assert not webhooks.verify_request(
        vector["secret"], method=vector["method"], uri=vector["uri"], body=body, headers=headers, now=lambda: late
    )
    # …and with the real clock: the vector's timestamp lies in 2023.
    assert not webhooks.verify_request(
        vector["secret"], method=vector["method"], uri=vector["uri"], body=body, headers=headers
    )


@pytest.mark.parametrize("vector", V3, ids=ids(V3))
def test_it_rejects_the_v3_vector_with_another_uri_method_or_timestamp(vector: dict[str, Any]) -> None:
    body, ts = vector["body"].encode(), vector["timestamp"]
    headers = {"X-HubSpot-Signature-v3": vector["expected"], "X-HubSpot-Request-Timestamp": ts}
    clock = lambda: int(ts) / 1000  # noqa: E731
    secret, uri = vector["secret"], vector["uri"]
    assert not webhooks.verify_request(secret, method="POST", uri=uri + "?x=1", body=body, headers=headers, now=clock)
    assert not webhooks.verify_request(secret, method="PUT", uri=uri, body=body, headers=headers, now=clock)
    moved = {**headers, "X-HubSpot-Request-Timestamp": str(int(ts) + 1)}
    assert not webhooks.verify_request(secret, method="POST", uri=uri, body=body, headers=moved, now=clock)


def test_a_bad_v3_signature_is_not_rescued_by_a_good_legacy_one() -> None:
    v1 = vectors("hubspot", "v1")[0]
    body = v1["body"].encode()
    headers = {
        "X-HubSpot-Signature": v1["expected"],
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature-v3": "AAAA",
        "X-HubSpot-Request-Timestamp": "1700000000000",
    }
    assert not webhooks.verify_request(
        v1["secret"], method="POST", uri="https://x.test/h", body=body, headers=headers, now=lambda: 1_700_000_000
    )


def test_it_refuses_legacy_signatures_when_told_to() -> None:
    v1 = vectors("hubspot", "v1")[0]
    headers = {"X-HubSpot-Signature": v1["expected"], "X-HubSpot-Signature-Version": "v1"}
    assert not webhooks.verify_request(
        v1["secret"], method="POST", uri="", body=v1["body"].encode(), headers=headers, allow_legacy=False
    )


def test_it_parses_the_documented_delivery_into_one_event_per_element() -> None:
    body = vectors("hubspot", "v1")[0]["body"].encode()
    [event] = webhooks.parse_events(body)
    assert event.source == "hubspot"
    assert event.event_type == "contact.creation"
    assert event.org_id == "62515"
    assert event.external_ids == {"contact_id": "123", "portal_id": "62515"}
    assert event.occurred_at.isoformat() == "2019-07-26T04:00:00+00:00"
    assert event.dedup_key == "hubspot:62515:12345:1:1564113600000:123"


def test_the_dedup_key_ignores_the_attempt_number_but_not_the_occurrence_time() -> None:
    first = {
        "eventId": 7,
        "subscriptionId": 1,
        "portalId": 9,
        "occurredAt": 1,
        "objectId": 5,
        "attemptNumber": 0,
        "subscriptionType": "deal.propertyChange",
        "propertyName": "dealstage",
        "propertyValue": "closedwon",
    }
    retry = {**first, "attemptNumber": 3}
    same_id_later = {**first, "occurredAt": 2}  # eventId is not unique at HubSpot
    keys = [e.dedup_key for e in webhooks.parse_events(json.dumps([first, retry, same_id_later]).encode())]
    assert keys[0] == keys[1] != keys[2]


def test_it_refuses_a_body_that_is_not_an_array_of_events() -> None:
    with pytest.raises(ValueError):
        webhooks.parse_events(b'{"eventId": 1}')
