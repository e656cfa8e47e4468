"""The Connections page's "Test connection": a real authenticated call per vendor (the sandbox over HTTP)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oauth_live import Env, oauth_env

from db.models import Connection
from integrations import connection_test, oauth

SHOP = "zixly-demo.myshopify.com"


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path) -> Iterator[Env]:
    path = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, path)
    with oauth_env(f"sqlite:///{path}", tmp_path) as env:
        yield env


def _probe(env: Env, connection_id: int, transport: httpx.BaseTransport | None = None) -> str:
    with env.factory() as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        return connection_test.test_connection(session, env.settings, row, transport=transport)


def test_the_dashboard_reaches_it_through_integrations_oauth() -> None:
    assert oauth.test_connection is connection_test.test_connection


@pytest.mark.parametrize(
    ("system", "shop", "expected"),
    [
        ("xero", None, "Xero: connected to "),
        ("hubspot", None, "HubSpot: connected ("),
        ("shopify", SHOP, f"Shopify: connected to zixly-demo ({SHOP})"),
        ("asana", None, "Asana: connected as Ana Operator (ana@zixly.example)"),
    ],
)
def test_a_working_connection_says_who_it_is_connected_to(
    env: Env, system: str, shop: str | None, expected: str
) -> None:
    connection = env.connect(system, shop)
    verdict = _probe(env, connection.id)
    assert verdict.startswith(expected), verdict
    row = env.row(connection.id)
    assert (row.status, row.last_error) == ("connected", None)


def test_an_expired_token_is_refreshed_on_the_way(env: Env) -> None:
    connection = env.connect("xero")
    env.control("oauth/xero/expire")
    assert _probe(env, connection.id).startswith("Xero: connected to ")
    assert env.row(connection.id).last_refresh_at is not None


def test_a_revoked_grant_becomes_a_message_and_a_revoked_connection(env: Env) -> None:
    connection = env.connect("xero")
    env.control("oauth/xero/revoke")
    env.control("oauth/xero/expire")
    verdict = _probe(env, connection.id)
    assert verdict.startswith("Xero: authentication failed — Reconnect Xero for Acme Outdoor Co"), verdict
    row = env.row(connection.id)
    assert row.status == "revoked" and row.last_error


def test_a_success_clears_an_earlier_error(env: Env) -> None:
    connection = env.connect("hubspot")
    with env.factory() as session, session.begin():
        row = session.get(Connection, connection.id)
        assert row is not None
        row.status, row.last_error = "error", "HubSpot answered 403"
    assert _probe(env, connection.id).startswith("HubSpot: connected")
    row = env.row(connection.id)
    assert (row.status, row.last_error) == ("connected", None)


def test_asana_asks_who_the_token_belongs_to(env: Env) -> None:
    connection = env.connect("asana")
    seen: list[httpx.Request] = []

    def asana(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"data": {"gid": "1201", "name": "Alice Ng", "email": "alice@agency.example"}}
        return httpx.Response(200, json=body)

    verdict = _probe(env, connection.id, httpx.MockTransport(asana))
    assert verdict == "Asana: connected as Alice Ng (alice@agency.example)"
    assert seen[0].url.path.endswith("/api/1.0/users/me")
    assert seen[0].headers["Authorization"].startswith("Bearer ")


def test_a_vendor_outage_is_a_message_and_leaves_the_status(env: Env) -> None:
    connection = env.connect("asana")

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"errors": [{"message": "Service unavailable"}]})

    verdict = _probe(env, connection.id, httpx.MockTransport(down))
    assert verdict.startswith("Asana: unreachable right now"), verdict
    row = env.row(connection.id)
    assert row.status == "connected" and row.last_error == verdict


def test_a_refused_call_marks_the_connection_in_error(env: Env) -> None:
    connection = env.connect("asana")

    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=json.dumps({"errors": [{"message": "Not authorized"}]}))

    verdict = _probe(env, connection.id, httpx.MockTransport(forbidden))
    assert verdict.startswith("Asana: the vendor refused the test call"), verdict
    assert env.row(connection.id).status == "error"
