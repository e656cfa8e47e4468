"""Vendor deliveries served straight from the ASGI front (``webhook.direct``) answer as the Flask
view does — same statuses, bodies, headers, rows and metrics — on both databases, and a dead
pooled connection is retried on a fresh one there too (real PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask
from listener_helpers import SHOP, listener_settings, order_body, shopify_headers
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, Tenant, WebhookDelivery
from webhook import SECURITY_HEADERS, create_app
from webhook.direct import DirectDeliveries


def _scope(path: str, headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 3000),
        "client": ("127.0.0.1", 5555),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
    }


def _direct(app: Flask, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    direct = DirectDeliveries(app)
    scope = _scope(path, headers)
    assert direct.serves(scope)
    status, raw_headers, content = direct(scope, body)
    return status, {k.decode(): v.decode() for k, v in raw_headers}, content


def test_the_direct_path_serves_only_app_wide_vendor_posts(app: Flask) -> None:
    direct = DirectDeliveries(app)
    assert direct.serves(_scope("/webhook/shopify", {}))
    assert direct.serves(_scope("/webhook/xero", {}))
    assert not direct.serves(_scope("/webhook/shopify", {}, method="GET"))
    assert not direct.serves(_scope("/webhook/asana/1", {}))  # per-connection: Flask
    assert not direct.serves(_scope("/webhook/jobs", {}))
    assert not direct.serves(_scope("/health", {}, method="GET"))


def test_direct_answers_match_flask(app: Flask, tenants: dict[str, int], session: Session) -> None:
    client = app.test_client()

    def cases(tag: str) -> list[tuple[str, bytes, dict[str, str]]]:
        good = order_body({"flask": 100, "direct": 200}[tag])
        bad_json = b"{not json"
        return [
            ("accepted", good, shopify_headers(good, event_id=f"{tag}-1")),
            ("duplicate", good, shopify_headers(good, event_id=f"{tag}-2")),
            ("bad signature", good, {**shopify_headers(good), "X-Shopify-Hmac-Sha256": "AAAA"}),
            ("wrong type", good, {**shopify_headers(good), "Content-Type": "text/plain"}),
            ("bad json", bad_json, shopify_headers(bad_json)),
            ("unknown shop", good + b" ", shopify_headers(good + b" ", shop="nobody.myshopify.com")),
        ]

    flask_answers = []
    for name, body, headers in cases("flask"):
        r = client.post("/webhook/shopify", data=body, headers=headers)
        flask_answers.append((name, r.status_code, r.headers.get("Content-Type"), _shape(r.data)))
    direct_answers = []
    for name, body, headers in cases("direct"):
        status, got, content = _direct(app, "/webhook/shopify", body, headers)
        direct_answers.append((name, status, got.get("content-type"), _shape(content)))
        assert all(got[k.lower()] == v for k, v in SECURITY_HEADERS.items())
        assert len(got["x-request-id"]) == 16
    assert direct_answers == flask_answers
    assert [a[1] for a in direct_answers] == [202, 200, 401, 415, 400, 202]

    session.rollback()
    stored = session.scalars(select(WebhookDelivery.outcome).order_by(WebhookDelivery.id)).all()
    assert stored == ["accepted", "unmatched"] * 2  # per path: the delivery and the unknown shop's
    assert session.scalar(select(func.count()).select_from(PipelineJob)) == 2


def _shape(content: bytes) -> object:
    """The answer's body with the ids (which differ between the two runs) blanked."""
    if not content:
        return None
    data = json.loads(content)
    if isinstance(data, dict) and "job_ids" in data:
        data["job_ids"] = len(data["job_ids"])
    return data


def test_a_request_id_given_is_echoed(app: Flask, tenants: dict[str, int]) -> None:
    body = order_body(7)
    headers = shopify_headers(body) | {"X-Request-Id": "vendor-req-1"}
    status, got, _ = _direct(app, "/webhook/shopify", body, headers)
    assert status == 202 and got["x-request-id"] == "vendor-req-1"


def test_a_dead_pooled_connection_is_retried_on_a_fresh_one(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        session.add(Connection(tenant_id=tenant.id, system="shopify", external_org_id=SHOP))
        session.commit()
    app = create_app(listener_settings(pg_url, tmp_path))  # its own pool, no pre-ping: as in production
    first = order_body(1)
    assert _direct(app, "/webhook/shopify", first, shopify_headers(first))[0] == 202  # pool and org cache warm
    with engine.connect() as conn:  # what a database restart does to the pooled connection
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert killed >= 1
    # The org is cached: the first statement on the dead connection is the rate-limit upsert,
    # run on the driver connection (db.intake), and is still recognised as a disconnect.
    second = order_body(2)
    status, _, content = _direct(app, "/webhook/shopify", second, shopify_headers(second))
    assert status == 202, content
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
        assert session.scalar(select(func.count()).select_from(PipelineJob)) == 2
    engine.dispose()
