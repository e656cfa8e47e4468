"""A fifth vendor is one record and one registration: routes, OAuth and links follow.

"Widgetly" lives only in this file, the way ``integrations/<vendor>/`` would hold it (see
docs/adding-a-vendor.md): its own settings class, client, webhook signature and record. The
product code is not touched; the record is registered through ``integrations.registry.register``
before the listener app is built.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask, Response, jsonify, request
from listener_helpers import listener_settings
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session, sessionmaker

from db.models import Connection, Tenant
from integrations import registry
from integrations.events import VendorEvent, load_json
from integrations.http import ApiClient
from integrations.links import record_url
from integrations.oauth import start_authorization
from integrations.vendor import (
    AppCredentials,
    Delivery,
    HeaderDoc,
    OAuthEndpoints,
    Vendor,
    WebhookDoc,
    Webhooks,
)
from settings import Settings
from tests.servers import serving
from webhook import create_app
from webhook.openapi import spec

SYSTEM = "widgetly"
CLIENT_SECRET = "widgetly-app-secret"
ACCOUNT = "acct-7"
SIGNATURE_HEADER = "X-Widgetly-Signature"


# -- what integrations/widgetly/ would hold ------------------------------------------------------


class WidgetlySettings(BaseSettings):
    """The vendor's own knobs, read from ``ZIXLY_WIDGETLY_*`` (nothing in settings.py)."""

    model_config = SettingsConfigDict(env_prefix="ZIXLY_WIDGETLY_", extra="ignore")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_url: str = "https://api.widgetly.example"


def _credentials(_settings: Settings) -> AppCredentials:
    own = WidgetlySettings()
    return AppCredentials(own.client_id, own.client_secret.get_secret_value() if own.client_secret else None)


def _endpoints(_settings: Settings, _org: str | None) -> OAuthEndpoints:
    api = WidgetlySettings().api_url
    return OAuthEndpoints(
        authorize_url=f"{api}/oauth/authorize",
        token_url=f"{api}/oauth/token",
        revoke_url=None,
        scopes=("widgets.read",),
        api_url=api,
    )


class WidgetlyClient(ApiClient):
    system: ClassVar[str] = SYSTEM

    def whoami(self) -> dict[str, Any]:
        body: dict[str, Any] = self.request("GET", "/me").json()
        return body


def _client(base_url: str, auth: httpx.Auth | None, _org: str | None, **kwargs: Any) -> WidgetlyClient:
    return WidgetlyClient(base_url, auth, **kwargs)


def _resolve_org(
    client: Callable[[], WidgetlyClient], _token: Mapping[str, Any], _input: str | None
) -> tuple[str | None, str | None]:
    with client() as widgetly:
        me = widgetly.whoami()
    return str(me["account"]), str(me["name"])


