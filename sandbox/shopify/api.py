"""The Shopify emulator (served under /shopify/<shop>), per Shopify's Admin API docs.

- ``POST /shopify/<shop>/admin/api/<version>/graphql.json``: the Admin GraphQL subset of
  ``shopify_admin.graphql`` (orders), with query cost, a leaky bucket per shop and
  ``THROTTLED`` answers; ``GET …/schema.graphql`` serves the SDL (introspection works too).
- OAuth per shop: ``/admin/oauth/authorize`` redirects back with ``code``, ``state``, ``shop``,
  ``timestamp``, ``host`` and the ``hmac`` of the query; ``/admin/oauth/access_token`` (JSON)
  issues offline tokens: non-expiring unless the exchange sends ``expiring=1``, then 1 h with a
  rotating refresh token that stays valid until the new access token is first used.
- Auth: ``X-Shopify-Access-Token`` from that flow, or a custom-app token ``shpat_…``.
- Sandbox controls: ``POST /shopify/_sandbox/orders/<id>/pay`` sends a signed ``orders/paid``
  webhook; ``POST /shopify/_sandbox/throttle`` changes the bucket; ``…/<shop>/uninstall``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, current_app, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from sandbox import control, errors, vendor_signing
from sandbox.oauth_server import OAuthServer, client_credentials, request_data
from sandbox.shopify import graphql_schema as shopify_graphql
from sandbox.shopify.order_fields import complete
from sandbox.shopify.order_view import connection, graphql_order, search_orders
from sandbox.shopify.orders import seed_orders
from sandbox.vendor_signing import shopify_webhooks as webhooks
from sandbox.webhook_sender import deliver
from settings import Settings

blueprint = Blueprint("shopify", __name__, url_prefix="/shopify")

DEMO_SHOP = "zixly-demo.myshopify.com"
API_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")

_shops: dict[str, dict[int, dict[str, Any]]] = {}

# https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens
OAUTH = OAuthServer(
    "shopify",
    access_ttl=3600,  # expiring offline tokens: 60 minutes
    rotate_refresh=True,  # "Shopify replaces the refresh token on each use"
    expiring_on_request=True,  # without expiring=1 the offline token never expires
    refresh_ttl=7_776_000,  # refresh_token_expires_in (90 days; Shopify does not document it)
    # https://shopify.dev/changelog/more-resilient-refreshes-for-expiring-offline-access-tokens
    old_refresh_until_new_used=True,
)
control.install_controls(blueprint, "shopify")


def reset() -> None:
    with control.LOCK:
        _shops.clear()
    shopify_graphql.reset_buckets()


def orders(shop: str) -> dict[int, dict[str, Any]]:
    """The shop's orders, seeded on first use (every shop gets its own copy of the demo)."""
    with control.LOCK:
        if shop not in _shops:
            _shops[shop] = seed_orders()
        return _shops[shop]


def client_secret(settings: Settings) -> str:
    return vendor_signing.client_secret(settings, "shopify")


def _errors(status: int, message: str) -> Response:
    response = jsonify(errors=message)
    response.status_code = status
    return response


errors.install(blueprint, _errors)


def _authorized(shop: str) -> bool:
    token = request.headers.get("X-Shopify-Access-Token", "")
    if token.startswith("shpat_"):
        return True
    grant = OAUTH.grant_for(token) if token else None
    return grant is not None and grant.extra.get("shop") == shop


# -- the Admin GraphQL API ---------------------------------------------------------------------


