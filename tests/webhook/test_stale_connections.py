"""After a database restart the listener's pooled connections are dead; the first request on
one is run again on a fresh connection, so it is answered 2xx, not 503 (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from listener_helpers import SHOP, listener_settings, order_body, shopify_headers
from sqlalchemy import func, select, text

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, Tenant, WebhookDelivery
from webhook import create_app


def _kill_other_backends(pg_url: str) -> int:
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    return int(killed)


@pytest.mark.parametrize("route", ["/health", "/webhook/shopify"])
def test_the_first_request_after_a_restart_is_answered_on_a_fresh_connection(
    pg_url: str, tmp_path: Path, route: str
) -> None:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        session.add(Connection(tenant_id=tenant.id, system="shopify", external_org_id=SHOP))
        session.commit()
    app = create_app(listener_settings(pg_url, tmp_path))  # its own pool, no pre-ping: as in production
    client = app.test_client()
    assert client.get("/health").status_code == 200  # the pool now holds a connection
    assert _kill_other_backends(pg_url) >= 1  # what a database restart does to it

    if route == "/health":
        response = client.get("/health")
        assert response.status_code == 200, response.json
    else:
        body = order_body(4242)
        response = client.post(route, data=body, headers=shopify_headers(body, event_id="after-restart"))
        assert response.status_code == 202, response.json
        with make_session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
            assert session.scalar(select(func.count()).select_from(PipelineJob)) == len(response.json["job_ids"]) == 1
    engine.dispose()
