"""The Xero emulator (served under ``/xero``), after Xero's Accounting API docs and OpenAPI document.

- OAuth: ``/xero/login/identity/connect/authorize``, ``/xero/identity/connect/token`` and
  ``/connect/revocation`` (rotating refresh tokens, a used one answering the same new tokens for
  30 minutes; 30-minute access tokens);
- identity: ``GET /xero/Connections``, ``DELETE /xero/Connections/<id>`` (either case);
- accounting: ``/xero/api.xro/2.0/Invoices[/<id>]`` (tax computed per line as Xero does, see
  :mod:`sandbox.xero.tax`), ``/Contacts[/<id>]``, ``/TaxRates[/<TaxType>]`` and ``/Organisation``
  with the envelope, ``/Date()/`` dates, ``If-Modified-Since`` (ISO 8601 or RFC 1123),
  ``page``/``pageSize``, ``where``,
  ``Idempotency-Key`` replay, ``xero-tenant-id`` and ``Accept: application/json`` checks;
- limits: 60/minute and 5,000/day per tenant, 10,000/minute per app, with the
  ``X-*Limit-Remaining`` headers, ``Retry-After`` and ``X-Rate-Limit-Problem`` on 429;
- ``/_sandbox/xero/…`` (:mod:`sandbox.xero.hooks`): pay an invoice, which sends the
  signed webhook; run Intent-to-Receive; the demo trickle's ``demo_event``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control, errors
from sandbox.oauth_server import Grant, OAuthServer, register_oauth_routes
from sandbox.xero import data
from sandbox.xero.hooks import control_blueprint, demo_event, send_event

VENDOR = "xero"
API = "/api.xro/2.0"
MAX_PAGE_SIZE = 1000

blueprint = Blueprint("xero", __name__, url_prefix="/xero")
# Responses to writes, by (tenant, Idempotency-Key): a retried write is answered, not repeated.
_REPLAYS: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}


def _id_token(grant: Grant) -> dict[str, Any]:
    return {"id_token": "sandbox." + secrets.token_urlsafe(16) + ".jwt"}


# Refresh tokens rotate; a used one still works for 30 minutes (Xero's grace for lost answers).
oauth = OAuthServer(
    VENDOR,
    access_ttl=1800,
    rotate_refresh=True,
    refresh_grace_s=1800.0,
    orgs=data.consent_orgs,
    token_extra=_id_token,
)
register_oauth_routes(
    blueprint,
    oauth,
    authorize="/login/identity/connect/authorize",
    token="/identity/connect/token",  # noqa: S106 (a path)
    revoke="/identity/connect/revocation",
)
# Per tenant: 60 calls a minute and 5,000 a day; per app: 10,000 a minute (Xero's API rate limits).
APP_BUDGET = "xero:app"
LIMIT_HEADERS = {
    "minute": "X-MinLimit-Remaining",
    "day": "X-DayLimit-Remaining",
    "appminute": "X-AppMinLimit-Remaining",
}
control.set_default_budgets(VENDOR, [("minute", 60, 60.0), ("day", 5000, 86400.0)])
control.set_default_budgets(APP_BUDGET, [("appminute", 10000, 60.0)])


def reset() -> None:
    data.seed()
    oauth.reset()
    _REPLAYS.clear()


# -- cross-cutting: auth, tenant, limits ------------------------------------------------------


def _problem(status: int, message: str, error_type: str = "ValidationException") -> Response:
    response = jsonify({"ErrorNumber": 10 if status == 400 else status, "Type": error_type, "Message": message})
    response.status_code = status
    return response


def _rate_limit() -> Response | None:
    if not request.path.startswith(f"/xero{API}"):
        return None
    spent = control.spend(VENDOR, request.headers.get("xero-tenant-id", "-"))
    spent |= control.spend(APP_BUDGET, "app")
    g.xero_limits = {header: spent[name][1] for name, header in LIMIT_HEADERS.items() if name in spent}
    for name, (allowed, _, reset_in) in spent.items():
        if not allowed:
            response = _problem(429, f"Rate limit exceeded ({name})", "RateLimitExceeded")
            response.headers["Retry-After"] = str(max(1, int(reset_in + 0.999)))
            response.headers["X-Rate-Limit-Problem"] = name
            return response
    return None


control.install_controls(blueprint, VENDOR, _rate_limit)

# Xero's error ``Type`` per status (its Error schema); the identity endpoints use OAuth's shape.
_ERROR_TYPES = {
    400: "ValidationException",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    429: "RateLimitExceeded",
}


def _error_answer(status: int, message: str) -> Response:
    if "/identity/" in request.path:
        response = jsonify(error="invalid_request" if status < 500 else "server_error", error_description=message)
        response.status_code = status
        return response
    return _problem(status, message, _ERROR_TYPES.get(status, "ValidationException" if status < 500 else "Error"))


errors.install(blueprint, _error_answer)


@blueprint.after_request
def _limit_headers(response: Response) -> Response:
    for name, value in (g.get("xero_limits") or {}).items():
        response.headers[name] = str(value)
    return response


def _org() -> data.Org | Response:
    """The organisation the call is for, after the token, tenant and Accept checks."""
    grant = oauth.grant_for(request.headers.get("Authorization"))
    if grant is None:
        return _problem(401, "AuthenticationUnsuccessful", "Unauthorized")
    tenant = request.headers.get("xero-tenant-id")
    if not tenant:
        return _problem(400, "xero-tenant-id header is required")
    if tenant not in grant.orgs or tenant not in data.ORGS:
        return _problem(403, "AuthorizationUnsuccessful", "Forbidden")
    if "application/json" not in request.headers.get("Accept", ""):
        # Xero answers XML by default; clients must ask for JSON.
        return Response("<Response><Status>XML is not emulated</Status></Response>", 406, mimetype="text/xml")
    return data.ORGS[tenant]


def _envelope(key: str, items: list[dict[str, Any]], **extra: Any) -> Response:
    now = dt.datetime.now(dt.UTC)
    body: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "Zixly sandbox",
        "DateTimeUTC": data.ms_date(now),
    }
    body |= extra
    body[key] = items
    return jsonify(body)


# -- identity ---------------------------------------------------------------------------------


# The identity spec and Xero's SDK say /Connections; Xero's docs say /connections. Both work.
@blueprint.get("/Connections")
@blueprint.get("/connections")
def connections() -> ResponseReturnValue:
    grant = oauth.grant_for(request.headers.get("Authorization"))
    if grant is None:
        return _problem(401, "Unauthorized", "Unauthorized")
    # Real responses carry no offset; the spec says date-time (RFC 3339), and the spec wins.
    created = dt.datetime.fromtimestamp(grant.created_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    auth_event = request.args.get("authEventId")
    items = [
        {
            "id": str(uuid.uuid5(uuid.UUID(grant.id), tenant)),
            "authEventId": grant.id,
            "tenantId": tenant,
            "tenantType": "ORGANISATION",
            "tenantName": data.ORGS[tenant].name,
            "createdDateUtc": created,
            "updatedDateUtc": created,
        }
        for tenant in grant.orgs
        if tenant in data.ORGS
    ]
    return jsonify([c for c in items if auth_event in (None, c["authEventId"])])


@blueprint.delete("/Connections/<connection_id>")
@blueprint.delete("/connections/<connection_id>")
def delete_connection(connection_id: str) -> ResponseReturnValue:
    grant = oauth.grant_for(request.headers.get("Authorization"))
    if grant is None:
        return _problem(401, "Unauthorized", "Unauthorized")
    for tenant in list(grant.orgs):
        if str(uuid.uuid5(uuid.UUID(grant.id), tenant)) == connection_id:
            grant.orgs.remove(tenant)
            return Response(status=204)
    return _problem(404, f"Connection {connection_id} not found", "NotFound")


# -- reading ----------------------------------------------------------------------------------

_WHERE = re.compile(r'([\w.]+)\s*==\s*(?:guid\()?"([^"]*)"\)?')


def _matches_where(record: dict[str, Any], where: str | None) -> bool:
    """The ``Field=="value"`` (AND-ed) subset of Xero's where filter."""
    if not where:
        return True
    for path, expected in _WHERE.findall(where):
        value: Any = record
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if str(value or "").lower() != expected.lower():
            return False
    return True


