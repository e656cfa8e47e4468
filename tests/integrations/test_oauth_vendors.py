"""The one OAuth flow for every vendor: connect → tokens encrypted → refresh → disconnect/revoke.

Xero's own details (organisation choice, rotation races, 401 refresh) are in test_oauth_xero.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oauth_live import Env, oauth_env

from integrations.connection_auth import refresh_connection
from integrations.http import AuthError
from integrations.oauth import OAuthFlowError, disconnect, finish_authorization
from integrations.providers import get_provider
from integrations.tokens import token_store
from sandbox import oauth_server

SHOP = "zixly-demo.myshopify.com"
# system → (shop, expected external org id or None when any, refresh tokens rotate?)
CASES = {
    "xero": (None, "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f", True),
    "hubspot": (None, None, False),
    "shopify": (SHOP, SHOP, True),
    "asana": (None, None, False),
}


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path) -> Iterator[Env]:
    import shutil

    path = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, path)
    with oauth_env(f"sqlite:///{path}", tmp_path) as env:
        yield env


@pytest.mark.parametrize("system", list(CASES))
def test_connect_refresh_and_disconnect(env: Env, system: str) -> None:
    if system not in oauth_server.SERVERS:
        pytest.skip(f"the {system} sandbox has no OAuth server yet")
    shop, org_id, rotates = CASES[system]
    connection = env.connect(system, shop)
    assert connection.status == "connected"
    if org_id is not None:
        assert connection.external_org_id == org_id
    store = token_store(env.settings)
    first = store.load(env.row(connection.id))
    assert first is not None and first.refresh_token
    assert first.access_token not in (env.row(connection.id).token_ciphertext or "")

    env.control(f"oauth/{system}/expire")
    second = refresh_connection(env.factory, env.settings, connection.id, stale_access_token=first.access_token)
    assert second.access_token != first.access_token
    assert (second.refresh_token != first.refresh_token) is rotates
    assert store.load(env.row(connection.id)) == second

    with env.factory() as session, session.begin():
        row = session.get(type(connection), connection.id)
        assert row is not None
        disconnect(session, env.settings, row)
    row = env.row(connection.id)
    assert (row.status, row.token_ciphertext, row.last_error) == ("disconnected", None, None)
    provider = get_provider(env.settings, system, shop=shop)
    if provider.revoke_url is not None:
        assert not _refresh_works(env, provider.token_url, second.refresh_token or "", system)


def _refresh_works(env: Env, token_url: str, refresh_token: str, system: str) -> bool:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    data |= {"client_id": f"zixly-dev-{system}", "client_secret": "sandbox-secret"}
    response = httpx.post(token_url, data=data, trust_env=False)
    return response.status_code == 200


def test_a_shopify_callback_with_a_forged_hmac_is_refused(env: Env) -> None:
    if "shopify" not in oauth_server.SERVERS:
        pytest.skip("the shopify sandbox has no OAuth server yet")
    query = env.consent("shopify", SHOP)
    query["hmac"] = "0" * 64
    with env.factory() as session, session.begin(), pytest.raises(OAuthFlowError, match="not signed"):
        finish_authorization(session, env.settings, "shopify", query)


def test_a_shopify_callback_for_another_shop_is_refused(env: Env) -> None:
    if "shopify" not in oauth_server.SERVERS:
        pytest.skip("the shopify sandbox has no OAuth server yet")
    from integrations.shopify.webhooks import query_signature

    query = env.consent("shopify", SHOP)
    query["shop"] = "evil-shop.myshopify.com"
    query["hmac"] = query_signature("sandbox-secret", {k: v for k, v in query.items() if k != "hmac"})
    with env.factory() as session, session.begin(), pytest.raises(OAuthFlowError, match="different shop"):
        finish_authorization(session, env.settings, "shopify", query)


def test_shopify_needs_a_myshopify_domain(env: Env) -> None:
    from integrations.oauth import start_authorization

    with env.factory() as session, session.begin(), pytest.raises(OAuthFlowError, match=r"myshopify\.com"):
        start_authorization(session, env.settings, env.tenant_id, "shopify", None, shop="evil.example.com")


@pytest.mark.parametrize("system", list(CASES))
def test_an_organisation_already_connected_to_another_tenant_is_refused_naming_it(env: Env, system: str) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from db.models import Connection, Tenant

    shop = CASES[system][0]
    first = env.connect(system, shop)
    if first.external_org_id is None:
        pytest.skip(f"the {system} sandbox names no organisation (Asana's webhooks are per connection anyway)")
    with env.factory() as session, session.begin():
        other = Tenant(name="Globex Corp")
        session.add(other)
        session.flush()
        other_id = other.id
    second = Env(env.base, env.settings, env.factory, other_id)
    query = second.consent(system, shop)
    with (
        env.factory() as session,
        pytest.raises(OAuthFlowError, match="already connected to the tenant Acme Outdoor Co"),
    ):
        finish_authorization(session, env.settings, system, query)
    with env.factory() as session:
        assert session.scalar(select(func.count()).select_from(Connection).where(Connection.tenant_id == other_id)) == 0
        # The database refuses it too, whatever the code above does.
        session.add(Connection(tenant_id=other_id, system=system, external_org_id=first.external_org_id))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    # Once the first tenant disconnects, the organisation is free for another.
    with env.factory() as session, session.begin():
        row = session.get(Connection, first.id)
        assert row is not None
        disconnect(session, env.settings, row)
    with env.factory() as session, session.begin():
        moved = finish_authorization(session, env.settings, system, second.consent(system, shop))
        assert (moved.tenant_id, moved.external_org_id) == (other_id, first.external_org_id)


@pytest.mark.parametrize("system", list(CASES))
def test_a_refresh_the_vendor_refuses_marks_the_connection_revoked(env: Env, system: str) -> None:
    # HubSpot refuses in its own shape (status BAD_REFRESH_TOKEN), the others in RFC 6749's
    # (error invalid_grant): both must read as a revoked grant, not as a passing failure.
    shop = CASES[system][0]
    connection = env.connect(system, shop)
    tokens = token_store(env.settings).load(env.row(connection.id))
    assert tokens is not None
    env.control(f"oauth/{system}/revoke")
    with pytest.raises(AuthError):
        refresh_connection(env.factory, env.settings, connection.id, stale_access_token=tokens.access_token)
    row = env.row(connection.id)
    assert row.status == "revoked" and "invalid_grant" in (row.last_error or ""), (row.status, row.last_error)
