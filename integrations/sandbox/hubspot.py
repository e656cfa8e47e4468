"""The HubSpot emulator (served under /hubspot), shaped by the vendor's OpenAPI documents.

CRM objects on the dated paths ``/crm/objects/<version>/<type>/…`` (2026-03 and 2026-09; v3
under ``/crm/v3/objects``): read, list, create, update, search, batch upsert, default
associations. Bearer auth, ``X-HubSpot-RateLimit-*`` headers and 429 past 100 calls per 10 s
per token, plus a 4 per second search budget (vendor ``hubspot-search`` in ``/_sandbox/limits``).
Webhook sender: ``POST /hubspot/_sandbox/deals/<id>/stage`` and ``…/contacts`` (creation).
"""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from integrations.hubspot import webhooks
from integrations.sandbox import control
from integrations.sandbox.oauth_server import OAuthServer, register_oauth_routes
from integrations.sandbox.webhook_sender import deliver
from settings import Settings

blueprint = Blueprint("hubspot", __name__, url_prefix="/hubspot")

PORTAL_ID = 7001234
APP_ID = 3901
# providers.get_provider uses this secret outside production when none is configured.
DEV_CLIENT_SECRET = "sandbox-secret"  # noqa: S105
VERSIONS = ("2026-03", "2026-09")
TYPES = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
ALIASES = {**{t: t for t in TYPES}, **{v: k for k, v in TYPES.items()}}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
}
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}
# HUBSPOT_DEFINED default (unlabeled) association type ids, per direction.
ASSOC_TYPE_IDS = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}

_objects: dict[str, dict[str, dict[str, Any]]] = {}
_assocs: set[tuple[str, str, str, str]] = set()
_ids = itertools.count()
_event_ids = itertools.count()

control.set_default_budgets("hubspot", [("burst", 100, 10.0)])
OAUTH = OAuthServer(
    "hubspot",
    access_ttl=1800,
    rotate_refresh=False,  # HubSpot refresh tokens are long-lived and reusable
    orgs=lambda: [str(PORTAL_ID)],
    token_extra=lambda grant: {
        "hub_id": PORTAL_ID,
        "user_id": 9001,
        "token_use": "access_token",
        "scopes": grant.scope.split(),
    },
)
# Authorize lives on app.hubspot.com (settings.hubspot_app_url = …/hubspot/app), tokens on the API host.
register_oauth_routes(
    blueprint,
    OAUTH,
    authorize="/app/oauth/authorize",
    token="/oauth/v3/token",  # noqa: S106
    revoke="/oauth/v3/token/revoke",
)
control.set_default_budgets("hubspot-search", [("search", 4, 1.0)])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _put(kind: str, props: dict[str, str], object_id: str | None = None) -> dict[str, Any]:
    object_id = object_id or str(next(_ids))
    stamp = _now()
    properties: dict[str, str | None] = {"createdate": stamp, MODIFIED[kind]: stamp, "hs_object_id": object_id}
    properties.update(props)
    record = {"id": object_id, "properties": properties, "createdAt": stamp, "updatedAt": stamp, "archived": False}
    _objects[kind][object_id] = record
    return record


def reset() -> None:
    """Restore the seeded demo portal: three companies, five contacts, four deals."""
    global _ids, _event_ids
    with control.LOCK:
        _objects.clear()
        _objects.update({kind: {} for kind in TYPES})
        _assocs.clear()
        _ids = itertools.count(51001)
        _event_ids = itertools.count(100)
        companies = [
            ("Northwind Traders", "northwind.example"),
            ("Blue Fern Studio", "bluefern.example"),
            ("Kestrel Logistics", "kestrel.example"),
        ]
        for name, domain in companies:
            _put("companies", {"name": name, "domain": domain})
        people = [
            ("alice@northwind.example", "Alice", "Nguyen", 0),
            ("bob@northwind.example", "Bob", "Okafor", 0),
            ("carla@bluefern.example", "Carla", "Meyer", 1),
            ("dev@kestrel.example", "Dev", "Patel", 2),
            ("erin@kestrel.example", "Erin", "Walsh", 2),
        ]
        company_ids = list(_objects["companies"])
        for email, first, last, company in people:
            contact = _put(
                "contacts",
                {
                    "email": email,
                    "firstname": first,
                    "lastname": last,
                    "lifecyclestage": "lead",
                    "company": companies[company][0],
                },
            )
            _associate("contacts", contact["id"], "companies", company_ids[company])
        contact_ids = list(_objects["contacts"])
        deals = [
            ("Northwind annual licence", "12000.00", "contractsent", 0, 0),
            ("Blue Fern website", "4800.00", "qualifiedtobuy", 2, 1),
            ("Kestrel fleet tracking", "23500.00", "presentationscheduled", 3, 2),
            ("Northwind onboarding", "1500.00", "closedwon", 1, 0),
        ]
        for name, amount, stage, contact_i, company_i in deals:
            deal = _put(
                "deals",
                {
                    "dealname": name,
                    "amount": amount,
                    "dealstage": stage,
                    "pipeline": "default",
                    "closedate": "2026-12-31T00:00:00.000Z",
                },
            )
            _associate("deals", deal["id"], "contacts", contact_ids[contact_i])
            _associate("deals", deal["id"], "companies", company_ids[company_i])


