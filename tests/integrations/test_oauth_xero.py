"""Connect Xero through the sandbox over real HTTP: consent, encrypted tokens, refresh, revoke."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oauth_live import Env, oauth_env
from sqlalchemy import select

from db.models import Connection, OAuthState
from integrations.connection_auth import ConnectionAuth, refresh_connection
from integrations.http import AuthError
from integrations.oauth import OAuthFlowError, disconnect, finish_authorization, start_authorization
from integrations.tokens import FernetTokenStore, token_store
from integrations.vendor import make_client
from integrations.xero import XERO
from sandbox.xero.data import DEMO_TENANT_ID, DEMO_TENANT_NAME


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    with oauth_env(db_url, tmp_path) as env:
        yield env


# Tests that exercise no locking run on SQLite only (PostgreSQL clones cost seconds each).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_connecting_stores_encrypted_tokens_and_the_chosen_organisation(env: Env) -> None:
    connection = env.connect()
    assert connection.status == "connected"
    assert connection.external_org_id == DEMO_TENANT_ID
    assert connection.org_name == DEMO_TENANT_NAME
    assert connection.scopes == env.settings.xero_scopes
    tokens = FernetTokenStore(env.settings.fernet_key()).load(env.row(connection.id))
    assert tokens is not None and tokens.refresh_token
    stored = env.row(connection.id).token_ciphertext or ""
    assert tokens.access_token not in stored and tokens.refresh_token not in stored
    with env.factory() as session:
        assert session.scalars(select(OAuthState)).all() == []  # the state is single use


@SQLITE_ONLY
def test_the_consent_url_carries_state_pkce_and_the_configured_scopes(env: Env) -> None:
    with env.factory() as session, session.begin():
        url = start_authorization(session, env.settings, env.tenant_id, "xero", None)
        (state,) = session.scalars(select(OAuthState)).all()
    query = parse_qs(urlsplit(url).query)
    assert query["state"] == [state.state]
    assert query["code_challenge_method"] == ["S256"] and state.code_verifier
    assert query["scope"] == [env.settings.xero_scopes]
    assert query["redirect_uri"] == [env.settings.public_url + "/oauth/xero/callback"]


@SQLITE_ONLY
def test_a_replayed_or_forged_callback_is_refused(env: Env) -> None:
    with env.factory() as session, session.begin(), pytest.raises(OAuthFlowError):
        finish_authorization(session, env.settings, "xero", {"code": "x", "state": "forged"})
    with env.factory() as session, session.begin(), pytest.raises(OAuthFlowError, match="not granted"):
        finish_authorization(session, env.settings, "xero", {"error": "access_denied", "state": "x"})


def test_an_expired_access_token_is_refreshed_once_on_401_and_the_rotated_token_kept(env: Env) -> None:
    connection = env.connect()
    store = token_store(env.settings)
    before = store.load(env.row(connection.id))
    with env.api(connection.id) as api:
        assert api.get("/connections").status_code == 200
        env.control("oauth/xero/expire")
        assert api.get("/connections").status_code == 200
    after = store.load(env.row(connection.id))
    assert before is not None and after is not None
    assert after.refresh_token != before.refresh_token  # Xero rotates; the new one is stored
    assert env.row(connection.id).last_refresh_at is not None
    # The spent refresh token is dead: only the stored one works from now on.
    env.control("oauth/xero/expire")
    with env.api(connection.id) as api:
        assert api.get("/connections").status_code == 200


@SQLITE_ONLY
def test_a_token_near_expiry_is_refreshed_before_the_call(env: Env) -> None:
    env.control("oauth/xero/settings", access_ttl=60)  # expires inside the 120 s leeway
    connection = env.connect()
    before = int(str(env.control("oauth/xero/settings")["refreshes"]))
    with env.api(connection.id) as api:
        assert api.get("/connections").status_code == 200  # the token still worked: no 401 needed
    assert int(str(env.control("oauth/xero/settings")["refreshes"])) == before + 1


@SQLITE_ONLY
def test_a_refresh_inside_a_job_is_a_step_of_the_job_and_keeps_to_its_deadline(env: Env) -> None:
    connection = env.connect()
    steps: list[tuple[str, str, str, int | None]] = []
    refresh_connection(
        env.factory,
        env.settings,
        connection.id,
        deadline=time.monotonic() + 5,
        recorder=lambda system, method, path, status, _ms: steps.append((system, method, path, status)),
    )
    assert steps == [("xero", "POST", "/xero/identity/connect/token", 200)]


def test_concurrent_refreshes_spend_the_single_use_refresh_token_once(env: Env) -> None:
    connection = env.connect()
    env.control("oauth/xero/settings", refresh_grace_s=0)
    stale = token_store(env.settings).load(env.row(connection.id))
    assert stale is not None
    start = int(str(env.control("oauth/xero/settings")["refreshes"]))
    errors: list[BaseException] = []

    def racer() -> None:
        try:
            refresh_connection(env.factory, env.settings, connection.id, stale_access_token=stale.access_token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert int(str(env.control("oauth/xero/settings")["refreshes"])) == start + 1
    assert env.row(connection.id).status == "connected"
    env.control("oauth/xero/expire")
    with env.api(connection.id) as api:
        assert api.get("/connections").status_code == 200  # the stored refresh token is the live one


def test_a_revoked_grant_marks_the_connection_revoked_and_asks_to_reconnect(env: Env) -> None:
    connection = env.connect()
    env.control("oauth/xero/revoke")
    env.control("oauth/xero/expire")
    with env.api(connection.id) as api, pytest.raises(AuthError, match="Reconnect Xero for Acme Outdoor Co"):
        api.get("/connections")
    row = env.row(connection.id)
    assert row.status == "revoked" and "invalid_grant" in (row.last_error or "")


def test_disconnect_revokes_at_xero_and_forgets_the_tokens(env: Env) -> None:
    connection = env.connect()
    tokens = token_store(env.settings).load(env.row(connection.id))
    assert tokens is not None
    with env.factory() as session, session.begin():
        row = session.get(Connection, connection.id)
        assert row is not None
        disconnect(session, env.settings, row)
    row = env.row(connection.id)
    assert row.status == "disconnected" and row.token_ciphertext is None and row.last_error is None
    # The vendor no longer honours the refresh token.
    token = httpx.post(
        f"{env.base}/xero/identity/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
        auth=("zixly-dev-xero", "sandbox-secret"),
        trust_env=False,
    )
    assert token.status_code == 400 and token.json()["error"] == "invalid_grant"


@SQLITE_ONLY
def test_the_xero_client_works_through_the_connection_and_survives_expiry(env: Env) -> None:
    connection = env.connect()
    auth = ConnectionAuth(env.factory, env.settings, connection.id)
    with make_client(XERO, env.settings, auth, connection.external_org_id) as xero:
        assert xero.get_invoice_by_number("INV-0042").status == "AUTHORISED"
        env.control("oauth/xero/expire")
        assert xero.get_invoice_by_number("INV-0042").invoice_number == "INV-0042"
