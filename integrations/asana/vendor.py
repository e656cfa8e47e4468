"""Asana's record: OAuth app, workspace, probe, per-connection webhooks and links."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from db.quota import Limit
from integrations.asana import hook_upkeep, webhooks
from integrations.asana.client import AsanaClient
from integrations.expiry import long_lived
from integrations.http import IntegrationError
from integrations.vendor import (
    Handshake,
    HeaderDoc,
    OAuthEndpoints,
    Vendor,
    WebhookDoc,
    Webhooks,
    settings_credentials,
)
from settings import Settings


# https://developers.asana.com/docs/oauth
def _endpoints(settings: Settings, _org: str | None) -> OAuthEndpoints:
    return OAuthEndpoints(
        authorize_url=f"{settings.asana_api_url}/-/oauth_authorize",
        token_url=f"{settings.asana_api_url}/-/oauth_token",
        revoke_url=f"{settings.asana_api_url}/-/oauth_revoke",
        scopes=tuple(settings.asana_scopes.split()),
        api_url=_api_url(settings, None),
        # Asana's revocation endpoint takes the refresh token only.
        revoke_token="refresh_token",  # noqa: S106
    )


def _api_url(settings: Settings, _org: str | None) -> str:
    return f"{settings.asana_api_url}/api/1.0"


def _client(base_url: str, auth: httpx.Auth | None, _org: str | None, **kwargs: Any) -> AsanaClient:
    return AsanaClient(base_url, auth, **kwargs)


def _resolve_org(
    client: Callable[[], AsanaClient], _token: Mapping[str, Any], _input: str | None
) -> tuple[str | None, str | None]:
    """The user's first workspace; a grant whose user cannot be read connects without one."""
    try:
        with client() as asana:
            me = asana.me("workspaces.name")
    except IntegrationError:
        return None, None
    workspaces = me.get("workspaces") or []
    if workspaces:
        return str(workspaces[0]["gid"]), workspaces[0].get("name")
    return None, None


def _probe(client: AsanaClient, _org: str | None) -> str:
    me = client.me("name,email")
    who = me.get("name") or me.get("gid") or "unknown user"
    return f"connected as {who}" + (f" ({me['email']})" if me.get("email") else "")


def _record_link(kind: str, record_id: str, _org: str | None) -> str | None:
    if kind == "task":
        return f"https://app.asana.com/0/0/{record_id}/f"
    if kind == "project":
        return f"https://app.asana.com/0/{record_id}/list"
    return None


_EVENTS = {"type": "array", "items": {"type": "object"}}

WEBHOOKS = Webhooks(
    verify=lambda secret, d: webhooks.verify_request(secret, d.body, d.headers),
    parse=lambda d, org: webhooks.parse_events(d.body, org_id=org),
    secret=None,  # each connection's webhook has its own, from the handshake
    # https://developers.asana.com/docs/webhooks-guide: only 200 and 204 count as received.
    success_status=200,
    kept_headers=frozenset({webhooks.HEADER_SIGNATURE.lower()}),
    replay_body=lambda event: {"events": [event]},
    handshake=Handshake(secret_of=webhooks.handshake_secret, answer_headers=webhooks.handshake_response_headers),
    doc=WebhookDoc(
        summary="Asana webhook for one connection (handshake, heartbeat, events)",
        body_schema={"type": "object", "required": ["events"], "properties": {"events": _EVENTS}},
        headers=(
            HeaderDoc(
                webhooks.HEADER_SIGNATURE, "hex HMAC-SHA256 of the body with the handshake secret", required=False
            ),
            HeaderDoc(webhooks.HEADER_SECRET, "present only in the handshake", required=False),
        ),
    ),
)

ASANA: Vendor[AsanaClient] = Vendor(
    system="asana",
    display_name="Asana",
    credentials=settings_credentials("asana"),
    oauth=_endpoints,
    api_url=_api_url,
    client=_client,
    resolve_org=_resolve_org,
    probe=_probe,
    webhooks=WEBHOOKS,
    record_link=_record_link,
    before_disconnect=hook_upkeep.remove,
    refresh_token_dies=long_lived,  # long-lived until revoked (CONTRACTS.md)
    # Asana's rate limits (CONTRACTS.md §5.3): 150 calls a minute per token on free domains,
    # 1,500 on paid ones — a paid tenant sets its connection's limit up to that ceiling.
    limits=(Limit("minute", 150, 60.0, ceiling=1500, source="developers.asana.com rate limits"),),
)
