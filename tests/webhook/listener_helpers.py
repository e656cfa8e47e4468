"""Shared helpers of the listener tests (signing, settings, sample bodies)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from settings import Settings

SHOPIFY_SECRET = "shopify-test-secret"
XERO_KEY = "c2FtcGxlLXhlcm8td2ViaG9vay1rZXktZm9yLXRlc3RzLW9ubHk="
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
SHOP = "acme.myshopify.com"
XERO_ORG = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
PORTAL = "62515"
VECTORS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "TEST_VECTORS.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]


def listener_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": db_url,
        "var_dir": tmp_path / "var",
        "blob_url": str(tmp_path / "blobs"),
        "public_url": "https://hooks.example.test",
        "shopify_client_id": "shopify-id",
        "shopify_client_secret": SHOPIFY_SECRET,
        "xero_client_id": "xero-id",
        "xero_client_secret": "xero-secret",
        "xero_webhook_key": XERO_KEY,
        "hubspot_client_id": "hubspot-id",
        "hubspot_client_secret": HUBSPOT_SECRET,
        "secret_key": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_headers(
    body: bytes, *, topic: str = "orders/paid", shop: str = SHOP, event_id: str = "ev-1", secret: str = SHOPIFY_SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": b64_hmac(secret, body),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-API-Version": "2026-10",
    }


def order_body(order_id: int = 820982911946154508) -> bytes:
    return json.dumps(
        {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "financial_status": "paid",
            "total_price": "12.50",
        }
    ).encode()


def pending_handshake(session: Any, connection_id: int, resource_gid: str = "1201000000000201") -> str:
    """Record a webhook creation in flight, as the runner does before ``POST /webhooks``; returns
    the single-use token its target URL carries (``/webhook/asana/<id>/<token>``). Commits."""
    import datetime as dt
    import secrets

    from db import connection_webhooks

    token = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    began = connection_webhooks.begin_creation(
        session, connection_id, resource_gid=resource_gid, state="creating", reason=None, token=token,
        expires_at=now + dt.timedelta(minutes=5), now=now,
    )  # fmt: skip
    assert began
    session.commit()
    return token
