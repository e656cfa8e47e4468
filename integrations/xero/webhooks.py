"""Xero webhook signatures, the Intent-to-Receive handshake and event parsing.

https://developer.xero.com/documentation/webhooks/configuring-your-server

Xero signs the raw body with HMAC-SHA256 keyed by the app's webhook key — the key *string's*
UTF-8 bytes, never base64-decoded — and sends the base64 digest in ``x-xero-signature``. The
receiver answers 200 (empty body) to a correctly signed request and 401 otherwise. The
Intent-to-Receive handshake is nothing more than that rule applied to deliveries whose
``events`` list is empty, some signed correctly and some not, so a listener that verifies
every request before looking at it passes ITR without a special case; :func:`is_intent_to_receive`
only lets it skip enqueueing.

One delivery may carry events for several organisations (tenants): each event names its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from integrations.events import VendorEvent, load_json
from settings import Settings

SOURCE = "xero"
HEADER_SIGNATURE = "x-xero-signature"
RESOURCE_ID_NAMES = {"INVOICE": "invoice_id", "CONTACT": "contact_id", "CREDITNOTE": "credit_note_id"}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def signature(key: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key as UTF-8, body)): what Xero puts in ``x-xero-signature``."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def verify(key: str, body: bytes, presented: str | None) -> bool:
    """True when ``presented`` signs exactly ``body`` (constant-time compare)."""
    if not presented:
        return False
    return hmac.compare_digest(signature(key, body).encode(), presented.strip().encode())


def verify_request(key: str, body: bytes, headers: Mapping[str, str]) -> bool:
    return verify(key, body, _header(headers, HEADER_SIGNATURE))


def _payload(body: bytes) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ValueError('a Xero webhook body is {"events": [...], ...}')
    if not all(isinstance(e, dict) for e in data["events"]):
        raise ValueError("every Xero webhook event is an object")
    return data


def is_intent_to_receive(body: bytes) -> bool:
    """An (already verified) delivery without events: answer 200 and enqueue nothing."""
    return not _payload(body)["events"]


def dedup_key(event: Mapping[str, Any]) -> str:
    """(tenantId, eventCategory, resourceId, eventType, eventDateUtc): Xero sends no delivery id."""
    parts = ("tenantId", "eventCategory", "resourceId", "eventType", "eventDateUtc")
    return "xero:" + ":".join(str(event.get(p, "")) for p in parts)


def parse_events(body: bytes) -> list[VendorEvent]:
    """The delivery's events, normalized; ``ValueError`` when the body is not Xero's shape.

    ``event_type`` reads ``invoice.update``, ``contact.create``, …; ``org_id`` is the event's
    ``tenantId`` (the Xero organisation), which the listener resolves to a Zixly tenant.
    """
    return [_event(item) for item in _payload(body)["events"]]


def _event(item: dict[str, Any]) -> VendorEvent:
    category = str(item.get("eventCategory", "UNKNOWN")).upper()
    event_type = f"{category.lower()}.{str(item.get('eventType', 'unknown')).lower()}"
    external_ids: dict[str, str] = {}
    if item.get("resourceId"):
        external_ids[RESOURCE_ID_NAMES.get(category, "resource_id")] = str(item["resourceId"])
    try:
        occurred_at = datetime.fromisoformat(str(item["eventDateUtc"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise ValueError("a Xero webhook event needs an ISO eventDateUtc") from exc
    tenant = item.get("tenantId")
    return VendorEvent(
        source=SOURCE,
        event_type=event_type,
        external_ids=external_ids,
        occurred_at=occurred_at,  # naive in Xero's payloads: VendorEvent reads it as UTC
        dedup_key=dedup_key(item),
        org_id=str(tenant) if tenant else None,
        payload=item,
    )


# In development and tests the sandbox and the listener share this key when
# ZIXLY_XERO_WEBHOOK_KEY is unset; production refuses to start without the real one.
DEV_WEBHOOK_KEY = "zixly-sandbox-xero-webhook-key"


def webhook_key(settings: Settings) -> str | None:
    """The key deliveries are signed with: the setting, or the sandbox key outside production."""
    if settings.xero_webhook_key is not None:
        return settings.xero_webhook_key.get_secret_value()
    return None if settings.env == "production" else DEV_WEBHOOK_KEY
