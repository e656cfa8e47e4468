"""Fixtures for the listener: an app per database (SQLite and PostgreSQL), tenants, spec checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from listener_helpers import PORTAL, SHOP, XERO_ORG, listener_settings
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from openapi_core.testing import MockRequest
from sqlalchemy.orm import Session, sessionmaker

from db.models import Connection, Tenant
from settings import Settings
from webhook import create_app
from webhook.openapi import spec


@pytest.fixture
def listener_config(settings: Settings, tmp_path: Path) -> Settings:
    return listener_settings(settings.database_url, tmp_path)


@pytest.fixture
def app(listener_config: Settings, session_factory: sessionmaker[Session]) -> Iterator[Flask]:
    app = create_app(listener_config, session_factory=session_factory)
    app.testing = True
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def tenants(session: Session) -> dict[str, int]:
    """Two tenants: acme (connected to all four vendors) and globex (Shopify only)."""
    acme, globex = Tenant(name="acme"), Tenant(name="globex")
    session.add_all([acme, globex])
    session.flush()
    session.add_all(
        [
            Connection(tenant_id=acme.id, system="shopify", external_org_id=SHOP),
            Connection(tenant_id=acme.id, system="xero", external_org_id=XERO_ORG),
            Connection(tenant_id=acme.id, system="hubspot", external_org_id=PORTAL),
            Connection(tenant_id=acme.id, system="asana", external_org_id="workspace-1"),
            Connection(tenant_id=globex.id, system="shopify", external_org_id="globex.myshopify.com"),
        ]
    )
    session.commit()
    return {"acme": acme.id, "globex": globex.id}


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    # problem+json is JSON: teach openapi-core to read it like application/json.
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(spec("http://localhost"), config=config)


@pytest.fixture
def conforms(openapi: OpenAPI) -> Callable[[Any], None]:
    """Assert that a test-client response matches the OpenAPI document."""

    def check(response: Any) -> None:
        # The request's body was consumed by the app: only its method and path are needed here.
        request = MockRequest("http://localhost", response.request.method.lower(), response.request.path)
        openapi.validate_response(request, WerkzeugOpenAPIResponse(response))

    return check
