"""``POST /webhook/<vendor>``: verify the raw body, then parse, then hand over to :mod:`accept`.

The order is the point: size limit, content type, signature (over the exact bytes received),
and only then JSON. A request that fails the signature leaves nothing behind but a counter
and one log line (never its body or headers).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TypeVar

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, Response, request

from db import intake
from integrations.asana import webhooks as asana
from integrations.events import VendorEvent
from integrations.hubspot import webhooks as hubspot
from integrations.providers import webhook_secret
from integrations.shopify import webhooks as shopify
from integrations.xero import webhooks as xero
from webhook import metrics, routing
from webhook.accept import accept, answer, rejected
from webhook.body import read_body, require_json
from webhook.context import get_session, listener
from webhook.problems import Problem
from webhook.storable import MAX_INT4, cleaned

log = logging.getLogger("webhook.intake")
bp = Blueprint("vendors", __name__)
T = TypeVar("T")


def _headers() -> dict[str, str]:
    # Plain dict for the integrations' Mapping[str, str] signatures (their lookups ignore case).
    return dict(request.headers.items())


def _secret(source: str) -> str:
    """What verifies ``source``'s signatures: the setting, or the sandbox's key outside production.

    In production an unset secret means the vendor is switched off here: 404.
    """
    value = webhook_secret(listener().settings, source)
    if value is None:
        raise Problem(404, "Not Found", f"{source} webhooks are not configured on this listener")
    return value


def _body(source: str) -> bytes:
    try:
        body = read_body(listener().settings.webhook_max_bytes)
        require_json()
    except Problem as exc:
        raise rejected(source, exc) from None
    return body


def _bad_signature(source: str, body: bytes) -> Problem:
    metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="bad_signature").inc()
    log.warning(
        "webhook signature rejected",
        extra={"source": source, "body_bytes": len(body), "remote_addr": request.remote_addr},
    )
    return Problem(401, "Unauthorized", "missing or invalid signature")


def _parsed(source: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise rejected(source, Problem(400, "Bad Request", "the body is not valid JSON")) from None
    except ValueError as exc:
        raise rejected(source, Problem(400, "Bad Request", f"not a {source} delivery: {exc}")) from None


def _resolver(source: str, events: list[VendorEvent]) -> Callable[[VendorEvent], intake.OrgTenant | None]:
    """The tenant (and its switched-off workflows) of each event's org: cached, or one query."""
    wanted = [cleaned(e.org_id) for e in events if e.org_id]
    orgs = listener().orgs.resolve(get_session, source, wanted, routing.SUBJECT)
    return lambda event: orgs.get(cleaned(event.org_id)) if event.org_id else None


@bp.post("/webhook/xero")
def xero_webhook() -> Response:
    key = _secret("xero")
    body = _body("xero")
    if not xero.verify_request(key, body, _headers()):
        raise _bad_signature("xero", body)
    events = _parsed("xero", lambda: xero.parse_events(body))
    return accept("xero", events, _resolver("xero", events), body)


def _signed_uri() -> str:
    """The URL HubSpot called, as it saw it.

    ``ZIXLY_HUBSPOT_WEBHOOK_URL`` when set (a proxy that rewrites the path), otherwise the
    public base URL plus the path; the query string HubSpot sent is kept either way.
    """
    settings = listener().settings
    query = "?" + request.query_string.decode("latin-1") if request.query_string else ""
    if settings.hubspot_webhook_url:
        return settings.hubspot_webhook_url + query
    return settings.public_url.rstrip("/") + request.path + query


@bp.post("/webhook/hubspot")
def hubspot_webhook() -> Response:
    secret = _secret("hubspot")
    body = _body("hubspot")
    ok = hubspot.verify_request(
        secret, method=request.method, uri=_signed_uri(), body=body, headers=_headers(), now=listener().clock
    )
    if not ok:
        raise _bad_signature("hubspot", body)
    events = _parsed("hubspot", lambda: hubspot.parse_events(body))
    return accept("hubspot", events, _resolver("hubspot", events), body)


@bp.post("/webhook/shopify")
def shopify_webhook() -> Response:
    secret = _secret("shopify")
    body = _body("shopify")
    if not shopify.verify_webhook(secret, body, shopify.header(_headers(), shopify.HEADER_HMAC)):
        raise _bad_signature("shopify", body)
    event = _parsed("shopify", lambda: shopify.parse_webhook(_headers(), body))
    return accept("shopify", [event], _resolver("shopify", [event]), body)


def _fernet() -> Fernet:
    return Fernet(listener().settings.fernet_key())


@bp.post("/webhook/asana/<int:connection_id>")
def asana_webhook(connection_id: int) -> Response:
    """Asana: the handshake stores the secret; later deliveries are verified with it.

    A handshake is accepted only while the connection has no secret, so nobody can replace
    a live webhook's secret; the code that re-creates a webhook clears the old one first.
    """
    session = get_session()
    target = intake.hook_target(session, connection_id, "asana") if connection_id <= MAX_INT4 else None
    if target is None:
        raise Problem(404, "Not Found", "no Asana connection with this id")
    handshake = asana.handshake_secret(_headers())
    if handshake is not None:
        read_body(listener().settings.webhook_max_bytes)
        if target.secret_ciphertext:
            raise Problem(409, "Conflict", "this connection's webhook already completed its handshake")
        intake.store_webhook_secret(session, connection_id, _fernet().encrypt(handshake.encode()).decode())
        session.commit()
        log.info("asana handshake completed", extra={"connection_id": connection_id})
        response = answer("asana", [])
        response.headers.update(asana.handshake_response_headers(handshake))
        return response
    body = _body("asana")
    try:
        secret = _fernet().decrypt(target.secret_ciphertext.encode()).decode() if target.secret_ciphertext else None
    except InvalidToken:
        secret = None
    if secret is None or not asana.verify_request(secret, body, _headers()):
        raise _bad_signature("asana", body)
    events = _parsed("asana", lambda: asana.parse_events(body, org_id=target.external_org_id))
    owner = intake.OrgTenant(
        target.tenant_id, frozenset(intake.disabled_workflows(session, target.tenant_id, routing.SUBJECT))
    )
    return accept("asana", events, lambda _e: owner, body)
