"""Shopify webhook and OAuth-query signatures (every vector of TEST_VECTORS.json) and parsing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from integrations.shopify import webhooks

VECTORS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "TEST_VECTORS.json"
SAMPLE = Path(__file__).with_name("shopify_order_webhook_sample.json")


def vectors(scheme: str) -> list[dict[str, Any]]:
    every = json.loads(VECTORS_FILE.read_text())["vectors"]
    return [v for v in every if v["vendor"] == "shopify" and v["scheme"] == scheme]


WEBHOOK = vectors("webhook")
QUERY = vectors("oauth-query")


@pytest.mark.parametrize("vector", WEBHOOK, ids=[v["id"] for v in WEBHOOK])
def test_it_computes_and_accepts_the_webhook_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert webhooks.webhook_signature(vector["secret"], body) == vector["expected"]
    assert webhooks.verify_webhook(vector["secret"], body, vector["expected"])


@pytest.mark.parametrize("vector", WEBHOOK, ids=[v["id"] for v in WEBHOOK])
def test_it_rejects_the_webhook_vector_when_anything_changes(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert not webhooks.verify_webhook(vector["secret"], body.replace(b" ", b""), vector["expected"])
    assert not webhooks.verify_webhook("other_secret", body, vector["expected"])
    assert not webhooks.verify_webhook(vector["secret"], body, None)
    assert not webhooks.verify_webhook(vector["secret"], body, "")


@pytest.mark.parametrize("vector", QUERY, ids=[v["id"] for v in QUERY])
def test_it_builds_the_signed_message_and_hmac_of_each_oauth_query_vector(vector: dict[str, Any]) -> None:
    assert webhooks.query_message(vector["params"]) == vector["message"]
    assert webhooks.query_signature(vector["secret"], vector["params"]) == vector["expected"]
    assert webhooks.verify_query(vector["secret"], {**vector["params"], "hmac": vector["expected"]})


@pytest.mark.parametrize("vector", QUERY, ids=[v["id"] for v in QUERY])
def test_it_rejects_each_oauth_query_vector_with_a_changed_parameter(vector: dict[str, Any]) -> None:
    params = {**vector["params"], "shop": "evil-shop.myshopify.com", "hmac": vector["expected"]}
    assert not webhooks.verify_query(vector["secret"], params)
    assert not webhooks.verify_query("not-hush", {**vector["params"], "hmac": vector["expected"]})
    assert not webhooks.verify_query(vector["secret"], vector["params"])  # no hmac at all


def test_it_reads_array_parameters_from_query_pairs_in_their_original_order() -> None:
    vector = next(v for v in QUERY if "ids[]" in v["params"])
    pairs = [("ids[]", "2"), ("shop", "some-shop.myshopify.com"), ("ids[]", "1"), ("hmac", vector["expected"])]
    assert webhooks.verify_query(vector["secret"], pairs)


def test_a_value_cannot_smuggle_in_another_parameter() -> None:
    honest = webhooks.query_message({"shop": "a.myshopify.com", "state": "x"})
    smuggled = webhooks.query_message({"shop": "a.myshopify.com&state=x"})
    assert honest != smuggled


@pytest.mark.parametrize(
    ("shop", "valid"),
    [
        ("some-shop.myshopify.com", True),
        ("evil.com", False),
        ("a.myshopify.com.evil.com", False),
        ("x/y.myshopify.com", False),
        (".myshopify.com", False),
    ],
)
def test_it_accepts_only_myshopify_shop_domains(shop: str, valid: bool) -> None:
    assert webhooks.valid_shop_domain(shop) is valid


def _headers(**extra: str) -> dict[str, str]:
    return {
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Shop-Domain": "demo-store.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Triggered-At": "2026-11-26T10:00:00.000Z",
        **extra,
    }


def test_it_parses_an_order_delivery_into_an_event_for_the_shop() -> None:
    body = SAMPLE.read_bytes()
    event = webhooks.parse_webhook(_headers(**{"X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5"}), body)
    assert event.source == "shopify"
    assert event.event_type == "orders/paid"
    assert event.org_id == "demo-store.myshopify.com"
    assert event.external_ids["order_id"] == "450789469"
    assert event.external_ids["gid"] == "gid://shopify/Order/450789469"
    assert event.occurred_at.isoformat() == "2026-11-26T10:00:00+00:00"
    assert event.dedup_key == "shopify:orders/paid:" + hashlib.sha256(body).hexdigest()[:48]
    assert event.payload["resource"]["name"] == "#1001"


def test_the_dedup_key_is_what_shopify_signs_so_fresh_header_ids_do_not_make_a_replay_new() -> None:
    body = SAMPLE.read_bytes()
    first = webhooks.parse_webhook(_headers(**{"X-Shopify-Event-Id": "e1"}), body)
    retry = webhooks.parse_webhook(_headers(**{"X-Shopify-Event-Id": "e1", "X-Shopify-Webhook-Id": "other"}), body)
    forged_ids = webhooks.parse_webhook(
        _headers(
            **{
                "X-Shopify-Event-Id": "fresh",
                "X-Shopify-Webhook-Id": "fresh",
                "X-Shopify-Shop-Domain": "x.myshopify.com",
            }
        ),
        body,
    )
    assert first.dedup_key == retry.dedup_key == forged_ids.dedup_key
    # A changed order is a new event, and one unchanged order is both orders/create and orders/paid.
    changed = webhooks.parse_webhook(_headers(), body.replace(b"#1001", b"#1002"))
    created = webhooks.parse_webhook(_headers(**{"X-Shopify-Topic": "orders/create"}), body)
    assert len({first.dedup_key, changed.dedup_key, created.dedup_key}) == 3


def test_it_understands_the_unprefixed_event_headers() -> None:
    headers = {
        "shopify-topic": "orders/create",
        "shopify-shop-domain": "demo-store.myshopify.com",
        "shopify-event-id": "e9",
    }
    event = webhooks.parse_webhook(headers, SAMPLE.read_bytes())
    assert (event.event_type, event.org_id, event.dedup_key) == (
        "orders/create",
        "demo-store.myshopify.com",
        "shopify:orders/create:" + hashlib.sha256(SAMPLE.read_bytes()).hexdigest()[:48],
    )


def test_it_refuses_a_delivery_without_topic_or_shop() -> None:
    with pytest.raises(ValueError):
        webhooks.parse_webhook({"X-Shopify-Topic": "orders/paid"}, b"{}")