def _signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verify(secret: str, delivery: Delivery) -> bool:
    presented = next((v for k, v in delivery.headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    return hmac.compare_digest(_signature(secret, delivery.body), presented)


def _parse(delivery: Delivery, _org: str | None) -> list[VendorEvent]:
    data = load_json(delivery.body)
    if not isinstance(data, dict) or "id" not in data:
        raise ValueError("a Widgetly delivery is one event object")
    return [
        VendorEvent(
            source=SYSTEM,
            event_type=str(data.get("type", "widget.updated")),
            external_ids={"widget_id": str(data.get("widget", ""))},
            occurred_at=dt.datetime.now(dt.UTC),
            dedup_key=f"{SYSTEM}:{data['id']}",
            org_id=str(data.get("account") or "") or None,
            payload=data,
        )
    ]


WIDGETLY: Vendor[WidgetlyClient] = Vendor(
    system=SYSTEM,
    display_name="Widgetly",
    credentials=_credentials,
    oauth=_endpoints,
    api_url=lambda _settings, _org: WidgetlySettings().api_url,
    client=_client,
    resolve_org=_resolve_org,
    probe=lambda client, _org: f"connected as {client.whoami()['name']}",
    webhooks=Webhooks(
        verify=_verify,
        parse=_parse,
        secret=lambda settings: _credentials(settings).client_secret,
        success_status=202,
        kept_headers=frozenset({SIGNATURE_HEADER.lower()}),
        replay_body=lambda event: event,
        doc=WebhookDoc(
            summary="Widgetly webhook (one event)",
            body_schema={"type": "object"},
            headers=(HeaderDoc(SIGNATURE_HEADER, "hex HMAC-SHA256 of the body with the app secret"),),
        ),
    ),
    record_link=lambda kind, rid, org: f"https://app.widgetly.example/{org}/{kind}s/{rid}" if org else None,
)


# -- the vendor's side: a tiny token endpoint and API on 127.0.0.1 -------------------------------


def _fake_widgetly() -> Flask:
    app = Flask("fake-widgetly")

    @app.post("/oauth/token")
    def token() -> Response:
        form = request.form
        assert form["grant_type"] == "authorization_code" and form["code"] == "the-code"
        assert form["client_id"] == "widgetly-id" and form["client_secret"] == CLIENT_SECRET
        assert form.get("code_verifier"), "PKCE verifier missing"
        return jsonify(access_token="w-access", refresh_token="w-refresh", expires_in=3600, token_type="Bearer")

    @app.get("/me")
    def me() -> Response:
        if request.headers.get("Authorization") != "Bearer w-access":
            return Response(status=401)
        return jsonify(account=ACCOUNT, name="Widget Co")

    return app


@pytest.fixture
def widgetly(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Widgetly registered and its fake API served; yields the API's base URL."""
    with serving(_fake_widgetly()) as base:
        monkeypatch.setenv("ZIXLY_WIDGETLY_CLIENT_ID", "widgetly-id")
        monkeypatch.setenv("ZIXLY_WIDGETLY_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("ZIXLY_WIDGETLY_API_URL", base)
        registry.register(WIDGETLY)
        try:
            yield base
        finally:
            registry.unregister(SYSTEM)


@pytest.fixture
def listener(widgetly: str, settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> Flask:
    app = create_app(listener_settings(settings.database_url, tmp_path), session_factory=session_factory)
    app.testing = True
    return app


def test_a_registered_vendor_connects_receives_verified_webhooks_and_links(
    listener: Flask, settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    client = listener.test_client()
    config = listener_settings(settings.database_url, tmp_path)
    with session_factory() as session, session.begin():
        tenant = Tenant(name="widget-shop")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
        consent = start_authorization(session, config, tenant_id, SYSTEM, "alice@agency.example")

    # OAuth: the consent URL is the vendor's, with state and PKCE; the callback exchanges the
    # code at the vendor's token endpoint and asks the vendor's API which account it is.
    query = parse_qs(urlsplit(consent).query)
    assert consent.startswith(f"{WidgetlySettings().api_url}/oauth/authorize?")
    assert query["code_challenge_method"] == ["S256"]
    done = client.get(f"/oauth/{SYSTEM}/callback", query_string={"state": query["state"][0], "code": "the-code"})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Connected Widgetly" in done.get_data(as_text=True)
    with session_factory() as session:
        row = session.query(Connection).filter_by(tenant_id=tenant_id, system=SYSTEM).one()
        assert (row.external_org_id, row.org_name, row.status) == (ACCOUNT, "Widget Co", "connected")

    # Webhooks: a route of its own, verified with its signature.
    body = json.dumps({"id": "ev-1", "account": ACCOUNT, "type": "widget.updated", "widget": "42"}).encode()
    signed = {"Content-Type": "application/json", SIGNATURE_HEADER: _signature(CLIENT_SECRET, body)}
    accepted = client.post(f"/webhook/{SYSTEM}", data=body, headers=signed)
    assert accepted.status_code == 202 and accepted.get_json() == {"job_ids": []}
    forged = {**signed, SIGNATURE_HEADER: _signature("not-the-secret", body)}
    assert client.post(f"/webhook/{SYSTEM}", data=body, headers=forged).status_code == 401

    # The OpenAPI document and the dashboard's deep links know it too.
    assert f"/webhook/{SYSTEM}" in spec("https://hooks.example.test")["paths"]
    assert record_url(SYSTEM, "widgets", "42", ACCOUNT) == f"https://app.widgetly.example/{ACCOUNT}/widgets/42"


def test_an_unregistered_vendor_has_no_routes(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    app = create_app(listener_settings(settings.database_url, tmp_path), session_factory=session_factory)
    client = app.test_client()
    assert (
        client.post(f"/webhook/{SYSTEM}", data=b"{}", headers={"Content-Type": "application/json"}).status_code == 404
    )
    assert client.get(f"/oauth/{SYSTEM}/callback").status_code == 404
