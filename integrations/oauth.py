"""Connecting a tenant to a vendor: the OAuth 2.0 authorization-code flow (requests-oauthlib).

The dashboard calls :func:`start_authorization` (a state row in ``oauth_states`` and the
vendor's consent URL); the webhook process receives the redirect and calls
:func:`finish_authorization` (state check, Shopify's query HMAC, code exchange with PKCE,
the organisation — Xero's ``/connections`` — and the encrypted tokens on the connection).
:func:`disconnect` revokes at the vendor where it can. Refresh and the ``httpx.Auth`` that
API clients use live in :mod:`integrations.connection_auth`.

Functions take the caller's session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import secrets
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from oauthlib.oauth2 import OAuth2Error
from requests import RequestException
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Connection, OAuthState
from integrations.http import build_http_client
from integrations.providers import OAuthProvider, get_provider
from integrations.tokens import TokenSet, TokenStore, token_store
from integrations.xero.models import XeroTenant
from settings import Settings

log = logging.getLogger(__name__)

STATE_TTL = dt.timedelta(minutes=15)
HTTP_TIMEOUT_S = 30.0


class OAuthFlowError(Exception):
    """The authorization could not be completed; the message is fit to show the user."""


# -- requests-oauthlib plumbing ---------------------------------------------------------------


def _oauthlib_env(provider: OAuthProvider) -> None:
    # We store the scopes the vendor actually granted, so a narrower grant is not an error.
    os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    # oauthlib refuses plain HTTP; the sandbox on the loopback interface is the one exception.
    if urlsplit(provider.token_url).hostname in ("127.0.0.1", "localhost"):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


def oauth_session(provider: OAuthProvider, *, state: str | None = None) -> OAuth2Session:
    _oauthlib_env(provider)
    session = OAuth2Session(provider.client_id, redirect_uri=provider.redirect_uri, scope=provider.scope, state=state)
    session.headers["User-Agent"] = "Zixly"
    return session


def client_auth_kwargs(provider: OAuthProvider, *, refresh: bool = False) -> dict[str, Any]:
    """How the client authenticates at the token endpoint: HTTP Basic or form fields.

    ``fetch_token`` and ``refresh_token`` of requests-oauthlib take the form-field variant
    differently: the first has ``include_client_id``, the second sends extra kwargs as fields.
    """
    if provider.client_auth == "basic":
        basic = HTTPBasicAuth(provider.client_id, provider.client_secret)
        return {"auth": basic} if refresh else {"auth": basic, "include_client_id": False}
    if refresh:
        return {"client_id": provider.client_id, "client_secret": provider.client_secret}
    return {"include_client_id": True, "client_secret": provider.client_secret}


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# -- the flow ---------------------------------------------------------------------------------


def start_authorization(
    session: Session,
    settings: Settings,
    tenant_id: int,
    system: str,
    created_by: str | None,
    shop: str | None = None,
) -> str:
    """Record a state row and return the vendor's consent URL to redirect the user to."""
    if system == "shopify":
        from integrations.shopify.webhooks import valid_shop_domain

        if not shop or not valid_shop_domain(shop):
            raise OAuthFlowError("Enter the shop as <name>.myshopify.com")
    provider = get_provider(settings, system, shop=shop)
    now = dt.datetime.now(dt.UTC)
    state = secrets.token_urlsafe(32)
    extra: dict[str, str] = {}
    verifier = None
    if provider.pkce:
        verifier, challenge = _pkce_pair()
        extra = {"code_challenge": challenge, "code_challenge_method": "S256"}
    session.add(
        OAuthState(
            state=state,
            tenant_id=tenant_id,
            system=system,
            code_verifier=verifier,
            shop=shop,
            created_by=created_by,
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    )
    session.flush()
    url, _ = oauth_session(provider, state=state).authorization_url(provider.authorize_url, **extra)
    return str(url)


def finish_authorization(
    session: Session,
    settings: Settings,
    system: str,
    query_params: Mapping[str, str],
    *,
    store: TokenStore | None = None,
) -> Connection:
    """Complete the flow from the redirect's query parameters; returns the saved connection."""
    if query_params.get("error"):
        reason = query_params.get("error_description") or query_params["error"]
        raise OAuthFlowError(f"The authorization was not granted ({reason}).")
    state_value = query_params.get("state") or ""
    state = session.get(OAuthState, state_value) if state_value else None
    if state is None or state.system != system:
        raise OAuthFlowError("This authorization link is unknown or was already used; start again.")
    session.delete(state)  # single use, whatever happens next
    session.flush()
    if state.expires_at < dt.datetime.now(dt.UTC):
        raise OAuthFlowError("This authorization took too long; start again.")
    provider = get_provider(settings, system, shop=state.shop)
    if system == "shopify":
        _check_shopify_redirect(provider, state, query_params)
    code = query_params.get("code")
    if not code:
        raise OAuthFlowError("The vendor sent no authorization code.")
    try:
        body = oauth_session(provider, state=state.state).fetch_token(
            provider.token_url,
            code=code,
            code_verifier=state.code_verifier,
            timeout=HTTP_TIMEOUT_S,
            **client_auth_kwargs(provider),
        )
    except (OAuth2Error, RequestException, ValueError) as exc:
        log.warning("token exchange failed for %s: %s", system, type(exc).__name__)
        raise OAuthFlowError(f"{provider.display_name} refused the authorization code; start again.") from exc
    tokens = TokenSet.from_response(dict(body))
    org_id, org_name = resolve_org(provider, tokens, dict(body), shop=state.shop)
    connection = session.scalar(
        select(Connection).where(Connection.tenant_id == state.tenant_id, Connection.system == system)
    )
    if connection is None:
        connection = Connection(tenant_id=state.tenant_id, system=system)
        session.add(connection)
        session.flush()  # the AWS store names the secret after the id
    now = dt.datetime.now(dt.UTC)
    connection.external_org_id = org_id
    connection.org_name = org_name
    connection.scopes = tokens.scope or provider.scope
    connection.status = "connected"
    connection.last_error = None
    connection.last_refresh_at = now
    connection.updated_at = now
    (store or token_store(settings)).save(connection, tokens)
    session.flush()
    return connection


def _check_shopify_redirect(provider: OAuthProvider, state: OAuthState, query: Mapping[str, str]) -> None:
    from integrations.shopify.webhooks import valid_shop_domain, verify_query

    shop = query.get("shop", "")
    if not verify_query(provider.client_secret, query):
        raise OAuthFlowError("The Shopify redirect is not signed by Shopify.")
    if not valid_shop_domain(shop) or shop != state.shop:
        raise OAuthFlowError("The Shopify redirect names a different shop.")


class TokenAuth(httpx.Auth):
    """A fixed access token in the provider's header style (used before a connection exists)."""

    def __init__(self, provider: OAuthProvider, access_token: str) -> None:
        self.header = provider.token_header
        self.value = provider.header_value(access_token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = self.value
        yield request


def resolve_org(
    provider: OAuthProvider, tokens: TokenSet, body: dict[str, Any], *, shop: str | None
) -> tuple[str | None, str | None]:
    """The vendor organisation this authorization connects: (external org id, display name)."""
    if provider.system == "shopify":
        return shop, shop
    if provider.system == "hubspot":
        hub = body.get("hub_id")
        return (str(hub), f"HubSpot portal {hub}") if hub is not None else (None, None)
    auth = TokenAuth(provider, tokens.access_token)
    if provider.system == "xero":
        from integrations.xero.client import XeroClient

        with XeroClient(provider.api_url, auth, timeout=HTTP_TIMEOUT_S) as xero:
            return _xero_org(xero.connections())
    headers = {"Accept": "application/json"}
    with build_http_client(provider.api_url, auth=auth, timeout=HTTP_TIMEOUT_S, headers=headers) as http:
        response = http.get("/users/me", params={"opt_fields": "workspaces.name"})
    workspaces = response.json().get("data", {}).get("workspaces") or [] if response.is_success else []
    if workspaces:
        return str(workspaces[0]["gid"]), workspaces[0].get("name")
    return None, None


def _xero_org(tenants: list[XeroTenant]) -> tuple[str | None, str | None]:
    """Pick the organisation from Xero's /Connections: the most recently connected one."""
    orgs = [t for t in tenants if t.tenant_type == "ORGANISATION"]
    if not orgs:
        raise OAuthFlowError("No Xero organisation was selected; start again and pick one.")
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    chosen = max(orgs, key=lambda t: t.updated_at or t.created_at or epoch)
    return chosen.tenant_id, chosen.tenant_name


def disconnect(
    session: Session, settings: Settings, connection: Connection, *, store: TokenStore | None = None
) -> None:
    """Revoke the grant at the vendor (where supported) and forget the tokens."""
    store = store or token_store(settings)
    shop = connection.external_org_id if connection.system == "shopify" else None
    provider = get_provider(settings, connection.system, shop=shop)
    tokens = store.load(connection)
    connection.last_error = None
    if tokens is not None and provider.revoke_url:
        wants_refresh = provider.revoke_token == "refresh_token"  # noqa: S105
        token = tokens.refresh_token if wants_refresh else tokens.access_token
        try:
            revoke(provider, token or tokens.access_token)
        except Exception as exc:  # the local disconnect must happen whatever the vendor says
            log.warning("revocation at %s failed: %s", connection.system, type(exc).__name__)
            connection.last_error = f"{provider.display_name} revocation failed ({type(exc).__name__}); revoke it there"
    store.delete(connection)
    connection.status = "disconnected"
    connection.expires_at = None
    connection.updated_at = dt.datetime.now(dt.UTC)
    session.flush()


def revoke(provider: OAuthProvider, token: str) -> None:
    """RFC 7009 revocation (Xero, HubSpot v3, Asana accept it in this form)."""
    if provider.revoke_url is None:
        return
    data = {"token": token, "token_type_hint": provider.revoke_token}
    auth: httpx.Auth | None = None
    if provider.client_auth == "basic":
        auth = httpx.BasicAuth(provider.client_id, provider.client_secret)
    else:
        data |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
    with build_http_client("", auth=auth, timeout=HTTP_TIMEOUT_S) as http:
        response = http.post(provider.revoke_url, data=data)
    response.raise_for_status()
from integrations.connection_test import test_connection as test_connection  # noqa: E402  (the Connections page)
