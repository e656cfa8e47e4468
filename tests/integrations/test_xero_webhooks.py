"""Xero webhooks: every Xero vector of TEST_VECTORS.json, ITR, parsing into VendorEvents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from integrations.xero import webhooks

VECTORS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "TEST_VECTORS.json"
XERO_VECTORS = [v for v in json.loads(VECTORS_FILE.read_text())["vectors"] if v["vendor"] == "xero"]
ITR_BODY = XERO_VECTORS[0]["body"].encode()
KEY = XERO_VECTORS[0]["secret"]


def test_there_are_three_xero_vectors() -> None:
    assert len(XERO_VECTORS) == 3


@pytest.mark.parametrize("vector", XERO_VECTORS, ids=lambda v: v["id"])
def test_every_xero_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    if vector.get("expect_valid") is False:
        assert not webhooks.verify(vector["secret"], body, vector["presented"])
    else:
        assert webhooks.signature(vector["secret"], body) == vector["expected"]
        assert webhooks.verify_request(vector["secret"], body, {"X-Xero-Signature": vector["expected"]})


def test_it_uses_the_key_string_itself_not_its_base64_decoding() -> None:
    import base64

    decoded = base64.b64decode(KEY).decode()
    assert not webhooks.verify(decoded, ITR_BODY, XERO_VECTORS[0]["expected"])


def test_it_rejects_a_tampered_body_and_a_missing_header() -> None:
    good = XERO_VECTORS[0]["expected"]
    assert not webhooks.verify(KEY, ITR_BODY + b" ", good)
    assert not webhooks.verify_request(KEY, ITR_BODY, {})


def test_an_intent_to_receive_delivery_has_no_events() -> None:
    assert webhooks.is_intent_to_receive(ITR_BODY)
    assert webhooks.parse_events(ITR_BODY) == []
    assert not webhooks.is_intent_to_receive(XERO_VECTORS[2]["body"].encode())


def test_it_parses_a_contact_update_into_a_vendor_event() -> None:
    (event,) = webhooks.parse_events(XERO_VECTORS[2]["body"].encode())
    assert event.source == "xero"
    assert event.event_type == "contact.update"
    assert event.external_ids == {"contact_id": "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777"}
    assert event.org_id == "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
    assert event.occurred_at == dt.datetime(2024, 6, 21, 1, 15, 39, 902000, tzinfo=dt.UTC)
    assert event.dedup_key == (
        "xero:c2cc9b6e-9458-4c7d-93cc-f02b81b0594f:CONTACT:717f2bfc-c6d4-41fd-b238-3f2f0c0cf777"
        ":UPDATE:2024-06-21T01:15:39.902"
    )


def test_events_of_several_tenants_in_one_delivery_keep_their_own_org() -> None:
    body = json.dumps(
        {
            "events": [
                {
                    "resourceId": "i-1",
                    "eventDateUtc": "2026-11-26T10:00:00.000",
                    "eventType": "UPDATE",
                    "eventCategory": "INVOICE",
                    "tenantId": "org-a",
                    "tenantType": "ORGANISATION",
                },
                {
                    "resourceId": "i-2",
                    "eventDateUtc": "2026-11-26T10:00:01.000",
                    "eventType": "CREATE",
                    "eventCategory": "INVOICE",
                    "tenantId": "org-b",
                    "tenantType": "ORGANISATION",
                },
            ],
            "firstEventSequence": 1,
            "lastEventSequence": 2,
            "entropy": "x",
        }
    ).encode()
    events = webhooks.parse_events(body)
    assert [(e.org_id, e.event_type, e.external_ids["invoice_id"]) for e in events] == [
        ("org-a", "invoice.update", "i-1"),
        ("org-b", "invoice.create", "i-2"),
    ]


def test_a_redelivery_has_the_same_dedup_key() -> None:
    body = XERO_VECTORS[2]["body"].encode()
    assert webhooks.parse_events(body)[0].dedup_key == webhooks.parse_events(body)[0].dedup_key


@pytest.mark.parametrize("body", [b"[]", b'{"entropy":"x"}', b'{"events":[1]}', b'{"events":[{"eventType":"UPDATE"}]}'])
def test_it_refuses_bodies_that_are_not_xeros_shape(body: bytes) -> None:
    with pytest.raises(ValueError):
        webhooks.parse_events(body)
