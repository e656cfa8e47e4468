"""Every vector of tests/fixtures/vendor/TEST_VECTORS.json as a request to the listener.

Used by the in-process tests and by the real-gunicorn tests. The vectors' expected answers
differ in one respect only: HubSpot v2/v3 sign the URL HubSpot called
(``https://www.example.com/webhook_uri``). In process the test serves the HubSpot view at that
URL (and pins the clock for the old v3 timestamp), so they verify; through gunicorn the
listener's own URL (``/webhook/hubspot``) differs, so they are — correctly — refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from listener_helpers import SHOP

VECTOR_PUBLIC_URL = "https://www.example.com"
VECTOR_HUBSPOT_PATH = "/webhook_uri"


class Sent(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


Send = Callable[[str, str, bytes, dict[str, str], dict[str, str] | None], Sent]

# id -> (status in process, status through gunicorn)
EXPECTED: dict[str, tuple[int, int]] = {
    "hubspot-v1-docs": (202, 202),  # verified, a contact.creation: stored, no workflow
    "hubspot-v2-docs-get": (405, 405),  # webhooks are POSTs
    "hubspot-v2-docs-post": (400, 401),  # verified, but not a HubSpot event array / URL differs
    "hubspot-v1-sdk": (400, 400),  # verified, then the SDK's single-quoted body is not JSON
    "hubspot-v2-sdk": (400, 401),
    "hubspot-v3-sdk": (400, 401),  # gunicorn: the timestamp is years old
    "shopify-webhook-sdk": (202, 202),  # verified and stored; no order id, so no job
    "shopify-oauth-query-sdk": (400, 400),  # the OAuth redirect: no state, refused before the code exchange
    "shopify-oauth-query-array-sdk": (400, 400),
    "shopify-oauth-query-docs-legacy": (400, 400),
    "xero-itr-derived": (200, 200),
    "xero-itr-derived-wrongkey": (401, 401),
    "xero-contact-event-derived": (200, 200),
    "asana-heartbeat-derived": (200, 200),
    "asana-task-changed-derived": (200, 200),
}


def secrets_from_vectors(vectors: list[dict[str, Any]]) -> dict[str, str]:
    """Listener settings holding the vectors' keys (one secret per vendor in the file)."""
    by_vendor = {(v["vendor"], v["scheme"]): v["secret"] for v in vectors}
    return {
        "hubspot_client_secret": by_vendor[("hubspot", "v1")],
        "shopify_client_secret": by_vendor[("shopify", "webhook")],
        "xero_webhook_key": by_vendor[("xero", "webhook")],
        "public_url": VECTOR_PUBLIC_URL,
    }


def deliver(vector: dict[str, Any], send: Send, *, asana_connection_id: int, in_process: bool) -> Sent:
    body = (vector.get("body") or "").encode()
    json_type = {"Content-Type": "application/json"}
    vendor, scheme = vector["vendor"], vector["scheme"]
    signature = vector.get("presented") or vector.get("expected") or ""
    if vendor == "hubspot":
        headers = json_type | {vector["header"]: signature}
        if scheme in ("v1", "v2"):
            headers["X-HubSpot-Signature-Version"] = scheme
        if scheme == "v3":
            headers["X-HubSpot-Request-Timestamp"] = vector["timestamp"]
        path = VECTOR_HUBSPOT_PATH if in_process and scheme != "v1" else "/webhook/hubspot"
        return send(vector.get("method") or "POST", path, body, headers, None)
    if vendor == "shopify" and scheme == "webhook":
        headers = json_type | {
            vector["header"]: signature,
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Event-Id": "vector-1",
        }
        return send("POST", "/webhook/shopify", body, headers, None)
    if vendor == "shopify":
        params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in vector["params"].items()}
        return send("GET", "/oauth/shopify/callback", b"", {}, params | {"hmac": vector["expected"]})
    if vendor == "xero":
        return send("POST", "/webhook/xero", body, json_type | {vector["header"]: signature}, None)
    if vendor == "asana":
        path = f"/webhook/asana/{asana_connection_id}"
        return send("POST", path, body, json_type | {vector["header"]: signature}, None)
    raise AssertionError(f"no delivery for vector {vector['id']}")
