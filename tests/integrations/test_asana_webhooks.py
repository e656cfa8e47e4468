"""Asana webhook handshake, signatures (every vector of TEST_VECTORS.json) and parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integrations.asana import webhooks

VECTORS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "TEST_VECTORS.json"
VECTORS = [v for v in json.loads(VECTORS_FILE.read_text())["vectors"] if v["vendor"] == "asana"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_it_computes_and_accepts_each_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert webhooks.signature(vector["secret"], body) == vector["expected"]
    assert webhooks.verify_request(vector["secret"], body, {"X-Hook-Signature": vector["expected"]})
    assert webhooks.verify_request(vector["secret"], body, {"x-hook-signature": vector["expected"].upper()})


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_it_rejects_each_vector_with_a_tampered_body_another_secret_or_no_signature(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    headers = {"X-Hook-Signature": vector["expected"]}
    assert not webhooks.verify_request(vector["secret"], body + b" ", headers)
    assert not webhooks.verify_request(vector["secret"][:-1] + "0", body, headers)
    assert not webhooks.verify_request(vector["secret"], body, {})


def test_the_handshake_echoes_the_secret() -> None:
    secret = VECTORS[0]["secret"]
    assert webhooks.handshake_secret({"x-hook-secret": secret}) == secret
    assert webhooks.handshake_response_headers(secret) == {"X-Hook-Secret": secret}
    assert webhooks.handshake_secret({"X-Hook-Signature": "abc"}) is None


def test_a_heartbeat_parses_to_no_events() -> None:
    heartbeat = next(v for v in VECTORS if v["id"] == "asana-heartbeat-derived")
    assert webhooks.parse_events(heartbeat["body"].encode(), org_id="1") == []


def test_it_parses_a_task_change_with_the_org_the_caller_resolved() -> None:
    changed = next(v for v in VECTORS if v["id"] == "asana-task-changed-derived")
    [event] = webhooks.parse_events(changed["body"].encode(), org_id="1199")
    assert event.source == "asana"
    assert event.event_type == "task.changed.assignee"
    assert event.org_id == "1199"
    assert event.external_ids == {"task_gid": "12345"}
    assert event.occurred_at.isoformat() == "2012-02-22T02:06:58.147000+00:00"
    assert event.dedup_key == "asana:12345:changed:2012-02-22T02:06:58.147Z:assignee:12345"


def test_the_dedup_key_tells_apart_changes_of_different_fields() -> None:
    base = {
        "user": {"gid": "1"},
        "created_at": "2026-01-01T00:00:00Z",
        "action": "changed",
        "resource": {"gid": "5", "resource_type": "task"},
        "parent": None,
    }
    body = json.dumps(
        {
            "events": [
                {**base, "change": {"field": "name"}},
                {**base, "change": {"field": "due_on"}},
                {**base, "change": {"field": "name"}},
            ]
        }
    ).encode()
    keys = [e.dedup_key for e in webhooks.parse_events(body, org_id=None)]
    assert keys[0] == keys[2] != keys[1]


def test_added_events_carry_the_parent() -> None:
    body = json.dumps(
        {
            "events": [
                {
                    "user": None,
                    "created_at": "2026-01-01T00:00:00Z",
                    "action": "added",
                    "resource": {"gid": "5", "resource_type": "task"},
                    "parent": {"gid": "77", "resource_type": "project"},
                }
            ]
        }
    ).encode()
    [event] = webhooks.parse_events(body, org_id=None)
    assert event.event_type == "task.added"
    assert event.external_ids == {"task_gid": "5", "parent_project_gid": "77"}


def test_it_refuses_a_body_without_an_events_list() -> None:
    with pytest.raises(ValueError):
        webhooks.parse_events(b"[]", org_id=None)
