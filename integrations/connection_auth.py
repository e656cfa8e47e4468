"""Using a connection: the bearer token on every call, refreshed before expiry and once on 401.

Refresh is serialized per connection — ``SELECT … FOR UPDATE`` on PostgreSQL, the database
write lock on SQLite — because Xero (and Shopify) refresh tokens are single-use: whoever
holds the lock re-reads the row, and if another process already refreshed it uses that
token instead of spending the stored refresh token a second time. A lost race therefore
never overwrites a newer token with an older one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Generator

import httpx
from oauthlib.oauth2 import InvalidGrantError, OAuth2Error
from requests import RequestException
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Connection, Tenant
from integrations.http import AuthError, CallRecorder, TransientError
from integrations.metrics import oauth_refresh_total
from integrations.oauth_http import client_auth_kwargs, oauth_session
from integrations.registry import vendor
from integrations.tokens import TokenSet, TokenStore, token_store
from integrations.vendor import OAuthProvider, oauth_provider
from settings import Settings

log = logging.getLogger(__name__)

REFRESH_LEEWAY_S = 120.0


def provider_for(settings: Settings, connection: Connection) -> OAuthProvider:
    return oauth_provider(vendor(connection.system), settings, connection.external_org_id)


def _collect(calls: list[tuple[str, str, str, int | None, float]]) -> CallRecorder:
    def record(system: str, method: str, path_template: str, status: int | None, latency_ms: float) -> None:
        calls.append((system, method, path_template, status, latency_ms))

    return record


def _locked(session: Session, connection_id: int) -> Connection | None:
    """Load the connection holding its lock until the transaction ends."""
    if session.get_bind().dialect.name == "sqlite":
        # A write as the first statement takes SQLite's write lock (like BEGIN IMMEDIATE);
        # concurrent refreshers wait on the busy timeout instead of reading a stale row.
        session.execute(
            update(Connection).where(Connection.id == connection_id).values(updated_at=Connection.updated_at)
        )
        return session.get(Connection, connection_id, populate_existing=True)
    stmt = select(Connection).where(Connection.id == connection_id).with_for_update()
    return session.scalars(stmt, execution_options={"populate_existing": True}).first()


def _reconnect_message(session: Session, connection: Connection, provider: OAuthProvider) -> str:
    tenant = session.get(Tenant, connection.tenant_id)
    return f"Reconnect {provider.display_name} for {tenant.name if tenant else f'tenant {connection.tenant_id}'}"


def refresh_connection(
    session_factory: sessionmaker[Session],
    settings: Settings,
    connection_id: int,
    *,
    stale_access_token: str | None = None,
    leeway_s: float = REFRESH_LEEWAY_S,
    store: TokenStore | None = None,
    deadline: float | None = None,
    recorder: CallRecorder | None = None,
) -> TokenSet:
    """Refresh the connection's tokens unless someone else already did; return the fresh ones.

    ``stale_access_token`` is the token the caller found wanting (expiring, or answered 401):
    when the stored token differs and is still fresh, another process won the race and its
    token is returned without a refresh. Inside a job, ``deadline`` and ``recorder`` put the
    token call under the job's clock and on its step log, like any other vendor call.
    """
    store = store or token_store(settings)
    failure: Exception | None = None
    # The token call is reported after the commit: the recorder writes the job's steps, and on
    # SQLite that write would wait for the lock this transaction holds.
    calls: list[tuple[str, str, str, int | None, float]] = []
    with session_factory() as session, session.begin():
        connection = _locked(session, connection_id)
        if connection is None:
            raise AuthError(f"connection {connection_id} no longer exists", system="unknown")
        provider = provider_for(settings, connection)
        system = connection.system
        tokens = store.load(connection)
        if tokens is None or connection.status in ("revoked", "disconnected"):
            raise AuthError(_reconnect_message(session, connection, provider), system=system, status_code=401)
        if (
            stale_access_token is not None
            and tokens.access_token != stale_access_token
            and not tokens.expires_within(leeway_s)
        ):
            oauth_refresh_total.labels(system=system, outcome="lost_race").inc()
            return tokens
        now = dt.datetime.now(dt.UTC)
        if not tokens.refresh_token:
            connection.status = "expired"
            connection.last_error = "The access token expired and the vendor gave no refresh token"
            failure = AuthError(_reconnect_message(session, connection, provider), system=system, status_code=401)
        else:
            try:
                body = oauth_session(provider, deadline=deadline, recorder=_collect(calls)).refresh_token(
                    provider.token_url,
                    refresh_token=tokens.refresh_token,
                    **client_auth_kwargs(provider, refresh=True),
                )
            except InvalidGrantError:
                oauth_refresh_total.labels(system=system, outcome="invalid_grant").inc()
                connection.status = "revoked"
                connection.last_error = f"{provider.display_name} refused the refresh token (invalid_grant)"
                failure = AuthError(_reconnect_message(session, connection, provider), system=system, status_code=400)
            except (OAuth2Error, RequestException, ValueError) as exc:
                oauth_refresh_total.labels(system=system, outcome="error").inc()
                connection.status = "error"
                connection.last_error = f"Token refresh failed: {type(exc).__name__}"
                failure = TransientError(f"{system} token refresh failed: {type(exc).__name__}", system=system)
            else:
                fresh = TokenSet.from_response(dict(body), now=now)
                if fresh.refresh_token is None:  # vendors that do not rotate keep the old one
                    fresh = TokenSet(fresh.access_token, tokens.refresh_token, fresh.expires_at, fresh.scope)
                store.save(connection, fresh)
                connection.status = "connected"
                connection.last_error = None
                connection.last_refresh_at = now
                oauth_refresh_total.labels(system=system, outcome="ok").inc()
        connection.updated_at = now
    if recorder is not None:
        for call in calls:
            recorder(*call)
    # The status change is committed above; only then does the failure surface.
    if failure is not None:
        raise failure
    return fresh


class ConnectionAuth(httpx.Auth):
    """``httpx.Auth`` for one connection: adds its token, refreshes early and once on a 401."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        connection_id: int,
        *,
        leeway_s: float = REFRESH_LEEWAY_S,
        store: TokenStore | None = None,
        deadline: float | None = None,
        recorder: CallRecorder | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.deadline = deadline
        self.recorder = recorder
        self.settings = settings
        self.connection_id = connection_id
        self.leeway_s = leeway_s
        self.store = store or token_store(settings)
        self._lock = threading.Lock()
        self._tokens: TokenSet | None = None
        self._provider: OAuthProvider | None = None

    def prepare(self) -> None:
        """Load (or refresh) the token now, so the call itself goes out without waiting on the
        database: the quota governor admits a call just before this, and counts on it going at once."""
        self._current()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        tokens = self._current()
        self._apply(request, tokens)
        response = yield request
        if response.status_code == 401:
            tokens = self._refresh(stale=tokens.access_token)
            self._apply(request, tokens)
            yield request

    def _apply(self, request: httpx.Request, tokens: TokenSet) -> None:
        assert self._provider is not None
        request.headers[self._provider.token_header] = self._provider.header_value(tokens.access_token)

    def _current(self) -> TokenSet:
        with self._lock:
            if self._tokens is None:
                self._tokens = self._load()
            tokens = self._tokens
        if tokens.expires_within(self.leeway_s):
            return self._refresh(stale=tokens.access_token)
        return tokens

    def _load(self) -> TokenSet:
        with self.session_factory() as session:
            connection = session.get(Connection, self.connection_id)
            if connection is None:
                raise AuthError(f"connection {self.connection_id} no longer exists", system="unknown")
            self._provider = provider_for(self.settings, connection)
            tokens = self.store.load(connection)
            if tokens is None or connection.status in ("revoked", "disconnected"):
                message = _reconnect_message(session, connection, self._provider)
                raise AuthError(message, system=connection.system, status_code=401)
            return tokens

    def _refresh(self, *, stale: str) -> TokenSet:
        with self._lock:
            if self._tokens is not None and self._tokens.access_token != stale:
                return self._tokens  # another thread of this process refreshed meanwhile
            self._tokens = refresh_connection(
                self.session_factory,
                self.settings,
                self.connection_id,
                stale_access_token=stale,
                leeway_s=self.leeway_s,
                store=self.store,
                deadline=self.deadline,
                recorder=self.recorder,
            )
            return self._tokens
