"""Asana webhook handshake, signatures and event parsing (https://developers.asana.com/docs/webhooks-guide).

The handshake: while ``POST /webhooks`` is in flight, Asana POSTs to the target with an
``X-Hook-Secret`` header; the receiver answers 200/204 echoing it, and stores it: every later
delivery is signed with it (lowercase hex HMAC-SHA256 of the raw body in ``X-Hook-Signature``).
Asana payloads carry no tenant id, so the caller passes the org (workspace) it resolved from
the webhook/connection the delivery was addressed to.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.events import VendorEvent, load_json

SOURCE = "asana"
HEADER_SECRET = "X-Hook-Secret"  # noqa: S105 (a header name)
HEADER_SIGNATURE = "X-Hook-Signature"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def handshake_secret(headers: Mapping[str, str]) -> str | None:
    """The secret of a handshake request, or None when this is not a handshake."""
    return _header(headers, HEADER_SECRET) or None


def handshake_response_headers(secret: str) -> dict[str, str]:
    """Headers of the 200/204 answer that completes the handshake."""
    return {HEADER_SECRET: secret}


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, presented: str | None) -> bool:
    """True when ``presented`` (the X-Hook-Signature value) signs exactly ``body``."""
    if not presented:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), presented.strip().lower().encode())


def verify_request(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    return verify(secret, body, _header(headers, HEADER_SIGNATURE))


def _gid(value: object) -> str | None:
    if isinstance(value, dict) and value.get("gid") is not None:
        return str(value["gid"])
    return None


def dedup_key(event: Mapping[str, Any]) -> str:
    """(resource.gid, action, created_at, change.field, user.gid): Asana sends no delivery id."""
    change = event.get("change") if isinstance(event.get("change"), dict) else {}
    parts = (
        _gid(event.get("resource")),
        event.get("action"),
        event.get("created_at"),
        (change or {}).get("field"),
        _gid(event.get("user")),
    )
    return "asana:" + ":".join("" if p is None else str(p) for p in parts)


def parse_events(body: bytes, *, org_id: str | None) -> list[VendorEvent]:
    """Events of a delivery; a heartbeat (``{"events": []}``) gives an empty list.

    Raises ``ValueError`` when the body is not ``{"events": [ ... ]}``.
    """
    data = load_json(body)
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError('an Asana webhook body is {"events": [...]}')
    return [_event(item, org_id) for item in events]


def _event(item: dict[str, Any], org_id: str | None) -> VendorEvent:
    resource = item.get("resource") if isinstance(item.get("resource"), dict) else {}
    resource_type = str((resource or {}).get("resource_type", "unknown"))
    external_ids: dict[str, str] = {}
    if (gid := _gid(resource)) is not None:
        external_ids[f"{resource_type}_gid"] = gid
    parent = item.get("parent")
    if (parent_gid := _gid(parent)) is not None and isinstance(parent, dict):
        external_ids[f"parent_{parent.get('resource_type', 'resource')}_gid"] = parent_gid
    change = item.get("change")
    field = change.get("field") if isinstance(change, dict) else None
    event_type = f"{resource_type}.{item.get('action', 'unknown')}" + (f".{field}" if field else "")
    created = item.get("created_at")
    occurred_at = datetime.now(UTC)
    if isinstance(created, str):
        with contextlib.suppress(ValueError):
            occurred_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return VendorEvent(
        source=SOURCE,
        event_type=event_type,
        external_ids=external_ids,
        occurred_at=occurred_at,
        dedup_key=dedup_key(item),
        org_id=org_id,
        payload=item,
    )