def _associate(from_kind: str, from_id: str, to_kind: str, to_id: str) -> None:
    _assocs.add((from_kind, from_id, to_kind, to_id))
    _assocs.add((to_kind, to_id, from_kind, from_id))  # HubSpot associations read both ways


# -- errors, auth and limits -------------------------------------------------------------------


def error(status: int, category: str, message: str) -> Response:
    """HubSpot's ``Error`` body (category, correlationId, message)."""
    response = jsonify(category=category, correlationId=str(uuid.uuid4()), message=message, status="error")
    response.status_code = status
    return response


def _rate_limit() -> Response | None:
    if "/_sandbox/" in request.path or not request.path.startswith("/hubspot/crm/"):
        return None
    token = request.headers.get("Authorization", "")
    # OAuth access tokens from the emulated authorization server, or private-app tokens (pat-…).
    if OAUTH.grant_for(token) is None and not token.startswith("Bearer pat-"):
        return error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
    verdicts = control.spend("hubspot", token)
    if request.path.endswith("/search"):
        verdicts.update(control.spend("hubspot-search", token))
    allowed, remaining, reset_in = verdicts.get("burst", (True, 100, 10.0))
    g.hubspot_limits = (remaining, reset_in)
    for name, (ok, _left, wait) in verdicts.items():
        if not ok:
            response = error(429, "RATE_LIMITS", f"You have reached your {name} limit.")
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            response.headers.update(_limit_headers(remaining if allowed else 0))
            return response
    return None


def _limit_headers(remaining: int) -> dict[str, str]:
    budget = next((b for b in control._budgets.get("hubspot", []) if b.name == "burst"), None)
    maximum, window = (budget.limit, budget.window_s) if budget else (100, 10.0)
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
    }


@blueprint.after_request
def _add_limit_headers(response: Response) -> Response:
    limits = g.get("hubspot_limits")
    if limits is not None and response.status_code != 429:
        response.headers.update(_limit_headers(limits[0]))
    return response


control.install_controls(blueprint, "hubspot", rate_limit=_rate_limit)


# -- CRM objects -------------------------------------------------------------------------------


def _kind(object_type: str) -> str | None:
    return ALIASES.get(object_type.lower())


def _find(kind: str, object_id: str, id_property: str | None) -> dict[str, Any] | None:
    if not id_property or id_property == "hs_object_id":
        return _objects[kind].get(object_id)
    wanted = object_id.lower()
    return next(
        (o for o in _objects[kind].values() if (o["properties"].get(id_property) or "").lower() == wanted), None
    )


def _listed(value: str | None) -> list[str]:
    return [p for part in request.args.getlist(value or "") for p in part.split(",") if p] if value else []


def _view(
    kind: str, record: dict[str, Any], props: list[str] | None = None, associations: list[str] | None = None
) -> dict[str, Any]:
    names = props or DEFAULT_PROPS[kind]
    body = {k: v for k, v in record.items() if k != "properties"}
    body["properties"] = {n: record["properties"].get(n) for n in names if n in record["properties"]}
    if associations:
        found: dict[str, Any] = {}
        for other in associations:
            to_kind = _kind(other)
            if to_kind is None:
                continue
            ids = sorted(t for f, i, tk, t in _assocs if f == kind and i == record["id"] and tk == to_kind)
            if ids:
                label = f"{SINGULAR[kind]}_to_{SINGULAR[to_kind]}"
                found[to_kind] = {"results": [{"id": i, "type": label} for i in ids]}
        if found:
            body["associations"] = found
    return body


