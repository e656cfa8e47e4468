from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from listener_helpers import listener_settings
from openapi_spec_validator import validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import make_engine, make_session_factory
from db.models import Connection, Schedule, Tenant
from settings import Settings
from webhook import create_app
from webhook.openapi import spec


def test_health_checks_the_database(client: FlaskClient, conforms: Callable[[Any], None]) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
    conforms(response)


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    app = create_app(listener_settings(url, tmp_path), session_factory=make_session_factory(make_engine(url)))
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]


def test_every_response_carries_security_headers_and_a_request_id(client: FlaskClient) -> None:
    for response in (client.get("/health"), client.get("/nowhere"), client.post("/webhook/shopify")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        assert len(response.headers["X-Request-Id"]) >= 8
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"


def test_unknown_paths_and_sources_are_problem_documents(client: FlaskClient) -> None:
    response = client.post("/webhook/stripe", json={})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404
    wrong_method = client.get("/webhook/shopify")
    assert wrong_method.status_code == 405
    assert wrong_method.mimetype == "application/problem+json"


def test_openapi_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert set(document["paths"]) >= {
        "/webhook/xero",
        "/webhook/hubspot",
        "/webhook/shopify",
        "/webhook/asana/{connection_id}",
        "/webhook/asana/{connection_id}/{token}",  # the target of a webhook Zixly creates
        "/webhook/jobs",
        "/webhook/jobs/{job_id}",
        "/oauth/{vendor}/callback",
        "/health",
        "/metrics",
    }
    assert document == spec("https://hooks.example.test")


def test_metrics_lists_the_listener_metrics(client: FlaskClient) -> None:
    client.get("/health")
    text = client.get("/metrics").get_data(as_text=True)
    assert "http_request_duration_seconds_bucket" in text
    assert 'route="/health"' in text


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_delivery_outcomes_and_queued_jobs_are_counted(client: FlaskClient, tenants: dict[str, int]) -> None:
    from listener_helpers import order_body, shopify_headers

    before = client.get("/metrics").get_data(as_text=True)
    body = order_body(31337)
    client.post("/webhook/shopify", data=body, headers=shopify_headers(body, event_id="m1"))
    client.post("/webhook/shopify", data=body, headers=shopify_headers(body, event_id="m1"))
    client.post("/webhook/shopify", data=body, headers=shopify_headers(body, secret="wrong"))
    client.post("/webhook/shopify", data=b"{", headers=shopify_headers(b"{"))
    after = client.get("/metrics").get_data(as_text=True)
    for outcome in ("accepted", "duplicate", "bad_signature", "rejected"):
        delta = _sample(after, "webhook_deliveries_total", outcome=outcome, source="shopify") - _sample(
            before, "webhook_deliveries_total", outcome=outcome, source="shopify"
        )
        assert delta == 1, outcome
    queued = _sample(after, "pipeline_jobs_queued_total", job_type="shopify-order-to-xero") - _sample(
        before, "pipeline_jobs_queued_total", job_type="shopify-order-to-xero"
    )
    assert queued == 1
    assert 'route="/webhook/shopify",status="202"' in after


def test_oauth_callback_refuses_unknown_vendors_and_states(
    client: FlaskClient, conforms: Callable[[Any], None]
) -> None:
    unknown = client.get("/oauth/stripe/callback?code=x&state=y")
    assert unknown.status_code == 404
    conforms(unknown)
    stale = client.get("/oauth/xero/callback?code=x&state=never-issued")
    assert stale.status_code == 400
    assert "start again" in stale.json["detail"]
    conforms(stale)
    denied = client.get("/oauth/hubspot/callback?error=access_denied")
    assert denied.status_code == 400


def test_a_successful_oauth_callback_creates_the_tenants_default_schedules(
    client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant that had HubSpot and now connects Xero gets its contacts sync scheduled, once."""
    tenant = Tenant(name="late")
    session.add(tenant)
    session.flush()
    session.add(Connection(tenant_id=tenant.id, system="hubspot", external_org_id="portal-late"))
    session.commit()
    tenant_id = tenant.id

    def connected(db: Session, _settings: Settings, system: str, _query: Mapping[str, str]) -> Connection:
        # What finish_authorization leaves behind once the vendor accepted the code.
        found = db.scalar(select(Connection).where(Connection.tenant_id == tenant_id, Connection.system == system))
        connection = found or Connection(tenant_id=tenant_id, system=system, external_org_id="org-late")
        db.add(connection)
        db.flush()
        return connection

    monkeypatch.setattr("webhook.service.finish_authorization", connected)
    assert client.get("/oauth/xero/callback?code=c&state=s").status_code == 200
    session.expire_all()
    schedules = session.scalars(select(Schedule).where(Schedule.tenant_id == tenant_id)).all()
    assert [s.job_type for s in schedules] == ["xero-contacts-to-hubspot"]
    assert client.get("/oauth/xero/callback?code=c&state=s").status_code == 200  # reconnecting adds none
    session.expire_all()
    assert len(session.scalars(select(Schedule).where(Schedule.tenant_id == tenant_id)).all()) == 1
