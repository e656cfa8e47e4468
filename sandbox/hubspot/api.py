"""The HubSpot emulator (served under /hubspot), shaped by the vendor's OpenAPI documents.

CRM objects on the dated paths ``/crm/objects/<version>/<type>/…`` (2026-03 and 2026-09; v3
under ``/crm/v3/objects``): read, list, create, update, search, batch upsert, default
associations. Bearer auth, ``X-HubSpot-RateLimit-*`` headers and 429 past 100 calls per 10 s
per token, plus a 4 per second search budget (vendor ``hubspot-search`` in ``/_sandbox/limits``).
Records live in :mod:`sandbox.hubspot.store`; signed webhooks in :mod:`sandbox.hubspot.events`.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control, errors
from sandbox.hubspot import store
from sandbox.hubspot.search import run_search
from sandbox.hubspot.store import ALIASES, ASSOC_TYPE_IDS, DEFAULT_PROPS, PORTAL_ID, SINGULAR
from sandbox.oauth_server import OAuthServer, register_oauth_routes

blueprint = Blueprint("hubspot", __name__, url_prefix="/hubspot")

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
def _token_error(status: int, body: dict[str, Any], grant_type: str) -> dict[str, Any]:
    """HubSpot's token errors: its Error shape with a BAD_* status (its OAuth docs), not RFC 6749's."""
    error = body.get("error")
    if error == "invalid_grant":
        bad = "BAD_REFRESH_TOKEN" if grant_type == "refresh_token" else "BAD_AUTH_CODE"
        if "redirect_uri" in str(body.get("error_description", "")):
            bad = "BAD_REDIRECT_URI"
    else:
        others = {"invalid_client": "BAD_CLIENT_ID", "unsupported_grant_type": "BAD_GRANT_TYPE"}
        bad = others.get(str(error), "BAD_REQUEST")
    message = str(body.get("error_description") or bad.replace("_", " ").lower())
    category = "INVALID_AUTHENTICATION" if status == 401 else "VALIDATION_ERROR"
    return {"status": bad, "message": message, "correlationId": str(uuid.uuid4()), "category": category}


register_oauth_routes(
    blueprint,
    OAUTH,
    authorize="/app/oauth/authorize",
    token="/oauth/v3/token",  # noqa: S106
    revoke="/oauth/v3/token/revoke",
    token_error=_token_error,
)
control.set_default_budgets("hubspot-search", [("search", 4, 1.0)])


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
_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}
errors.install(
    blueprint,
    lambda status, message: error(
        status, _CATEGORIES.get(status, "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR"), message
    ),
)


# -- CRM objects -------------------------------------------------------------------------------


def _kind(object_type: str) -> str | None:
    return ALIASES.get(object_type.lower())


def _find(kind: str, object_id: str, id_property: str | None) -> dict[str, Any] | None:
    if not id_property or id_property == "hs_object_id":
        return store.objects[kind].get(object_id)
    wanted = object_id.lower()
    return next(
        (o for o in store.objects[kind].values() if (o["properties"].get(id_property) or "").lower() == wanted), None
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
            ids = sorted(t for f, i, tk, t in store.assocs if f == kind and i == record["id"] and tk == to_kind)
            if ids:
                label = f"{SINGULAR[kind]}_to_{SINGULAR[to_kind]}"
                found[to_kind] = {"results": [{"id": i, "type": label} for i in ids]}
        if found:
            body["associations"] = found
    return body


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
            limit = min(request.args.get("limit", 10, type=int), 100)
            start = request.args.get("after", 0, type=int)
            if limit < 1 or start < 0:
                return error(400, "VALIDATION_ERROR", "limit must be positive and after a paging cursor")
            records = list(store.objects[kind].values())
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
            record = store.put(kind, {str(k): str(v) for k, v in props.items()})
            for assoc in data.get("associations") or []:
                to = assoc.get("to", {}).get("id")
                for other_kind, objects in store.objects.items():
                    if to in objects and other_kind != kind:
                        store.associate(kind, record["id"], other_kind, to)
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
            store.touch(kind, record, props)
        control.record_write("hubspot", f"{kind}:{record['id']}")
        return jsonify(_view(kind, record, list(props) + DEFAULT_PROPS[kind]))

    @blueprint.post(rule("/<object_type>/search"), endpoint=f"{prefix}-search")
    def search(object_type: str, version: str = "v3") -> ResponseReturnValue:
        kind = _kind(object_type)
        if kind is None:
            return error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        data = request.get_json(force=True, silent=True) or {}
        with control.LOCK:
            outcome = run_search(list(store.objects[kind].values()), data)
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
        started, results = store.now(), []
        with control.LOCK:
            for entry in inputs:
                id_property = entry.get("idProperty") or "hs_object_id"
                props = {k: str(v) for k, v in (entry.get("properties") or {}).items()}
                record = _find(kind, str(entry.get("id", "")), id_property)
                new = record is None
                if record is None:
                    if id_property != "hs_object_id":
                        props.setdefault(id_property, str(entry["id"]))
                    record = store.put(kind, props)
                else:
                    store.touch(kind, record, props)
                control.record_write("hubspot", f"{kind}:{record['id']}")
                results.append({**_view(kind, record, list(props) + DEFAULT_PROPS[kind]), "new": new})
        return jsonify(status="COMPLETE", results=results, startedAt=started, completedAt=store.now())

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
            if object_id not in store.objects[kind] or to_id not in store.objects[to_kind]:
                return error(404, "OBJECT_NOT_FOUND", "resource not found")
            store.associate(kind, object_id, to_kind, to_id)
        control.record_write("hubspot", f"assoc:{kind}:{object_id}:{to_kind}:{to_id}")
        stamp = store.now()
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
