"""``POST /webhook/<vendor>``: verify the raw body, then parse, then hand over to :mod:`accept`.

One route per registered vendor, made from its record when the app registers this blueprint:
``/webhook/<system>`` for vendors with one app-wide secret, ``/webhook/<system>/<connection_id>``
(and ``…/<connection_id>/<token>``, the target of a webhook Zixly creates) for those whose
secret each connection receives in a handshake. The order is the point: size
limit, content type, signature (over the exact bytes received), and only then JSON. A request
that fails the signature leaves nothing behind but a counter and one log line (never its body
or headers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from db import connection_webhooks, intake
from integrations.events import VendorEvent
from integrations.registry import vendors
from integrations.tokens import TokenStore, token_store
from integrations.vendor import Delivery, Vendor
from webhook import metrics, routing
from webhook.accept import accept, answer, rejected
from webhook.body import read_body, require_json
from webhook.context import get_session, listener
from webhook.problems import Problem
from webhook.storable import MAX_INT4, cleaned

log = logging.getLogger("webhook.intake")
bp = Blueprint("vendors", __name__)
T = TypeVar("T")


def webhook_path(record: Vendor[Any]) -> str:
    """The route of the vendor's deliveries (Flask syntax)."""
    if record.webhooks.per_connection:
        return f"/webhook/{record.system}/<int:connection_id>"
    return f"/webhook/{record.system}"


@bp.record
def _vendor_routes(state: BlueprintSetupState) -> None:
    """One route per registered vendor, named ``vendors.<system>_webhook``.

    A per-connection vendor also gets ``…/<connection_id>/<token>``: the target URL of a
    webhook Zixly creates, whose single-use token alone lets that creation's handshake in.
    """
    for record in vendors():
        view = _per_connection_view(record) if record.webhooks.per_connection else _app_wide_view(record)
        state.add_url_rule(webhook_path(record), f"{record.system}_webhook", view, methods=["POST"])
        if record.webhooks.per_connection:
            path = webhook_path(record) + "/<token>"
            state.add_url_rule(path, f"{record.system}_webhook_created", view, methods=["POST"])


@dataclass(frozen=True)
class Inbound:
    """A delivery's request line and headers, from Flask or straight from the ASGI front.

    ``headers`` is a plain dict for the integrations' ``Mapping[str, str]`` signatures (their
    lookups ignore case); ``mimetype`` is the Content-Type without parameters, lower case.
    """

    method: str
    path: str
    query_string: bytes
    headers: dict[str, str]
    mimetype: str
    remote_addr: str | None


def flask_inbound() -> Inbound:
    return Inbound(
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        headers=dict(request.headers.items()),
        mimetype=request.mimetype,
        remote_addr=request.remote_addr,
    )


def _delivery(inbound: Inbound, body: bytes, signed_url: str | None) -> Delivery:
    """The request as the vendor sent it; ``signed_url`` overrides the URL it was sent to."""
    settings = listener().settings
    query = "?" + inbound.query_string.decode("latin-1") if inbound.query_string else ""
    url = (signed_url or settings.public_url.rstrip("/") + inbound.path) + query
    return Delivery(body=body, headers=inbound.headers, method=inbound.method, signed_url=url, now=listener().clock)


def _flask_body(source: str) -> bytes:
    try:
        return read_body(listener().settings.webhook_max_bytes)
    except Problem as exc:
        raise rejected(source, exc) from None


def _require_json(source: str, inbound: Inbound) -> None:
    try:
        require_json(inbound.mimetype)
    except Problem as exc:
        raise rejected(source, exc) from None


def _bad_signature(source: str, body: bytes, inbound: Inbound) -> Problem:
    metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="bad_signature").inc()
    log.warning(
        "webhook signature rejected",
        extra={"source": source, "body_bytes": len(body), "remote_addr": inbound.remote_addr},
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


def app_wide_delivery(record: Vendor[Any], inbound: Inbound, read: Callable[[], bytes]) -> Response:
    """One delivery to ``/webhook/<system>``: the order is 404, size, 415, signature, then parse.

    Served by Flask (``_app_wide_view``) or straight from the ASGI front (``webhook.direct``),
    whose body is already complete and within the size limit.
    """
    source, hooks = record.system, record.webhooks
    settings = listener().settings
    # In production an unset secret means the vendor is switched off here: 404.
    secret = hooks.secret(settings) if hooks.secret is not None else None
    if secret is None:
        raise Problem(404, "Not Found", f"{source} webhooks are not configured on this listener")
    body = read()
    _require_json(source, inbound)
    delivery = _delivery(inbound, body, hooks.signed_url(settings))
    if not hooks.verify(secret, delivery):
        raise _bad_signature(source, body, inbound)
    events = _parsed(source, lambda: hooks.parse(delivery, None))
    return accept(source, events, _resolver(source, events), body, inbound.headers)


def _app_wide_view(record: Vendor[Any]) -> Callable[[], Response]:
    def view() -> Response:
        return app_wide_delivery(record, flask_inbound(), lambda: _flask_body(record.system))

    return view


def _store() -> TokenStore:
    """The app's secret store, made once per app (the AWS one holds a boto3 client)."""
    store: TokenStore | None = current_app.extensions.get("zixly_secrets")
    if store is None:
        store = current_app.extensions["zixly_secrets"] = token_store(listener().settings)
    return store


def _per_connection_view(record: Vendor[Any]) -> Callable[[int], Response]:
    """The handshake stores the secret; later deliveries are verified with it.

    A handshake is accepted only for a creation Zixly has in flight: its URL must carry the
    creation's single-use token, before it expires (``db.connection_webhooks.claim_handshake``).
    Any other ``X-Hook-Secret`` gets 404 and stores nothing, so nobody can plant a secret of
    their own and then sign events with it.
    """
    source, hooks, display = record.system, record.webhooks, record.display_name
    handshake = hooks.handshake
    assert handshake is not None

    def view(connection_id: int, token: str | None = None) -> Response:
        session = get_session()
        target = intake.hook_target(session, connection_id, source) if connection_id <= MAX_INT4 else None
        if target is None:
            raise Problem(404, "Not Found", f"no {display} connection with this id")
        inbound = flask_inbound()
        secret_offered = handshake.secret_of(inbound.headers)
        if secret_offered is not None:
            read_body(listener().settings.webhook_max_bytes)
            now = dt.datetime.fromtimestamp(listener().clock(), dt.UTC)
            if token is None or not connection_webhooks.claim_handshake(session, connection_id, token, now):
                metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="bad_signature").inc()
                log.warning("%s handshake refused: no creation in flight for this URL", source)
                raise Problem(404, "Not Found", f"no {display} webhook creation is waiting for this handshake")
            sealed = _store().seal_webhook_secret(connection_id, secret_offered)
            intake.store_webhook_secret(session, connection_id, sealed)
            session.commit()
            log.info("%s handshake completed", source, extra={"connection_id": connection_id})
            response = answer(source, [])
            response.headers.update(handshake.answer_headers(secret_offered))
            return response
        body = _flask_body(source)
        _require_json(source, inbound)
        secret = _store().open_webhook_secret(target.secret_ciphertext)
        delivery = _delivery(inbound, body, hooks.signed_url(listener().settings))
        if secret is None or not hooks.verify(secret, delivery):
            raise _bad_signature(source, body, inbound)
        events = _parsed(source, lambda: hooks.parse(delivery, target.external_org_id))
        owner = intake.OrgTenant(
            target.tenant_id, frozenset(intake.disabled_workflows(session, target.tenant_id, routing.SUBJECT))
        )
        return accept(source, events, lambda _e: owner, body, inbound.headers)

    return view
