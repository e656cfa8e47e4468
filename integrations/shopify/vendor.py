"""Shopify's record: a per-shop OAuth app and API, the shop as connect input, webhooks, links."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from db.quota import Limit
from integrations.expiry import stated_expiry
from integrations.shopify import webhooks
from integrations.shopify.client import ShopifyClient
from integrations.vendor import (
    ConnectInput,
    HeaderDoc,
    MissingOrg,
    OAuthEndpoints,
    OAuthFlowError,
    OAuthProvider,
    Vendor,
    WebhookDoc,
    Webhooks,
    client_secret,
    settings_credentials,
)
from settings import Settings

SHOP_QUERY = "query ConnectionTest { shop { name myshopifyDomain } }"


def shop_url(settings: Settings, shop: str | None) -> str:
    """The shop's base URL (``ZIXLY_SHOPIFY_API_URL`` with ``{shop}`` filled in)."""
    if not shop:
        raise MissingOrg("the Shopify connection names no shop; reconnect it", system="shopify")
    return str(settings.shopify_api_url).replace("{shop}", shop)


# https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant
def _endpoints(settings: Settings, shop: str | None) -> OAuthEndpoints:
    base = shop_url(settings, shop)
    return OAuthEndpoints(
        authorize_url=f"{base}/admin/oauth/authorize",
        token_url=f"{base}/admin/oauth/access_token",
        revoke_url=None,  # uninstalling the app is the only revocation
        # The docs show a JSON token request; the form Zixly sends is what Shopify's own
        # Python library sends, and the endpoint accepts both.
        scopes=tuple(s for s in settings.shopify_scopes.split(",") if s),
        scope_separator=",",
        pkce=False,
        token_header="X-Shopify-Access-Token",  # noqa: S106 (a header name)
        token_prefix="",
        api_url=base,
        # An expiring offline token (1 h, with a rotating refresh token): public apps must use
        # them from 1 January 2027; without ``expiring=1`` Shopify grants a non-expiring one.
        # https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens
        code_exchange_fields={"expiring": "1"},
    )


def _client(base_url: str, auth: httpx.Auth | None, _org: str | None, **kwargs: Any) -> ShopifyClient:
    return ShopifyClient(base_url, auth, **kwargs)


def _resolve_org(
    _client: Callable[[], ShopifyClient], _token: Mapping[str, Any], shop: str | None
) -> tuple[str | None, str | None]:
    return shop, shop


def _check_redirect(provider: OAuthProvider, shop: str | None, query: Mapping[str, str]) -> None:
    """Shopify signs its redirect's query with the app secret and names the shop again."""
    if not webhooks.verify_query(provider.client_secret, query):
        raise OAuthFlowError("The Shopify redirect is not signed by Shopify.")
    named = query.get("shop", "")
    if not webhooks.valid_shop_domain(named) or named != shop:
        raise OAuthFlowError("The Shopify redirect names a different shop.")


def _probe(client: ShopifyClient, shop: str | None) -> str:
    found = client.graphql(SHOP_QUERY).get("shop") or {}
    return f"connected to {found.get('name') or shop} ({found.get('myshopifyDomain') or shop})"


SECTIONS = {"order": "orders", "customer": "customers", "product": "products"}


def _record_link(kind: str, record_id: str, shop: str | None) -> str | None:
    section = SECTIONS.get(kind)
    if not shop or section is None:
        return None
    return f"https://{shop.removesuffix('/')}/admin/{section}/{record_id}"


WEBHOOKS = Webhooks(
    verify=lambda secret, d: webhooks.verify_webhook(secret, d.body, webhooks.header(d.headers, webhooks.HEADER_HMAC)),
    parse=lambda d, _org: [webhooks.parse_webhook(d.headers, d.body)],
    # https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
    secret=lambda settings: client_secret(SHOPIFY, settings),
    success_status=202,
    kept_headers=frozenset(
        h.lower()
        for h in (
            webhooks.HEADER_HMAC,
            webhooks.HEADER_TOPIC,
            webhooks.HEADER_SHOP,
            webhooks.HEADER_API_VERSION,
            webhooks.HEADER_WEBHOOK_ID,
            webhooks.HEADER_EVENT_ID,
            webhooks.HEADER_TRIGGERED_AT,
        )
    ),
    replay_body=lambda event: {"events": [event]},
    doc=WebhookDoc(
        summary="Shopify webhook (the resource, e.g. an order)",
        body_schema={"type": "object"},
        headers=(
            HeaderDoc(webhooks.HEADER_HMAC, "base64 HMAC-SHA256 of the body with the app secret"),
            HeaderDoc(webhooks.HEADER_TOPIC, "e.g. orders/paid"),
            HeaderDoc(webhooks.HEADER_SHOP, "the shop, <name>.myshopify.com"),
            HeaderDoc(webhooks.HEADER_EVENT_ID, "stable across retries", required=False),
        ),
    ),
)

SHOPIFY: Vendor[ShopifyClient] = Vendor(
    system="shopify",
    display_name="Shopify",
    credentials=settings_credentials("shopify"),
    oauth=_endpoints,
    api_url=shop_url,
    client=_client,
    resolve_org=_resolve_org,
    probe=_probe,
    webhooks=WEBHOOKS,
    record_link=_record_link,
    # Shopify states the refresh token's lifetime in each token response (refresh_token_expires_in).
    refresh_token_dies=stated_expiry,
    connect_input=ConnectInput(
        label="Shop domain",
        placeholder="example.myshopify.com",
        is_valid=webhooks.valid_shop_domain,
        invalid_message="Enter the shop as <name>.myshopify.com",
    ),
    check_redirect=_check_redirect,
    # https://shopify.dev/docs/api/usage/rate-limits (CONTRACTS.md §4.4): GraphQL calls spend
    # query cost from a bucket of 2,000 points (what ``throttleStatus.maximumAvailable`` reports on
    # Standard plans; one query may cost at most 1,000) refilled at 100 points a second. Each call
    # is charged its estimate, corrected to the answer's ``extensions.cost`` (actualQueryCost,
    # throttleStatus).
    limits=(
        Limit("cost", 2000, 20.0, unit="points", refill_per_s=100.0, source="shopify.dev/docs/api/usage/rate-limits"),
    ),
)