@blueprint.post("/<shop>/admin/api/<version>/graphql.json")
def graphql(shop: str, version: str) -> ResponseReturnValue:
    if not webhooks.valid_shop_domain(shop):
        return _errors(404, "Not Found")
    if version not in API_VERSIONS:
        return _errors(404, f"API version {version} is not supported")
    if not _authorized(shop):
        return _errors(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _errors(400, "Bad Request: a JSON body with a query is required")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        # A GraphQL-level mistake: Shopify answers 200 with the GraphQL errors list.
        return jsonify(errors=[{"message": "Variables must be a JSON object", "extensions": {"code": "BAD_REQUEST"}}])
    store = orders(shop)

    def order(_info: Any, id: str) -> dict[str, Any] | None:
        legacy = id.rsplit("/", 1)[-1]
        found = store.get(int(legacy)) if id.startswith("gid://shopify/Order/") and legacy.isdigit() else None
        return graphql_order(found) if found else None

    def orders_field(
        info: Any,
        query: str | None = None,
        sortKey: str = "ID",
        reverse: bool = False,
        **page: Any,
    ) -> dict[str, Any]:
        hits = [graphql_order(o) for o in search_orders(list(store.values()), query, sortKey)]
        return connection(hits)(info, reverse=reverse, **page)

    root = {
        "order": order,
        "orders": orders_field,
        "shop": {"name": shop.split(".")[0], "myshopifyDomain": shop, "currencyCode": "AUD"},
    }
    with control.LOCK:
        answer = shopify_graphql.run(shop, body["query"], variables, root)
    return jsonify(answer)


@blueprint.get("/<shop>/admin/api/<version>/schema.graphql")
def schema(shop: str, version: str) -> ResponseReturnValue:
    """The SDL the emulator executes (a sandbox convenience; real Shopify offers introspection)."""
    return Response(shopify_graphql.sdl(), mimetype="text/plain")


# -- OAuth -------------------------------------------------------------------------------------


@blueprint.get("/<shop>/admin/oauth/authorize")
def authorize(shop: str) -> ResponseReturnValue:
    if not webhooks.valid_shop_domain(shop):
        return _errors(400, "invalid shop")
    args = {**request.args.to_dict(), "shop": shop}
    error, target = OAUTH.authorize(args)
    if error is not None:
        return jsonify(error=error, error_description=target), 400
    settings: Settings = current_app.config["ZIXLY_SETTINGS"]
    # Shopify adds shop, timestamp and host to the callback and signs the whole query (§4.2).
    extra = {
        "shop": shop,
        "timestamp": str(int(time.time())),
        "host": base64.b64encode(f"admin.shopify.com/store/{shop.split('.')[0]}".encode()).decode(),
    }
    base, _, query = target.partition("?")
    signed = {**dict(parse_qsl(query)), **extra}
    signed["hmac"] = webhooks.query_signature(client_secret(settings), signed)
    return redirect(f"{base}?{urlencode(signed)}", code=302)


@blueprint.post("/<shop>/admin/oauth/access_token")
def access_token(shop: str) -> ResponseReturnValue:
    client_id, secret = client_credentials()
    if not secret:
        return jsonify(error="invalid_client"), 401
    status, body = OAUTH.token(request_data(), client_id)
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/_sandbox/<shop>/uninstall")
def uninstall(shop: str) -> ResponseReturnValue:
    """Uninstalling the app is Shopify's only revocation: every grant of the shop dies."""
    with OAUTH.lock:
        for grant in OAUTH.grants.values():
            if grant.extra.get("shop") == shop:
                grant.revoked = True
    return jsonify(ok=True)


@blueprint.post("/_sandbox/throttle")
def throttle() -> ResponseReturnValue:
    """``{"maximum"?, "restore_rate"?, "available"?}`` for every shop's cost bucket."""
    body = request.get_json(force=True, silent=True) or {}

    def number(name: str) -> float | None:
        return float(body[name]) if body.get(name) is not None else None

    shopify_graphql.configure_buckets(number("maximum"), number("restore_rate"), number("available"))
    return jsonify(ok=True)


# -- webhooks ----------------------------------------------------------------------------------


def send_webhook(
    shop: str, topic: str, resource: dict[str, Any], options: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    """Deliver ``resource`` as a ``topic`` webhook, signed with the app secret (§4.1)."""
    settings: Settings = current_app.config["ZIXLY_SETTINGS"]
    target = str(options.get("target") or settings.public_url.rstrip("/") + "/webhook/shopify")
    body = json.dumps(resource).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": webhooks.webhook_signature(client_secret(settings), body),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    log: dict[str, Any] = deliver(
        target,
        lambda _attempt: (body, headers),
        retries=int(options.get("retries", 3)),
        delay_s=float(options.get("retry_delay_s", 0.2)),
    )
    log["event_id"], log["webhook_id"] = headers["X-Shopify-Event-Id"], headers["X-Shopify-Webhook-Id"]
    return log


@blueprint.post("/_sandbox/orders/<int:order_id>/pay")
def pay(order_id: int) -> ResponseReturnValue:
    """Mark an order paid and send ``orders/paid``; body ``{"shop"?, "target"?, "duplicate"?}``.

    With ``duplicate`` the same event goes out twice (new webhook id, same event id), as
    Shopify does when a topic has two subscriptions.
    """
    options = request.get_json(force=True, silent=True) or {}
    shop = str(options.get("shop") or DEMO_SHOP)
    with control.LOCK:
        order = orders(shop).get(order_id)
        if order is None:
            return _errors(404, "Not Found")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        order.update(financial_status="paid", updated_at=now, total_outstanding="0.00")
        # The webhook carries every field of Shopify's documented order payload.
        snapshot = complete(order, shop)
    control.record_write("shopify", f"order:{order_id}:paid")
    event_id = str(uuid.uuid4())
    deliveries = [send_webhook(shop, "orders/paid", snapshot, options, event_id)]
    if options.get("duplicate"):
        deliveries.append(send_webhook(shop, "orders/paid", snapshot, options, event_id))
    return jsonify(order_id=order_id, deliveries=deliveries)
