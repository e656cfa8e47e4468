"""Connecting a tenant to a vendor: the OAuth 2.0 authorization-code flow (requests-oauthlib).

The dashboard calls :func:`start_authorization` (a state row in ``oauth_states`` and the
vendor's consent URL); the webhook process receives the redirect and calls
:func:`finish_authorization` (state check, the vendor's own redirect check, code exchange with
PKCE, the organisation from the vendor's record, and the encrypted tokens on the connection).
:func:`disconnect` revokes at the vendor where it can. Refresh and the ``httpx.Auth`` that
API clients use live in :mod:`integrations.connection_auth`.

Functions take the caller's session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Generator, Mapping

import httpx
from oauthlib.oauth2 import OAuth2Error
from requests import RequestException
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Connection, OAuthState, Tenant
from integrations.connection_auth import ConnectionAuth
from integrations.connection_test import test_connection
from integrations.oauth_http import MAX_TIMEOUT_S, client_auth_kwargs, oauth_session, revoke
from integrations.registry import vendor
from integrations.tokens import TokenSet, TokenStore, token_store
from integrations.vendor import OAuthFlowError, OAuthProvider, make_client, oauth_provider
from settings import Settings

__all__ = [
    "OAuthFlowError",
    "TokenAuth",
    "disconnect",
    "finish_authorization",
    "revoke",
    "start_authorization",
    "test_connection",  # the Connections page's probe lives in integrations.connection_test
]

log = logging.getLogger(__name__)

STATE_TTL = dt.timedelta(minutes=15)


def start_authorization(
    session: Session,
    settings: Settings,
    tenant_id: int,
    system: str,
    created_by: str | None,
    shop: str | None = None,
) -> str:
    """Record a state row and return the vendor's consent URL to redirect the user to.

    ``shop`` is the vendor's connect input where it has one (Shopify's shop domain).
    """
    record = vendor(system)
    connect_input = record.connect_input
    if connect_input is not None and not (shop and connect_input.is_valid(shop)):
        raise OAuthFlowError(connect_input.invalid_message)
    provider = oauth_provider(record, settings, shop)
    now = dt.datetime.now(dt.UTC)
    state = secrets.token_urlsafe(32)
    oauth = oauth_session(provider, state=state, pkce=provider.pkce)
    url, _ = oauth.authorization_url(provider.authorize_url)
    session.add(
        OAuthState(
            state=state,
            tenant_id=tenant_id,
            system=system,
            code_verifier=oauth.code_verifier,
            shop=shop,
            created_by=created_by,
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    )
    session.flush()
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
    # Taken with one DELETE … RETURNING, so the transaction writes first: on SQLite a transaction
    # that read and then wrote after another process's commit fails at once ("database is
    # locked", whatever the busy timeout), which reached people finishing a consent.
    state = (
        session.scalars(delete(OAuthState).where(OAuthState.state == state_value).returning(OAuthState)).one_or_none()
        if state_value
        else None
    )  # single use, whatever happens next
    if state is None or state.system != system:
        raise OAuthFlowError("This authorization link is unknown or was already used; start again.")
    if state.expires_at < dt.datetime.now(dt.UTC):
        raise OAuthFlowError("This authorization took too long; start again.")
    record = vendor(system)
    provider = oauth_provider(record, settings, state.shop)
    if record.check_redirect is not None:
        record.check_redirect(provider, state.shop, query_params)
    code = query_params.get("code")
    if not code:
        raise OAuthFlowError("The vendor sent no authorization code.")
    try:
        # The verifier was made in another process (the dashboard): it rides as a form field.
        body = oauth_session(provider, state=state.state).fetch_token(
            provider.token_url,
            code=code,
            code_verifier=state.code_verifier,
            **provider.code_exchange_fields,
            **client_auth_kwargs(provider),
        )
    except (OAuth2Error, RequestException, ValueError) as exc:
        log.warning("token exchange failed for %s: %s", system, type(exc).__name__)
        raise OAuthFlowError(f"{provider.display_name} refused the authorization code; start again.") from exc
    tokens = TokenSet.from_response(dict(body))
    auth = TokenAuth(provider, tokens.access_token)
    org_id, org_name = record.resolve_org(
        lambda: make_client(record, settings, auth, state.shop, timeout=MAX_TIMEOUT_S), dict(body), state.shop
    )
    _refuse_org_of_another_tenant(session, system, org_id, org_name, state.tenant_id)
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


def _refuse_org_of_another_tenant(
    session: Session, system: str, org_id: str | None, org_name: str | None, tenant_id: int
) -> None:
    """One vendor organisation, one tenant: whose webhooks they are must never be a guess.

    (A unique index over live connections enforces it; this says it in words first.) The
    fresh tokens are simply not stored: revoking them could end the other tenant's grant.
    """
    if org_id is None:
        return
    owner = session.scalar(
        select(Tenant.name)
        .join(Connection, Connection.tenant_id == Tenant.id)
        .where(
            Connection.system == system,
            Connection.external_org_id == org_id,
            Connection.tenant_id != tenant_id,
            Connection.status != "disconnected",
        )
    )
    if owner is not None:
        raise OAuthFlowError(
            f"{org_name or org_id} is already connected to the tenant {owner}; "
            "disconnect it there first, or connect another organisation."
        )


class TokenAuth(httpx.Auth):
    """A fixed access token in the provider's header style (used before a connection exists)."""

    def __init__(self, provider: OAuthProvider, access_token: str) -> None:
        self.header = provider.token_header
        self.value = provider.header_value(access_token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = self.value
        yield request


def disconnect(
    session: Session, settings: Settings, connection: Connection, *, store: TokenStore | None = None
) -> None:
    """Revoke the grant at the vendor (where supported) and forget the tokens."""
    store = store or token_store(settings)
    record = vendor(connection.system)
    provider = oauth_provider(record, settings, connection.external_org_id)
    tokens = store.load(connection)
    connection.last_error = None
    if tokens is not None and record.before_disconnect is not None:
        # While the grant still works (the auth refreshes an expired token on its own session).
        factory = sessionmaker(session.get_bind(), expire_on_commit=False)
        auth = ConnectionAuth(factory, settings, connection.id, store=store)
        org = connection.external_org_id
        problem = record.before_disconnect(
            session, lambda: make_client(record, settings, auth, org, timeout=MAX_TIMEOUT_S), connection.id
        )
        connection.last_error = problem
    if tokens is not None and provider.revoke_url:
        wants_refresh = provider.revoke_token == "refresh_token"  # noqa: S105
        token = tokens.refresh_token if wants_refresh else tokens.access_token
        try:
            revoke(provider, token or tokens.access_token)
        except Exception as exc:  # the local disconnect must happen whatever the vendor says
            log.warning("revocation at %s failed: %s", connection.system, type(exc).__name__)
            failed = f"{provider.display_name} revocation failed ({type(exc).__name__}); revoke it there"
            connection.last_error = "; ".join(filter(None, (connection.last_error, failed)))
    store.delete(connection)
    connection.status = "disconnected"
    connection.expires_at = None
    connection.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
