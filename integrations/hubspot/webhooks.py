"""HubSpot webhook signatures (v3, legacy v1/v2) and event parsing.

https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation.
Every check works on the raw body bytes and compares in constant time.
v3 is validated whenever its header is present; the legacy ``X-HubSpot-Signature`` is a
fallback for deliveries that carry only it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.events import VendorEvent, load_json

SOURCE = "hubspot"
MAX_AGE_S = 300  # HubSpot: reject v3 requests whose timestamp is older than 5 minutes

HEADER_V3 = "X-HubSpot-Signature-v3"
HEADER_TIMESTAMP = "X-HubSpot-Request-Timestamp"
HEADER_LEGACY = "X-HubSpot-Signature"
HEADER_VERSION = "X-HubSpot-Signature-Version"


def signature_v1(secret: str, body: bytes) -> str:
    """SHA-256 (not HMAC) of client secret + body, lowercase hex."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


def signature_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    """SHA-256 of client secret + method + URI + body, lowercase hex."""
    return hashlib.sha256(secret.encode() + method.upper().encode() + uri.encode() + body).hexdigest()


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256 over method + URI + body + timestamp, keyed by the client secret."""
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _same(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Flask/werkzeug and httpx headers are case-insensitive already; plain dicts may not be.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def verify_v3(
    secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    signature: str,
    timestamp: str,
    now: Callable[[], float] = time.time,
) -> bool:
    """True when the v3 signature matches and the timestamp is at most 5 minutes old."""
    try:
        sent_at = int(timestamp) / 1000
    except (ValueError, OverflowError):  # OverflowError: more digits than a float holds
        return False
    # A timestamp far in the future is as suspect as an old one.
    if abs(now() - sent_at) > MAX_AGE_S:
        return False
    return _same(signature_v3(secret, method, uri, body, timestamp), signature)


def verify_legacy(secret: str, *, version: str, method: str, uri: str, body: bytes, signature: str) -> bool:
    """Check an ``X-HubSpot-Signature`` of version v1 or v2 (no timestamp, no replay window)."""
    if version == "v1":
        expected = signature_v1(secret, body)
    elif version == "v2":
        expected = signature_v2(secret, method, uri, body)
    else:
        return False
    return _same(expected, signature.lower())


def verify_request(
    secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: Callable[[], float] = time.time,
    allow_legacy: bool = True,
) -> bool:
    """Verify a delivery from its headers. ``uri`` is the full public URL HubSpot called.

    v3 wins when present (a bad v3 is never rescued by a good v1); otherwise the legacy
    signature is checked if ``allow_legacy``.
    """
    v3 = _header(headers, HEADER_V3)
    if v3 is not None:
        timestamp = _header(headers, HEADER_TIMESTAMP)
        if timestamp is None:
            return False
        return verify_v3(secret, method=method, uri=uri, body=body, signature=v3, timestamp=timestamp, now=now)
    legacy = _header(headers, HEADER_LEGACY)
    if legacy is None or not allow_legacy:
        return False
    version = _header(headers, HEADER_VERSION) or "v1"
    return verify_legacy(secret, version=version, method=method, uri=uri, body=body, signature=legacy)


def dedup_key(event: Mapping[str, Any]) -> str:
    """Composite key: ``eventId`` alone is not unique; ``attemptNumber`` changes per retry."""
    parts = (
        event.get("portalId"),
        event.get("subscriptionId"),
        event.get("eventId"),
        event.get("occurredAt"),
        event.get("objectId"),
    )
    return "hubspot:" + ":".join("" if p is None else str(p) for p in parts)


def parse_events(body: bytes) -> list[VendorEvent]:
    """Turn a delivery (a JSON array of events) into normalized events, one per element.

    Raises ``ValueError`` when the body is not a JSON array of objects.
    """
    data = load_json(body)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError("a HubSpot webhook body is a JSON array of event objects")
    return [_event(item) for item in data]


def _event(item: dict[str, Any]) -> VendorEvent:
    subscription = str(item.get("subscriptionType", "unknown"))
    object_type = subscription.split(".", 1)[0]
    if object_type == "object" and item.get("objectTypeId"):
        object_type = str(item["objectTypeId"])
    external_ids = {f"{object_type}_id": str(item["objectId"])} if "objectId" in item else {}
    if "portalId" in item:
        external_ids["portal_id"] = str(item["portalId"])
    occurred_ms = item.get("occurredAt")
    try:
        occurred_at = (
            datetime.fromtimestamp(int(occurred_ms) / 1000, tz=UTC) if occurred_ms is not None else datetime.now(UTC)
        )
    except (TypeError, ValueError, OverflowError, OSError) as exc:  # a list, NaN, 1e300, year 0…
        raise ValueError("a HubSpot event's occurredAt is epoch milliseconds") from exc
    return VendorEvent(
        source=SOURCE,
        event_type=subscription,
        external_ids=external_ids,
        occurred_at=occurred_at,
        dedup_key=dedup_key(item),
        org_id=str(item["portalId"]) if "portalId" in item else None,
        payload=item,
    )