def _touch(kind: str, record: dict[str, Any], props: dict[str, Any]) -> None:
    stamp = _now()
    record["properties"].update({k: (None if v is None else str(v)) for k, v in props.items()})
    record["properties"][MODIFIED[kind]] = stamp
    record["updatedAt"] = stamp


def _routes(prefix: str) -> None:
    """Register the object routes under one path prefix (a dated version or v3)."""

    def rule(suffix: str) -> str:
        return prefix + suffix

    @blueprint.route(rule("/<object_type>"), methods=["GET", "POST"], endpoint=f"{prefix}-collection")
    def collection(object_type: str, version: str = "v3") -> ResponseReturnValue:
        kind = _kind(object_type)
        if kind is None:
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        if request.method == "GET":
            limit = min(int(request.args.get("limit", 10)), 100)
            start = int(request.args.get("after", 0) or 0)
            records = list(_objects[kind].values())
            page = records[start : start + limit]
            body: dict[str, Any] = {
                "results": [_view(kind, r, _listed("properties"), _listed("associations")) for r in page]
            }
            if start + limit < len(records):
                body["paging"] = {"next": {"after": str(start + limit)}}
            return jsonify(body)
        data = request.get_json(force=True, silent=True) or {}
        props = data.get("properties")
        if not isinstance(props, dict):
            return error(400, "VALIDATION_ERROR", "properties is required")
        with control.LOCK:
            existing = _find(kind, str(props["email"]), "email") if kind == "contacts" and props.get("email") else None
            if existing is not None:
                return error(409, "CONFLICT", f"Contact already exists. Existing ID: {existing['id']}")
            record = _put(kind, {str(k): str(v) for k, v in props.items()})
            for assoc in data.get("associations") or []:
                to = assoc.get("to", {}).get("id")
                for other_kind, objects in _objects.items():
                    if to in objects and other_kind != kind:
                        _associate(kind, record["id"], other_kind, to)
                        break
        control.record_write("hubspot", f"{kind}:{record['id']}")
        return jsonify(_view(kind, record, list(props) + DEFAULT_PROPS[kind])), 201

    @blueprint.route(rule("/<object_type>/<object_id>"), methods=["GET", "PATCH"], endpoint=f"{prefix}-item")
    def item(object_type: str, object_id: str, version: str = "v3") -> ResponseReturnValue:
        kind = _kind(object_type)
        if kind is None:
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        with control.LOCK:
            record = _find(kind, object_id, request.args.get("idProperty"))
            if record is None:
                return error(404, "OBJECT_NOT_FOUND", "resource not found")
            if request.method == "GET":
                return jsonify(_view(kind, record, _listed("properties"), _listed("associations")))
            data = request.get_json(force=True, silent=True) or {}
            props = data.get("properties")
            if not isinstance(props, dict):
                return error(400, "VALIDATION_ERROR", "properties is required")
            _touch(kind, record, props)
        control.record_write("hubspot", f"{kind}:{record['id']}")
        return jsonify(_view(kind, record, list(props) + DEFAULT_PROPS[kind]))

    @blueprint.post(rule("/<object_type>/search"), endpoint=f"{prefix}-search")
    def search(object_type: str, version: str = "v3") -> ResponseReturnValue:
        from integrations.sandbox.hubspot_search import run_search

        kind = _kind(object_type)
        if kind is None:
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        data = request.get_json(force=True, silent=True) or {}
        with control.LOCK:
            outcome = run_search(list(_objects[kind].values()), data)
        if isinstance(outcome, str):
            return error(400, "VALIDATION_ERROR", outcome)
        total, page, after = outcome
        body: dict[str, Any] = {
            "total": total,
            "results": [_view(kind, r, data.get("properties") or None) for r in page],
        }
        if after is not None:
            body["paging"] = {"next": {"after": after}}
        return jsonify(body)

    @blueprint.post(rule("/<object_type>/batch/upsert"), endpoint=f"{prefix}-upsert")
    def batch_upsert(object_type: str, version: str = "v3") -> ResponseReturnValue:
        kind = _kind(object_type)
        data = request.get_json(force=True, silent=True) or {}
        inputs = data.get("inputs")
        if kind is None or not isinstance(inputs, list) or len(inputs) > 100:
            return error(400, "VALIDATION_ERROR", "inputs (at most 100) are required")
        started, results = _now(), []
        with control.LOCK:
            for entry in inputs:
                id_property = entry.get("idProperty") or "hs_object_id"
                props = {k: str(v) for k, v in (entry.get("properties") or {}).items()}
                record = _find(kind, str(entry.get("id", "")), id_property)
                new = record is None
                if record is None:
                    if id_property != "hs_object_id":
                        props.setdefault(id_property, str(entry["id"]))
                    record = _put(kind, props)
                else:
                    _touch(kind, record, props)
                control.record_write("hubspot", f"{kind}:{record['id']}")
                results.append({**_view(kind, record, list(props) + DEFAULT_PROPS[kind]), "new": new})
        return jsonify(status="COMPLETE", results=results, startedAt=started, completedAt=_now())

    @blueprint.put(
        rule("/<object_type>/<object_id>/associations/default/<to_type>/<to_id>"), endpoint=f"{prefix}-associate"
    )
    def associate(
        object_type: str, object_id: str, to_type: str, to_id: str, version: str = "v3"
    ) -> ResponseReturnValue:
        kind, to_kind = _kind(object_type), _kind(to_type)
        if kind is None or to_kind is None:
            return error(400, "VALIDATION_ERROR", "unknown object type")
        with control.LOCK:
            if object_id not in _objects[kind] or to_id not in _objects[to_kind]:
                return error(404, "OBJECT_NOT_FOUND", "resource not found")
            _associate(kind, object_id, to_kind, to_id)
        control.record_write("hubspot", f"assoc:{kind}:{object_id}:{to_kind}:{to_id}")
        stamp = _now()
        result = {
            "from": {"id": object_id},
            "to": {"id": to_id},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": ASSOC_TYPE_IDS.get((kind, to_kind), 1),
            },
        }
        return jsonify(status="COMPLETE", results=[result], startedAt=stamp, completedAt=stamp)


