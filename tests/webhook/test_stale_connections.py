"""After a database restart the listener's pooled connections are dead; the first request on
one is run again on a fresh connection, so it is answered 2xx, not 503 (real PostgreSQL). On
SQLite a request refused because another process wrote first runs again too (a real file)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from listener_helpers import SHOP, listener_settings, order_body, shopify_headers
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, Tenant, WebhookDelivery
from webhook import create_app, run_again_when_safe
from webhook.context import get_session


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


def _sqlite_app(tmp_path: Path, sqlite_template: Path) -> tuple[Any, str]:
    path = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    with make_session_factory(make_engine(url))() as session:
        session.add(Tenant(name="acme"))
        session.commit()
    return create_app(listener_settings(url, tmp_path)), url


def test_a_request_that_met_another_processs_write_on_sqlite_runs_again(tmp_path: Path, sqlite_template: Path) -> None:
    """SQLite refuses at once a transaction that read, then writes after another process wrote
    (``make run``'s runner, say): "database is locked", whatever the busy timeout. Nothing was
    committed, so the request runs again and succeeds."""
    app, url = _sqlite_app(tmp_path, sqlite_template)
    other = make_engine(url)
    attempts: list[int] = []

    def request_work() -> str:
        session = get_session()
        tenant = session.scalars(select(Tenant)).one()  # the read takes the transaction's snapshot
        attempts.append(tenant.id)
        if len(attempts) == 1:
            with other.begin() as conn:  # another process writes meanwhile
                conn.execute(text("UPDATE tenants SET name = 'acme (runner)'"))
        tenant.name = "acme (listener)"
        session.commit()
        return tenant.name

    with app.app_context():
        assert run_again_when_safe(request_work) == "acme (listener)"
    assert len(attempts) == 2
    with other.connect() as conn:
        assert conn.scalar(text("SELECT name FROM tenants")) == "acme (listener)"
    other.dispose()


def test_a_request_that_committed_is_not_run_again(tmp_path: Path, sqlite_template: Path) -> None:
    app, url = _sqlite_app(tmp_path, sqlite_template)
    other = make_engine(url)
    attempts: list[int] = []

    def request_work() -> None:
        session = get_session()
        session.add(Tenant(name="made once"))
        session.commit()  # done: running it again would make a second one
        attempts.append(1)
        session.scalars(select(Tenant)).all()
        with other.begin() as conn:
            conn.execute(text("UPDATE tenants SET name = name"))
        session.execute(text("UPDATE tenants SET name = name"))

    with app.app_context(), pytest.raises(DBAPIError):
        run_again_when_safe(request_work)
    assert attempts == [1]
    other.dispose()
