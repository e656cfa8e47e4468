"""The Xero emulator's webhook side: signed event deliveries and the ``/_sandbox/xero`` controls.

- ``POST /_sandbox/xero/invoices/<number>/pay`` marks the invoice PAID and sends the signed
  ``INVOICE``/``UPDATE`` event to ``target`` (default ``ZIXLY_PUBLIC_URL`` + ``/webhook/xero``);
- ``POST /_sandbox/xero/itr`` runs Intent-to-Receive: one correctly and one wrongly signed
  empty delivery, passing when the listener answers 200 then 401;
- ``POST /_sandbox/xero/organisations`` adds an organisation (``{"name", "country": AU|NZ|GB}``,
  with that country's tax rates) and ``POST /_sandbox/xero/consent`` (``{"tenant_ids": [...]}``
  or ``null``) picks the organisations the next OAuth consents connect, as a user would;
- :func:`demo_event` feeds the sandbox's demo trickle.

Bodies are compact JSON signed with :func:`sandbox.vendor_signing.xero_key`, the key the
listener verifies with; failed deliveries are retried with a compressed backoff.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.vendor_signing import xero_key, xero_webhooks
from sandbox.webhook_sender import deliver
from sandbox.xero import data
from settings import Settings

control_blueprint = Blueprint("xero_sandbox", __name__, url_prefix="/_sandbox/xero")


def _settings() -> Settings:
    settings: Settings = current_app.config["ZIXLY_SETTINGS"]
    return settings


def _target() -> str:
    body = request.get_json(silent=True) or {}
    return str(body.get("target") or _settings().public_url.rstrip("/") + "/webhook/xero")


def _signed_post(
    settings: Settings, target: str, payload: dict[str, Any], *, key: str | None = None, retries: int = 3
) -> dict[str, Any]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    key = key or xero_key(settings)
    headers = {"Content-Type": "application/json", "x-xero-signature": xero_webhooks.signature(key, body)}
    return deliver(target, lambda _attempt: (body, headers), retries=retries)


_sequence = [0]


def send_event(
    settings: Settings, org: data.Org, category: str, event_type: str, resource_id: str, target: str
) -> dict[str, Any]:
    """Send one signed event delivery, as Xero does after a change."""
    _sequence[0] += 1
    resource = "Invoices" if category == "INVOICE" else "Contacts"
    event = {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{resource}/{resource_id}",
        "resourceId": resource_id,
        # Xero's samples omit the offset; xero-webhooks.yaml says date-time, and the spec wins.
        "eventDateUtc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": org.tenant_id,
        "tenantType": "ORGANISATION",
    }
    payload = {
        "events": [event],
        "firstEventSequence": _sequence[0],
        "lastEventSequence": _sequence[0],
        "entropy": secrets.token_hex(10).upper(),
    }
    return _signed_post(settings, target, payload) | {"event": event}


@control_blueprint.post("/invoices/<number>/pay")
def pay_invoice(number: str) -> ResponseReturnValue:
    """Mark an invoice PAID and send the signed INVOICE UPDATE webhook to the listener."""
    tenant = (request.get_json(silent=True) or {}).get("tenant_id", data.DEMO_TENANT_ID)
    with data.LOCK:
        org = data.ORGS.get(tenant)
        invoice = next((i for i in org.invoices.values() if i["InvoiceNumber"] == number), None) if org else None
        if org is None or invoice is None:
            return jsonify(error=f"no invoice {number}"), 404
        if invoice["Status"] != "PAID":
            data.mark_paid(org, invoice, dt.datetime.now(dt.UTC))
    return jsonify(send_event(_settings(), org, "INVOICE", "UPDATE", invoice["InvoiceID"], _target()))


def demo_event(settings: Settings) -> dict[str, Any]:
    """One demo-trickle event: pay the oldest unpaid invoice (or raise a new one and announce it)."""
    target = settings.public_url.rstrip("/") + "/webhook/xero"
    now = dt.datetime.now(dt.UTC)
    with data.LOCK:
        org = data.ORGS[data.DEMO_TENANT_ID]
        unpaid = sorted(
            (i for i in org.invoices.values() if i["Status"] == "AUTHORISED"), key=lambda i: i["InvoiceNumber"]
        )
        if unpaid:
            invoice, event_type = unpaid[0], "UPDATE"
            data.mark_paid(org, invoice, now)
        else:
            contact = secrets.choice(list(org.contacts.values()))
            line = {"Description": "Gear hire", "Quantity": 1, "UnitAmount": 150.0, "AccountCode": "200"}
            invoice = data.build_invoice(
                org,
                {"Contact": {"ContactID": contact["ContactID"]}, "Status": "AUTHORISED", "LineItems": [line]},
                now=now,
            )
            event_type = "CREATE"
    return send_event(settings, org, "INVOICE", event_type, invoice["InvoiceID"], target)


@control_blueprint.post("/organisations")
def add_organisation() -> ResponseReturnValue:
    body = request.get_json(silent=True) or {}
    try:
        org = data.add_org(str(body.get("name") or "Sandbox organisation"), str(body.get("country") or "AU"),
                           dt.datetime.now(dt.UTC), with_demo_records=bool(body.get("with_demo_records")))  # fmt: skip
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(tenant_id=org.tenant_id, name=org.name, country=org.country, base_currency=org.base_currency)


@control_blueprint.post("/consent")
def choose_consent() -> ResponseReturnValue:
    chosen = (request.get_json(silent=True) or {}).get("tenant_ids")
    with data.LOCK:
        unknown = [t for t in chosen or [] if t not in data.ORGS]
        if unknown:
            return jsonify(error=f"no organisation {', '.join(unknown)}"), 404
        data.CONSENT[0] = list(chosen) if chosen is not None else None
    return jsonify(tenant_ids=data.consent_orgs())


@control_blueprint.post("/itr")
def intent_to_receive() -> ResponseReturnValue:
    """Xero's handshake: one correctly and one wrongly signed empty delivery; 200 then 401 passes."""
    payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": secrets.token_hex(10)}
    target = _target()
    good = _signed_post(_settings(), target, payload, retries=0)
    bad = _signed_post(_settings(), target, payload, key="not-the-" + secrets.token_hex(4), retries=0)
    good_status = [a["status"] for a in good["attempts"]]
    bad_status = [a["status"] for a in bad["attempts"]]
    passed = good_status == [200] and bad_status == [401]
    return jsonify(passed=passed, correctly_signed=good_status, incorrectly_signed=bad_status)
