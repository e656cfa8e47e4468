"""Xero, HubSpot and Asana deliveries: handshakes, tenants, workflows, duplicates, logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from listener_helpers import (
    HUBSPOT_SECRET,
    PORTAL,
    XERO_KEY,
    XERO_ORG,
    b64_hmac,
    pending_handshake,
    shopify_headers,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

import logconfig
from db.models import Connection, PipelineJob, WebhookDelivery
from settings import Settings

ASANA_SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"


def _xero_event(category: str, resource: str, tenant: str = XERO_ORG, when: str = "2026-11-26T10:00:00.000") -> dict:
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{category.title()}s/{resource}",
        "resourceId": resource,
        "eventDateUtc": when,
        "eventType": "UPDATE",
        "eventCategory": category,
        "tenantId": tenant,
        "tenantType": "ORGANISATION",
    }


def _xero_post(client: FlaskClient, events: list[dict], key: str = XERO_KEY) -> Any:
    body = json.dumps({"events": events, "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "x"}).encode()
    headers = {"Content-Type": "application/json", "x-xero-signature": b64_hmac(key, body)}
    return client.post("/webhook/xero", data=body, headers=headers)


def test_xero_invoice_events_enqueue_per_tenant_and_unknown_orgs_are_unmatched(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    response = _xero_post(
        client,
        [
            _xero_event("INVOICE", "inv-1"),
            _xero_event("CONTACT", "con-1"),
            _xero_event("INVOICE", "inv-2", tenant="someone-else"),
        ],
    )
    assert response.status_code == 200
    assert response.get_data() == b""  # Xero wants an empty 200
    conforms(response)
    job_ids = [int(i) for i in response.headers["Zixly-Job-Ids"].split(",")]
    jobs = [session.get(PipelineJob, i) for i in job_ids]
    assert [(j.job_type, j.params["invoice_id"], j.concurrency_key) for j in jobs if j] == [
        ("xero-invoice-paid", "inv-1", "xero:invoice:inv-1")
    ]
    outcomes = sorted((d.event_type, d.outcome) for d in session.scalars(select(WebhookDelivery)))
    assert outcomes == [("contact.update", "accepted"), ("invoice.update", "accepted"), ("invoice.update", "unmatched")]
    # Each event of a batch is stored as a delivery of its own that parses alone.
    bodies = [json.loads(d.body) for d in session.scalars(select(WebhookDelivery))]
    assert all(len(b["events"]) == 1 for b in bodies)

    again = _xero_post(client, [_xero_event("INVOICE", "inv-1")])
    assert again.status_code == 200
    assert again.headers["Zixly-Job-Ids"] == str(job_ids[0])


def test_a_xero_delivery_that_lists_one_event_twice_stores_it_once(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    """Both copies share one dedup key: the second is a duplicate of the first, not of itself.

    (The one-delivery path rolled the first copy back as if an earlier delivery had won, then
    skipped both: 200 to Xero, nothing stored.)"""
    event = _xero_event("INVOICE", "inv-twice")
    response = _xero_post(client, [event, event])
    assert response.status_code == 200
    [job_id] = [int(i) for i in response.headers["Zixly-Job-Ids"].split(",")]
    job = session.get(PipelineJob, job_id)
    assert job is not None and job.params["invoice_id"] == "inv-twice"
    [stored] = session.scalars(select(WebhookDelivery)).all()
    assert stored.outcome == "accepted" and stored.job_ids == [job_id]
    again = _xero_post(client, [event])  # and the delivery is known from then on
    assert again.headers["Zixly-Job-Ids"] == str(job_id)
    assert len(session.scalars(select(PipelineJob)).all()) == 1


def test_xero_intent_to_receive_is_200_signed_and_401_unsigned(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    assert _xero_post(client, []).status_code == 200
    assert _xero_post(client, [], key="wrong-key").status_code == 401
    assert session.scalars(select(WebhookDelivery)).first() is None


def _hubspot_v3(body: bytes, uri: str, timestamp: str) -> dict[str, str]:
    message = b"POST" + uri.encode() + body + timestamp.encode()
    sig = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), message, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sig,
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def _deal_stage(deal: int, stage: str = "closedwon") -> dict:
    return {
        "eventId": 100 + deal,
        "subscriptionId": 7,
        "portalId": int(PORTAL),
        "occurredAt": 1764150000000 + deal,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": deal,
        "propertyName": "dealstage",
        "propertyValue": stage,
    }


def test_hubspot_deal_stage_changes_enqueue_with_a_fresh_v3_signature(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    body = json.dumps([_deal_stage(1), {**_deal_stage(2), "propertyName": "amount"}]).encode()
    now_ms = str(int(time.time() * 1000))
    response = client.post(
        "/webhook/hubspot", data=body, headers=_hubspot_v3(body, "https://hooks.example.test/webhook/hubspot", now_ms)
    )
    assert response.status_code == 202
    conforms(response)
    [job_id] = response.json["job_ids"]
    job = session.get(PipelineJob, job_id)
    assert job is not None
    assert (job.job_type, job.params["deal_id"], job.concurrency_key) == (
        "hubspot-deal-won-to-asana",
        "1",
        "hubspot:deal:1",
    )
    assert (job.params["property_name"], job.params["property_value"]) == ("dealstage", "closedwon")


def test_hubspot_rejects_a_stale_timestamp_and_a_different_uri(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    body = json.dumps([_deal_stage(3)]).encode()
    stale = str(int((time.time() - 301) * 1000))
    uri = "https://hooks.example.test/webhook/hubspot"
    assert client.post("/webhook/hubspot", data=body, headers=_hubspot_v3(body, uri, stale)).status_code == 401
    now_ms = str(int(time.time() * 1000))
    other = "https://elsewhere.example/webhook/hubspot"
    assert client.post("/webhook/hubspot", data=body, headers=_hubspot_v3(body, other, now_ms)).status_code == 401
    assert session.scalars(select(WebhookDelivery)).first() is None


def _asana_connection(session: Session, tenants: dict[str, int]) -> int:
    found = session.scalar(select(Connection.id).where(Connection.system == "asana"))
    assert found is not None
    return int(found)


def test_asana_handshake_then_signed_events(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    conn_id = _asana_connection(session, tenants)
    url = f"/webhook/asana/{conn_id}"
    # Nobody can plant a secret: a handshake without a creation in flight is refused.
    assert client.post(url, headers={"X-Hook-Secret": "attacker"}).status_code == 404
    token = pending_handshake(session, conn_id)
    assert client.post(f"{url}/wrong-token", headers={"X-Hook-Secret": "attacker"}).status_code == 404
    session.rollback()
    assert session.get(Connection, conn_id, populate_existing=True).webhook_secret_ciphertext is None  # type: ignore[union-attr]

    handshake = client.post(f"{url}/{token}", headers={"X-Hook-Secret": ASANA_SECRET})
    assert handshake.status_code == 200
    assert handshake.headers["X-Hook-Secret"] == ASANA_SECRET
    session.rollback()  # end the read snapshot: see what the app committed
    stored = session.get(Connection, conn_id, populate_existing=True)
    assert stored is not None and stored.webhook_secret_ciphertext
    assert ASANA_SECRET not in stored.webhook_secret_ciphertext  # encrypted at rest

    # The token is single use: a replayed handshake cannot replace the live webhook's secret.
    assert client.post(f"{url}/{token}", headers={"X-Hook-Secret": "attacker"}).status_code == 404

    event = {
        "user": {"gid": "9", "resource_type": "user"},
        "created_at": "2026-11-26T10:00:00.000Z",
        "action": "changed",
        "resource": {"gid": "555", "resource_type": "task"},
        "parent": None,
        "change": {"field": "completed", "action": "changed"},
    }
    body = json.dumps({"events": [event]}).encode()
    sig = hmac.new(ASANA_SECRET.encode(), body, hashlib.sha256).hexdigest()
    # Asana sends events to the target it was given (the token's URL); they are verified alike.
    headers = {"Content-Type": "application/json", "X-Hook-Signature": sig}
    response = client.post(f"{url}/{token}", data=body, headers=headers)
    assert response.status_code == 200
    conforms(response)
    [job_id] = response.json["job_ids"]
    session.rollback()
    job = session.get(PipelineJob, job_id)
    assert job is not None
    assert (job.tenant_id, job.job_type, job.concurrency_key) == (
        tenants["acme"],
        "asana-task-reconcile",
        "asana:task:555",
    )

    forged = hmac.new(b"attacker", body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hook-Signature": forged}
    assert client.post(url, data=body, headers=headers).status_code == 401
    assert client.post("/webhook/asana/999999", data=body, headers=headers).status_code == 404


def test_an_asana_handshake_token_that_expired_is_refused(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    import datetime as dt

    from db import connection_webhooks

    conn_id = _asana_connection(session, tenants)
    now = dt.datetime.now(dt.UTC)
    assert connection_webhooks.begin_creation(
        session, conn_id, resource_gid="1", state="creating", reason=None, token="late-token",
        expires_at=now - dt.timedelta(seconds=1), now=now - dt.timedelta(minutes=2),
    )  # fmt: skip
    session.commit()
    answer = client.post(f"/webhook/asana/{conn_id}/late-token", headers={"X-Hook-Secret": ASANA_SECRET})
    assert answer.status_code == 404 and "X-Hook-Secret" not in answer.headers
    session.rollback()
    assert session.get(Connection, conn_id, populate_existing=True).webhook_secret_ciphertext is None  # type: ignore[union-attr]
    from integrations.asana.hook_upkeep import HANDSHAKE_TTL

    assert dt.timedelta(minutes=2) == HANDSHAKE_TTL  # the README says so
    # A token is stored only as its SHA-256.
    row = connection_webhooks.get(session, conn_id)
    assert row is not None and row.handshake_sha256 == connection_webhooks.token_digest("late-token")


def test_log_lines_carry_the_request_id_and_never_the_body_or_secrets(
    client: FlaskClient, session: Session, tenants: dict[str, int], listener_config: Settings
) -> None:
    stream = io.StringIO()
    handler = logconfig.configure_logging(listener_config, "webhook", stream=stream)
    try:
        marker = b'{"id": 1, "note": "SENSITIVE-CUSTOMER-DATA"}'
        forged = shopify_headers(marker, secret="wrong") | {"X-Request-Id": "req-42"}
        assert client.post("/webhook/shopify", data=marker, headers=forged).status_code == 401
        good = shopify_headers(marker) | {"X-Request-Id": "req-43"}
        assert client.post("/webhook/shopify", data=marker, headers=good).status_code == 202
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    rejected = [line for line in lines if line.get("message") == "webhook signature rejected"]
    assert rejected and rejected[0]["request_id"] == "req-42"
    assert any(line.get("request_id") == "req-43" for line in lines)
    text = stream.getvalue()
    for secret in ("SENSITIVE-CUSTOMER-DATA", listener_config.shopify_client_secret.get_secret_value()):  # type: ignore[union-attr]
        assert secret not in text


def test_in_production_a_vendor_without_its_secret_is_404(listener_config: Settings, session_factory: Any) -> None:
    from webhook import create_app

    unset = {"xero_webhook_key": None, "shopify_client_secret": None, "hubspot_client_secret": None}
    bare = create_app(
        listener_config.model_copy(update={"env": "production", **unset}), session_factory=session_factory
    )
    for vendor in ("xero", "shopify", "hubspot"):
        response = bare.test_client().post(f"/webhook/{vendor}", json={"events": []})
        assert response.status_code == 404, vendor
        assert response.mimetype == "application/problem+json"


def test_outside_production_unset_secrets_verify_with_the_sandbox_keys(
    listener_config: Settings, session_factory: Any, session: Session, tenants: dict[str, int]
) -> None:
    """``make run`` needs no exported secrets: the listener checks what the sandbox signs with."""
    from integrations.providers import webhook_secret
    from webhook import create_app

    unset = {"xero_webhook_key": None, "shopify_client_secret": None, "hubspot_client_secret": None}
    dev = listener_config.model_copy(update=unset)
    client = create_app(dev, session_factory=session_factory).test_client()
    xero_key, shopify_secret = webhook_secret(dev, "xero"), webhook_secret(dev, "shopify")
    assert xero_key and shopify_secret
    assert _xero_post(client, [_xero_event("INVOICE", "inv-dev")], key=xero_key).status_code == 200
    body = json.dumps({"id": 77, "admin_graphql_api_id": "gid://shopify/Order/77"}).encode()
    shopify = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, secret=shopify_secret))
    assert shopify.status_code == 202
    # The configured test secret is no longer what verifies: a delivery signed with it is refused.
    assert _xero_post(client, [_xero_event("INVOICE", "inv-old")]).status_code == 401


def test_hubspot_signatures_cover_the_configured_webhook_url(
    listener_config: Settings, session_factory: Any, session: Session, tenants: dict[str, int]
) -> None:
    """Behind a proxy that rewrites /hooks/hs to /webhook/hubspot, HubSpot signs the outer URL."""
    from webhook import create_app

    outer = "https://edge.example.test/hooks/hs"
    client = create_app(
        listener_config.model_copy(update={"hubspot_webhook_url": outer}), session_factory=session_factory
    ).test_client()
    body = json.dumps([_deal_stage(5)]).encode()
    now_ms = str(int(time.time() * 1000))
    assert client.post("/webhook/hubspot", data=body, headers=_hubspot_v3(body, outer, now_ms)).status_code == 202
    default = "https://hooks.example.test/webhook/hubspot"
    refused = client.post("/webhook/hubspot", data=body, headers=_hubspot_v3(body, default, now_ms))
    assert refused.status_code == 401


def test_a_signed_delivery_with_unstorable_text_is_still_acknowledged(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    # A 5xx would make Xero retry forever: NULs are dropped, the org is simply unknown.
    response = _xero_post(client, [_xero_event("INVOICE", "inv-\u0000-9", tenant="org-\u0000")])
    assert response.status_code == 200
    session.rollback()
    assert session.scalars(select(WebhookDelivery.outcome)).all() == ["unmatched"]