_routes("/crm/objects/<any('2026-03','2026-09'):version>")
_routes("/crm/v3/objects")


# -- webhook sender ----------------------------------------------------------------------------


def client_secret(settings: Settings) -> str:
    secret = settings.hubspot_client_secret
    return secret.get_secret_value() if secret is not None else DEV_CLIENT_SECRET


def signed_headers(secret: str, target: str, body: bytes, now_ms: int | None = None) -> dict[str, str]:
    """Every signature header HubSpot sends: legacy v1 and current v3 with its timestamp."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature": webhooks.signature_v1(secret, body),
        "X-HubSpot-Signature-v3": webhooks.signature_v3(secret, "POST", target, body, timestamp),
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
        "eventId": next(_event_ids),
        "subscriptionId": 2001 if subscription.startswith("deal") else 2002,
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": int(object_id),
        "changeSource": "CRM_UI",
        **extra,
    }


@blueprint.post("/_sandbox/deals/<deal_id>/stage")
def move_deal(deal_id: str) -> ResponseReturnValue:
    """Move a deal to ``stage`` and send the signed ``deal.propertyChange`` webhook.

    Body: ``{"stage": "closedwon", "target"?, "retries"?, "duplicate"?: true}``; with
    ``duplicate`` the same eventId is sent again with another occurredAt (HubSpot does that).
    """
    options = request.get_json(force=True, silent=True) or {}
    stage = str(options.get("stage", "closedwon"))
    with control.LOCK:
        record = _objects["deals"].get(deal_id)
        if record is None:
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        _touch("deals", record, {"dealstage": stage})
        event = _event("deal.propertyChange", deal_id, propertyName="dealstage", propertyValue=stage)
    deliveries = [send_events([event], options)]
    if options.get("duplicate"):
        deliveries.append(send_events([{**event, "occurredAt": event["occurredAt"] + 1}], options))
    return jsonify(event=event, deliveries=deliveries)


@blueprint.post("/_sandbox/contacts")
def create_contact_event() -> ResponseReturnValue:
    """Create a contact (body ``{"properties": {...}, "target"?}``) and send ``contact.creation``."""
    options = request.get_json(force=True, silent=True) or {}
    with control.LOCK:
        record = _put("contacts", {str(k): str(v) for k, v in (options.get("properties") or {}).items()})
        event = _event("contact.creation", record["id"], changeFlag="NEW")
    return jsonify(contact=record, event=event, deliveries=[send_events([event], options)])
