from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from listener_helpers import listener_settings
from openapi_spec_validator import validate

from db.engine import make_engine, make_session_factory
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
