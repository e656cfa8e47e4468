"""HubSpot's record: OAuth app, portal, probe, signed webhooks and links for the shared code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from db.quota import Limit
from integrations.expiry import long_lived
from integrations.hubspot import webhooks
from integrations.hubspot.client import HubSpotClient
from integrations.vendor import (
    Delivery,
    HeaderDoc,
    OAuthEndpoints,
    Vendor,
    WebhookDoc,
    Webhooks,
    client_secret,
    settings_credentials,
)
from settings import Settings


# https://developers.hubspot.com/docs/api/oauth-quickstart-guide
def _endpoints(settings: Settings, _org: str | None) -> OAuthEndpoints:
    return OAuthEndpoints(
        authorize_url=f"{settings.hubspot_app_url}/oauth/authorize",
        token_url=f"{settings.hubspot_api_url}/oauth/v3/token",
        revoke_url=f"{settings.hubspot_api_url}/oauth/v3/token/revoke",
        scopes=tuple(settings.hubspot_scopes.split()),
        api_url=_api_url(settings, None),
        token_error=_token_error,
    )


# HubSpot's token endpoint answers errors in its own shape ({status, message, correlationId,
# category}; status BAD_REFRESH_TOKEN and friends), not RFC 6749's {error}.
_TOKEN_ERRORS = {
    "BAD_REFRESH_TOKEN": "invalid_grant",
    "BAD_AUTH_CODE": "invalid_grant",
    "BAD_REDIRECT_URI": "invalid_grant",
    "BAD_CLIENT_ID": "invalid_client",
    "BAD_CLIENT_SECRET": "invalid_client",
    "BAD_GRANT_TYPE": "unsupported_grant_type",
}


def _token_error(body: dict[str, Any]) -> dict[str, Any]:
    error = _TOKEN_ERRORS.get(str(body.get("status")), "invalid_request")
    return {"error": error, "error_description": str(body.get("message") or body.get("status") or "")}


def _api_url(settings: Settings, _org: str | None) -> str:
    return str(settings.hubspot_api_url)


def _client(base_url: str, auth: httpx.Auth | None, _org: str | None, **kwargs: Any) -> HubSpotClient:
    return HubSpotClient(base_url, auth, **kwargs)


def _resolve_org(
    _client: Callable[[], HubSpotClient], token: Mapping[str, Any], _input: str | None
) -> tuple[str | None, str | None]:
    """HubSpot names the portal (``hub_id``) in the token response itself."""
    hub = token.get("hub_id")
    return (str(hub), f"HubSpot portal {hub}") if hub is not None else (None, None)


def _probe(client: HubSpotClient, org: str | None) -> str:
    page = client.search("contacts", [], properties=["email"], limit=1)
    portal = f"portal {org}, " if org else ""
    return f"connected ({portal}{page.total:,} contacts)"


# Object type ids in HubSpot record URLs: 0-1 contact, 0-2 company, 0-3 deal, 0-5 ticket.
OBJECT_TYPES = {"contact": "0-1", "company": "0-2", "deal": "0-3", "ticket": "0-5"}


def _record_link(kind: str, record_id: str, org: str | None) -> str | None:
    object_type = OBJECT_TYPES.get(kind)
    if object_type is None or not org:
        return None
    return f"https://app.hubspot.com/contacts/{quote(org, safe='')}/record/{object_type}/{record_id}"


def _verify(secret: str, delivery: Delivery) -> bool:
    return webhooks.verify_request(
        secret,
        method=delivery.method,
        uri=delivery.signed_url,
        body=delivery.body,
        headers=delivery.headers,
        now=delivery.now,
    )


_EVENTS = {"type": "array", "items": {"type": "object"}}

WEBHOOKS = Webhooks(
    verify=_verify,
    parse=lambda d, _org: webhooks.parse_events(d.body),
    # https://developers.hubspot.com/docs/api/webhooks/validating-requests: the app secret signs.
    secret=lambda settings: client_secret(HUBSPOT, settings),
    success_status=202,
    kept_headers=frozenset(
        h.lower()
        for h in (webhooks.HEADER_LEGACY, webhooks.HEADER_V3, webhooks.HEADER_VERSION, webhooks.HEADER_TIMESTAMP)
    ),
    replay_body=lambda event: [event],
    # A proxy that rewrites the path changes the URL HubSpot signed: the setting names it.
    signed_url=lambda settings: settings.hubspot_webhook_url,
    doc=WebhookDoc(
        summary="HubSpot webhook (a JSON array of events)",
        body_schema=_EVENTS,
        headers=(
            HeaderDoc(webhooks.HEADER_V3, "base64 HMAC over method, URI, body, timestamp"),
            HeaderDoc(webhooks.HEADER_TIMESTAMP, "Unix milliseconds; at most 5 minutes old"),
        ),
    ),
)

HUBSPOT: Vendor[HubSpotClient] = Vendor(
    system="hubspot",
    display_name="HubSpot",
    credentials=settings_credentials("hubspot"),
    oauth=_endpoints,
    api_url=_api_url,
    client=_client,
    resolve_org=_resolve_org,
    probe=_probe,
    webhooks=WEBHOOKS,
    record_link=_record_link,
    refresh_token_dies=long_lived,  # long-lived until revoked (CONTRACTS.md)
    # https://developers.hubspot.com/apisbytier (CONTRACTS.md §3.3): an OAuth app may make 100
    # calls per 10 seconds per installed account; CRM search has its own 4 per second.
    limits=(
        Limit("burst", 100, 10.0, source="developers.hubspot.com/apisbytier"),
        Limit("search", 4, 1.0, paths=("/search",), source="HubSpot changelog: CRM Search API rate limit"),
    ),
)