class _BadHeader(ValueError):
    pass


def _modified_since() -> dt.datetime | None:
    """The header as ISO 8601 (what Xero's SDKs send) or RFC 1123 (HTTP's own format; Xero takes both)."""
    header = request.headers.get("If-Modified-Since", "").strip()
    if not header:
        return None
    try:
        when = dt.datetime.fromisoformat(header.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            raise _BadHeader(f"If-Modified-Since is not a date: {header[:60]}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _listing(org: data.Org, key: str, records: list[dict[str, Any]], id_field: str) -> Response:
    try:
        since = _modified_since()
    except _BadHeader as exc:
        return _problem(400, str(exc))
    if since is not None:
        # Accurate to the second, as Xero documents.
        since = since.replace(microsecond=0)
        records = [r for r in records if org.updated[r[id_field]].replace(microsecond=0) >= since]
    records = [r for r in records if _matches_where(r, request.args.get("where"))]
    if ids := request.args.get("IDs"):
        wanted = {i.strip().lower() for i in ids.split(",")}
        records = [r for r in records if r[id_field].lower() in wanted]
    records.sort(key=lambda r: (org.updated[r[id_field]], r[id_field]))
    if "page" not in request.args:
        return _envelope(key, records)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    size = min(MAX_PAGE_SIZE, max(1, request.args.get("pageSize", 100, type=int) or 100))
    count = len(records)
    pagination = {"page": page, "pageSize": size, "pageCount": max(1, -(-count // size)), "itemCount": count}
    return _envelope(key, records[(page - 1) * size : page * size], pagination=pagination)


@blueprint.get(f"{API}/Invoices")
def list_invoices() -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        records = list(org.invoices.values())
        if numbers := request.args.get("InvoiceNumbers"):
            records = [r for r in records if r["InvoiceNumber"] in numbers.split(",")]
        if statuses := request.args.get("Statuses"):
            records = [r for r in records if r["Status"] in statuses.split(",")]
        if contacts := request.args.get("ContactIDs"):
            records = [r for r in records if r["Contact"]["ContactID"] in contacts.split(",")]
        return _listing(org, "Invoices", records, "InvoiceID")


@blueprint.get(f"{API}/Invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        # Live Xero also accepts an InvoiceNumber here; the spec says a UUID, and the spec wins.
        found = org.invoices.get(invoice_id)
        if found is None:
            return _problem(404, f"Invoice {invoice_id} not found", "NotFound")
        return _envelope("Invoices", [found])


@blueprint.get(f"{API}/Contacts")
def list_contacts() -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        records = list(org.contacts.values())
        if term := request.args.get("searchTerm", "").lower():
            fields = ("Name", "FirstName", "LastName", "EmailAddress", "ContactNumber")
            records = [r for r in records if any(term in str(r.get(f, "")).lower() for f in fields)]
        return _listing(org, "Contacts", records, "ContactID")


@blueprint.get(f"{API}/Contacts/<contact_id>")
def get_contact(contact_id: str) -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        found = org.contacts.get(contact_id)
        if found is None:
            return _problem(404, f"Contact {contact_id} not found", "NotFound")
        return _envelope("Contacts", [found])


@blueprint.get(f"{API}/TaxRates")
def list_tax_rates() -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        records = [r for r in org.tax_rates if _matches_where(r, request.args.get("where"))]
        return _envelope("TaxRates", records)


@blueprint.get(f"{API}/TaxRates/<tax_type>")
def get_tax_rate(tax_type: str) -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        return _envelope("TaxRates", [r for r in org.tax_rates if r["TaxType"] == tax_type.upper()])


@blueprint.get(f"{API}/Organisation")
def get_organisation() -> ResponseReturnValue:
    org = _org()
    if isinstance(org, Response):
        return org
    with data.LOCK:
        return _envelope("Organisations", [data.organisation(org)])


# -- writing ----------------------------------------------------------------------------------


def _write(key: str, apply: Callable[[data.Org, dict[str, Any], dt.datetime], dict[str, Any]]) -> ResponseReturnValue:
    """Create records from ``{key: [...]}``, replaying an earlier answer for a reused Idempotency-Key."""
    org = _org()
    if isinstance(org, Response):
        return org
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        return _problem(400, f"The request body must be {{'{key}': [...]}}")
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and len(idem) > 128:
        return _problem(400, "Idempotency-Key is longer than 128 characters")
    with data.LOCK:
        if idem is not None and (org.tenant_id, idem) in _REPLAYS:
            status, payload = _REPLAYS[(org.tenant_id, idem)]
            return jsonify(payload), status
        created: list[dict[str, Any]] = []
        now = dt.datetime.now(dt.UTC)
        try:
            for item in body[key]:
                created.append(apply(org, item, now))
        except ValueError as exc:
            status, payload = (
                400,
                {
                    "ErrorNumber": 10,
                    "Type": "ValidationException",
                    "Message": "A validation exception occurred",
                    "Elements": [{"ValidationErrors": [{"Message": m} for m in getattr(exc, "messages", [str(exc)])]}],
                },
            )
        else:
            response = _envelope(key, created)
            status, payload = 200, json.loads(response.get_data())
            for record in created:
                natural = record.get("InvoiceNumber") or record.get("Name")
                control.record_write(VENDOR, idem or f"{request.method} {key} {natural}")
        if idem is not None:
            _REPLAYS[(org.tenant_id, idem)] = (status, payload)
    return jsonify(payload), status


def _create_invoice(org: data.Org, item: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return data.build_invoice(org, item, now=now)


@blueprint.put(f"{API}/Invoices")
def create_invoices() -> ResponseReturnValue:
    return _write("Invoices", _create_invoice)


@blueprint.put(f"{API}/Contacts")
def create_contacts() -> ResponseReturnValue:
    return _write("Contacts", data.new_contact)


__all__ = ["blueprint", "control_blueprint", "demo_event", "reset", "send_event"]
