"""The HubSpot emulator's webhooks: signed deliveries like HubSpot's, and the controls that send them.

- ``POST /hubspot/_sandbox/deals/<id>/stage`` moves a deal and sends ``deal.propertyChange``;
- ``POST /hubspot/_sandbox/contacts`` creates a contact and sends ``contact.creation``.

Deliveries carry HubSpot's v1 and v3 signatures with the app's client secret (the development
one unless ``ZIXLY_HUBSPOT_CLIENT_SECRET`` is set), to ``ZIXLY_PUBLIC_URL`` + ``/webhook/hubspot``
unless the body names a ``target``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control, vendor_signing
from sandbox.hubspot import store
from sandbox.hubspot.api import error
from sandbox.webhook_sender import deliver
from settings import Settings

control_blueprint = Blueprint("hubspot_sandbox", __name__, url_prefix="/hubspot/_sandbox")


def client_secret(settings: Settings) -> str:
    return vendor_signing.client_secret(settings, "hubspot")


def signed_headers(secret: str, target: str, body: bytes, now_ms: int | None = None) -> dict[str, str]:
    """Every signature header HubSpot sends: legacy v1 and current v3 with its timestamp."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature": vendor_signing.hubspot_webhooks.signature_v1(secret, body),
        "X-HubSpot-Signature-v3": vendor_signing.hubspot_webhooks.signature_v3(secret, "POST", target, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def send_events(events: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """POST ``events`` (one delivery) to the target, retrying like HubSpot; returns the log."""
    settings: Settings = current_app.config["ZIXLY_SETTINGS"]
    target = str(options.get("target") or settings.public_url.rstrip("/") + "/webhook/hubspot")
    secret = client_secret(settings)

    def build(attempt: int) -> tuple[bytes, dict[str, str]]:
        body = json.dumps([{**e, "attemptNumber": attempt} for e in events], separators=(",", ":")).encode()
        return body, signed_headers(secret, target, body)

    # HubSpot never retries 400/401/403/404/405; everything else (5xx, 429, timeouts) is retried.
    log: dict[str, Any] = deliver(
        target,
        build,
        retries=int(options.get("retries", 3)),
        delay_s=float(options.get("retry_delay_s", 0.2)),
        no_retry={400, 401, 403, 404, 405},
    )
    return log


def _event(subscription: str, object_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": store.next_event_id(),
        "subscriptionId": 2001 if subscription.startswith("deal") else 2002,
        "portalId": store.PORTAL_ID,
        "appId": store.APP_ID,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": int(object_id),
        "changeSource": "CRM_UI",
        **extra,
    }


@control_blueprint.post("/deals/<deal_id>/stage")
def move_deal(deal_id: str) -> ResponseReturnValue:
    """Move a deal to ``stage`` and send the signed ``deal.propertyChange`` webhook.

    Body: ``{"stage": "closedwon", "target"?, "retries"?, "duplicate"?: true}``; with
    ``duplicate`` the same eventId is sent again with another occurredAt (HubSpot does that).
    """
    options = request.get_json(force=True, silent=True) or {}
    stage = str(options.get("stage", "closedwon"))
    with control.LOCK:
        record = store.objects["deals"].get(deal_id)
        if record is None:
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        store.touch("deals", record, {"dealstage": stage})
        event = _event("deal.propertyChange", deal_id, propertyName="dealstage", propertyValue=stage)
    deliveries = [send_events([event], options)]
    if options.get("duplicate"):
        deliveries.append(send_events([{**event, "occurredAt": event["occurredAt"] + 1}], options))
    return jsonify(event=event, deliveries=deliveries)


@control_blueprint.post("/contacts")
def create_contact_event() -> ResponseReturnValue:
    """Create a contact (body ``{"properties": {...}, "target"?}``) and send ``contact.creation``."""
    options = request.get_json(force=True, silent=True) or {}
    with control.LOCK:
        record = store.put("contacts", {str(k): str(v) for k, v in (options.get("properties") or {}).items()})
        event = _event("contact.creation", record["id"], changeFlag="NEW")
    return jsonify(contact=record, event=event, deliveries=[send_events([event], options)])
