"""Xero's record: OAuth app, organisation pick, probe, webhooks and links for the shared code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from db.quota import Limit
from integrations.expiry import unused_for
from integrations.http import AuthError
from integrations.vendor import (
    HeaderDoc,
    OAuthEndpoints,
    OAuthFlowError,
    Vendor,
    WebhookDoc,
    Webhooks,
    settings_credentials,
)
from integrations.xero import webhooks
from integrations.xero.client import XeroClient
from integrations.xero.models import XeroTenant
from settings import Settings


# https://developer.xero.com/documentation/guides/oauth2/auth-flow
def _endpoints(settings: Settings, _org: str | None) -> OAuthEndpoints:
    return OAuthEndpoints(
        authorize_url=f"{settings.xero_login_url}/identity/connect/authorize",
        token_url=f"{settings.xero_identity_url}/connect/token",
        revoke_url=f"{settings.xero_identity_url}/connect/revocation",
        scopes=tuple(settings.xero_scopes.split()),
        api_url=_api_url(settings, None),
        client_auth="basic",
    )


def _api_url(settings: Settings, _org: str | None) -> str:
    return str(settings.xero_api_url)


def _client(base_url: str, auth: httpx.Auth | None, org: str | None, **kwargs: Any) -> XeroClient:
    return XeroClient(base_url, auth, tenant_id=org, **kwargs)


def _resolve_org(
    client: Callable[[], XeroClient], _token: Mapping[str, Any], _input: str | None
) -> tuple[str | None, str | None]:
    """The organisation the user just picked: the most recently connected of ``/connections``."""
    with client() as xero:
        tenants = xero.connections()
    return pick_organisation(tenants)


def pick_organisation(tenants: list[XeroTenant]) -> tuple[str | None, str | None]:
    orgs = [t for t in tenants if t.tenant_type == "ORGANISATION"]
    if not orgs:
        raise OAuthFlowError("No Xero organisation was selected; start again and pick one.")
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    chosen = max(orgs, key=lambda t: t.updated_at or t.created_at or epoch)
    return chosen.tenant_id, chosen.tenant_name


def _probe(client: XeroClient, org: str | None) -> str:
    orgs = client.connections()
    mine = next((o for o in orgs if o.tenant_id == org), None)
    if mine is None:
        raise AuthError("the token no longer has access to this organisation; reconnect", system="xero")
    return f"connected to {mine.tenant_name or mine.tenant_id}"


RECORD_PAGES = {
    "invoice": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={id}",
    "bill": "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID={id}",
    "contact": "https://go.xero.com/Contacts/View/{id}",
    "payment": "https://go.xero.com/Bank/ViewTransaction.aspx?paymentID={id}",
}


def _record_link(kind: str, record_id: str, _org: str | None) -> str | None:
    template = RECORD_PAGES.get(kind)
    return template.format(id=record_id) if template else None


_EVENTS = {"type": "array", "items": {"type": "object"}}

WEBHOOKS = Webhooks(
    verify=lambda key, d: webhooks.verify_request(key, d.body, d.headers),
    parse=lambda d, _org: webhooks.parse_events(d.body),
    secret=webhooks.webhook_key,
    # https://developer.xero.com/documentation/guides/webhooks/configuring-your-server
    success_status=200,
    empty_success_body=True,
    kept_headers=frozenset({webhooks.HEADER_SIGNATURE}),
    replay_body=lambda event: {"events": [event]},
    doc=WebhookDoc(
        summary="Xero webhook (and intent-to-receive)",
        body_schema={"type": "object", "required": ["events"], "properties": {"events": _EVENTS}},
        headers=(HeaderDoc(webhooks.HEADER_SIGNATURE, "base64 HMAC-SHA256 of the body with the webhook key"),),
    ),
)


XERO: Vendor[XeroClient] = Vendor(
    system="xero",
    display_name="Xero",
    credentials=settings_credentials("xero"),
    oauth=_endpoints,
    api_url=_api_url,
    client=_client,
    resolve_org=_resolve_org,
    probe=_probe,
    webhooks=WEBHOOKS,
    record_link=_record_link,
    # Xero: "unused refresh tokens expire after 60 days" (every refresh rotates it).
    refresh_token_dies=unused_for(60),
    # https://developer.xero.com/faq/limits (CONTRACTS.md §2.3): per organisation 5 calls in
    # progress, 60 a minute and 5,000 a day; 10,000 a minute across the app. Windows are fixed
    # but start at a different time per tenant, so the minute is governed as a rolling window.
    limits=(
        Limit("minute", 60, 60.0, source="developer.xero.com/faq/limits"),
        Limit("day", 5000, 86400.0, calendar=True, source="developer.xero.com/faq/limits"),
        Limit("concurrent", 5, source="developer.xero.com/faq/limits"),
        Limit("appminute", 10000, 60.0, app_wide=True, source="developer.xero.com/faq/limits"),
    ),
)
