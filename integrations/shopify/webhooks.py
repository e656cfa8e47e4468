"""Shopify webhook and OAuth-redirect signatures, and webhook parsing.

Webhooks: base64 HMAC-SHA256 of the raw body with the app secret (https://shopify.dev/docs/apps/build/webhooks);
OAuth install/callback query ``hmac``: hex HMAC-SHA256 of the sorted ``key=value`` pairs
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.events import VendorEvent, load_json

SOURCE = "shopify"

HEADER_HMAC = "X-Shopify-Hmac-Sha256"
HEADER_TOPIC = "X-Shopify-Topic"
HEADER_SHOP = "X-Shopify-Shop-Domain"
HEADER_API_VERSION = "X-Shopify-API-Version"
HEADER_WEBHOOK_ID = "X-Shopify-Webhook-Id"
HEADER_EVENT_ID = "X-Shopify-Event-Id"
HEADER_TRIGGERED_AT = "X-Shopify-Triggered-At"

# The newer "Events" deliveries use the same names without the X- prefix (same HMAC).
_ALIASES = {
    name: name.removeprefix("X-").lower()
    for name in (
        HEADER_HMAC,
        HEADER_TOPIC,
        HEADER_SHOP,
        HEADER_API_VERSION,
        HEADER_WEBHOOK_ID,
        HEADER_EVENT_ID,
        HEADER_TRIGGERED_AT,
    )
}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also knows the un-prefixed ``shopify-*`` names."""
    wanted = {name.lower(), _ALIASES.get(name, name).lower()}
    for key, value in headers.items():
        if key.lower() in wanted:
            return value
    return None


def webhook_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(secret: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` (the X-Shopify-Hmac-Sha256 value) signs exactly ``body``."""
    if not signature:
        return False
    return hmac.compare_digest(webhook_signature(secret, body).encode(), signature.strip().encode())


QueryParams = Mapping[str, str | list[str]] | Iterable[tuple[str, str]]


def _grouped(params: QueryParams) -> dict[str, str | list[str]]:
    """Accept a mapping or ``(key, value)`` pairs (werkzeug ``args.items(multi=True)``)."""
    if isinstance(params, Mapping):
        return dict(params)
    grouped: dict[str, str | list[str]] = {}
    for key, value in params:
        if key.endswith("[]"):
            existing = grouped.setdefault(key, [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            grouped[key] = value
    return grouped


def query_message(params: QueryParams) -> str:
    """The string Shopify signs: sorted ``key=value`` pairs without ``hmac``/``signature``.

    Array parameters ``x[]`` become ``x=["v1", "v2"]``; delimiters are escaped as the
    official Python library does, so a value cannot smuggle in another pair.
    """
    pairs = []
    for key, value in _grouped(params).items():
        if key in ("hmac", "signature"):
            continue
        if key.endswith("[]"):
            key = key[:-2]
            text = json.dumps([str(v) for v in (value if isinstance(value, list) else [value])])
        else:
            text = value if isinstance(value, str) else ",".join(value)
        key = key.replace("%", "%25").replace("=", "%3D")
        pairs.append(f"{key}={text.replace('%', '%25')}".replace("&", "%26"))
    return "&".join(sorted(pairs))


def query_signature(secret: str, params: QueryParams) -> str:
    return hmac.new(secret.encode(), query_message(params).encode(), hashlib.sha256).hexdigest()


def verify_query(secret: str, params: QueryParams) -> bool:
    """Verify the ``hmac`` parameter of an install request or OAuth callback."""
    grouped = _grouped(params)
    presented = grouped.get("hmac")
    if not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(query_signature(secret, grouped).encode(), presented.lower().encode())


def valid_shop_domain(shop: str) -> bool:
    """Shop hostnames must be ``<name>.myshopify.com`` (checked before redirecting or calling)."""
    name, _, suffix = shop.partition(".")
    return suffix == "myshopify.com" and bool(name) and all(c.isalnum() or c == "-" for c in name)


# The topics Zixly takes deliveries for: orders (its workflow's trigger and their life cycle),
# customers and products, and Shopify's mandatory compliance and uninstall topics. The topic
# header is not covered by Shopify's signature, so a captured body replayed under made-up
# topics would otherwise be stored once per topic; with this list it is at most once per entry.
TOPICS = frozenset({
    "orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
    "orders/partially_fulfilled", "orders/delete", "refunds/create",
    "customers/create", "customers/update", "customers/delete",
    "products/create", "products/update", "products/delete",
    "customers/data_request", "customers/redact", "shop/redact", "app/uninstalled",
})  # fmt: skip


def dedup_key(topic: str, body: bytes) -> str:
    """The topic and a digest of the body — what Shopify's signature covers, not its headers.

    Shopify signs the body alone: its ``X-Shopify-Event-Id``/``Webhook-Id`` (and shop) headers
    could be changed on a captured delivery to pass as new. A retry carries the same body, so it
    is recognised; a body change (the resource changed) is a new event. The topic stays in the
    key because one unchanged order can be both ``orders/create`` and ``orders/paid``.
    """
    return f"shopify:{topic}:{hashlib.sha256(body).hexdigest()[:48]}"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_webhook(headers: Mapping[str, str], body: bytes) -> VendorEvent:
    """One delivery = one event; the body is the bare resource (e.g. an order).

    Raises ``ValueError`` when the topic or shop header is missing or the body is not an object.
    """
    topic = header(headers, HEADER_TOPIC)
    shop = header(headers, HEADER_SHOP)
    if not topic or not shop:
        raise ValueError("missing X-Shopify-Topic or X-Shopify-Shop-Domain")
    if topic not in TOPICS:
        raise ValueError(f"Zixly takes no deliveries for the topic {topic[:60]!r}")
    resource = load_json(body)
    if not isinstance(resource, dict):
        raise ValueError("a Shopify webhook body is a JSON object")
    event_id = header(headers, HEADER_EVENT_ID)
    webhook_id = header(headers, HEADER_WEBHOOK_ID)
    kind = topic.split("/", 1)[0].removesuffix("s")  # orders/paid -> order
    external_ids: dict[str, str] = {"shop": shop}
    if resource.get("id") is not None:
        external_ids[f"{kind}_id"] = str(resource["id"])
    if resource.get("admin_graphql_api_id"):
        external_ids["gid"] = str(resource["admin_graphql_api_id"])
    occurred_at = (
        _parse_time(header(headers, HEADER_TRIGGERED_AT))
        or _parse_time(resource.get("updated_at"))
        or datetime.now(UTC)
    )
    payload: dict[str, Any] = {
        "resource": resource,
        "webhook_id": webhook_id,
        "event_id": event_id,
        "api_version": header(headers, HEADER_API_VERSION),
    }
    return VendorEvent(
        source=SOURCE,
        event_type=topic,
        external_ids=external_ids,
        occurred_at=occurred_at,
        dedup_key=dedup_key(topic, body),
        org_id=shop,
        payload=payload,
    )
