"""Shopify's expiring offline tokens, by Shopify's rules, over real HTTP against the sandbox.

The sandbox grants what Shopify grants: a token that never expires unless the code exchange
sends ``expiring=1``, so a Zixly that forgot to ask would get a connection without expiry or
refresh token and these tests would say so. Refresh rotates the refresh token, and the old one
stays valid until the new access token is first used (Shopify's changelog of 2026-08-28).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oauth_live import Env, oauth_env

from integrations.connection_auth import refresh_connection
from integrations.tokens import token_store

SHOP = "zixly-demo.myshopify.com"
ORDER_QUERY = {"query": "{ shop { name } }"}


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        path = tmp_path / "zixly.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
    with oauth_env(url, tmp_path) as env:
        yield env


def _token_url(env: Env) -> str:
    return f"{env.base}/shopify/{SHOP}/admin/oauth/access_token"


def _exchange(env: Env, **extra: str) -> dict[str, object]:
    """A code exchange as a client of Shopify's would send it (JSON), with ``extra`` fields."""
    query = env.consent("shopify", SHOP)
    body = {"client_id": "zixly-dev-shopify", "client_secret": "sandbox-secret", "code": query["code"], **extra}
    answer = httpx.post(_token_url(env), json=body, trust_env=False)
    assert answer.status_code == 200, answer.text
    token: dict[str, object] = answer.json()
    return token


def _refresh(env: Env, refresh_token: str) -> httpx.Response:
    body = {
        "client_id": "zixly-dev-shopify",
        "client_secret": "sandbox-secret",
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return httpx.post(_token_url(env), json=body, trust_env=False)


def _use(env: Env, access_token: str) -> int:
    """One Admin API call with the token; returns the status."""
    url = f"{env.base}/shopify/{SHOP}/admin/api/2026-10/graphql.json"
    headers = {"X-Shopify-Access-Token": access_token}
    return httpx.post(url, json=ORDER_QUERY, headers=headers, trust_env=False).status_code


def test_the_sandbox_grants_a_non_expiring_token_unless_expiring_is_asked_for(env: Env) -> None:
    plain = _exchange(env)
    assert set(plain) == {"access_token", "scope"}  # no expires_in, no refresh token: it never expires
    env.control("oauth/shopify/expire")
    assert _use(env, str(plain["access_token"])) == 200

    expiring = _exchange(env, expiring="1")
    assert expiring["expires_in"] == 3600
    assert expiring["refresh_token"] and int(str(expiring["refresh_token_expires_in"])) > 3600
    env.control("oauth/shopify/expire")
    assert _use(env, str(expiring["access_token"])) == 401


def test_zixly_asks_for_an_expiring_offline_token(env: Env) -> None:
    """Without ``expiring=1`` in the exchange this connection would have no expiry and no refresh token."""
    before = dt.datetime.now(dt.UTC)
    connection = env.connect("shopify", SHOP)
    tokens = token_store(env.settings).load(env.row(connection.id))
    assert tokens is not None and tokens.refresh_token
    assert tokens.expires_at is not None
    assert dt.timedelta(minutes=59) < tokens.expires_at - before <= dt.timedelta(minutes=61)


def test_refresh_rotates_and_the_old_refresh_token_lives_until_the_new_access_token_is_used(env: Env) -> None:
    connection = env.connect("shopify", SHOP)
    store = token_store(env.settings)
    first = store.load(env.row(connection.id))
    assert first is not None and first.refresh_token

    env.control("oauth/shopify/expire")
    second = refresh_connection(env.factory, env.settings, connection.id, stale_access_token=first.access_token)
    assert second.refresh_token and second.refresh_token != first.refresh_token  # rotated
    assert store.load(env.row(connection.id)) == second

    # The refresh answer could have been lost: until the new access token is used, the old
    # refresh token still works (each use mints another pair).
    retried = _refresh(env, first.refresh_token)
    assert retried.status_code == 200, retried.text

    # Zixly uses its new token (a real API call through the connection's auth) ...
    with env.api(connection.id, prefix=f"/shopify/{SHOP}") as api:
        assert api.post("/admin/api/2026-10/graphql.json", json=ORDER_QUERY).status_code == 200
    # ... and from then on the old refresh token is refused, while the new one works.
    refused = _refresh(env, first.refresh_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert _refresh(env, second.refresh_token).status_code == 200


def test_a_refresh_token_past_its_own_expiry_is_refused(env: Env) -> None:
    env.control("oauth/shopify/settings", refresh_ttl=0)
    token = _exchange(env, expiring="1")
    answer = _refresh(env, str(token["refresh_token"]))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
