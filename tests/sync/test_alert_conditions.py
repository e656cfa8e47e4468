"""Conditions the alert check opens and resolves, on both databases: a broken connection, a
connection about to expire (the vendor's own rule), a stale sync, a queue backlog, a failing workflow."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db import jobs, schedules
from db.alerts import channels
from db.alerts.freshness import freshness
from db.models import ALERT_EVENTS, AlertDelivery, Connection, PipelineJob, SyncCursor, Tenant, WebhookDelivery
from integrations.forecast import live_forecasts
from integrations.tokens import TokenSet, token_store
from settings import Settings
from sync.alerts.check import check

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return settings.model_copy(update={"alert_interval_s": 0.0, "alert_group_wait_s": 0.0,
                                       "alert_backlog_threshold": 5, "alert_failure_share_min_jobs": 4})  # fmt: skip


@pytest.fixture
def tenant(session: Session, cfg: Settings) -> int:
    t = Tenant(name="Acme")
    session.add(t)
    session.flush()
    channels.create_channel(session, cfg.cipher(), name="all", kind="slack", events=list(ALERT_EVENTS),
                            config={"url": "https://hooks.slack.com/services/T/B/X"})  # fmt: skip
    session.commit()
    return t.id


def messages(session: Session, event: str) -> list[tuple[str, dict[str, Any]]]:
    session.rollback()  # a fresh snapshot (the tests commit what they set up)
    rows = session.scalars(select(AlertDelivery).where(AlertDelivery.event == event).order_by(AlertDelivery.id))
    return [(d.payload["state"], d.payload) for d in rows]


def run_check(engine: Engine, cfg: Settings, at: dt.datetime) -> None:
    check(engine, cfg, lambda: at)


def test_a_revoked_connection_alerts_once_and_resolves_when_reconnected(
    cfg: Settings, engine: Engine, session: Session, tenant: int
) -> None:
    conn = Connection(tenant_id=tenant, system="xero", status="revoked", last_error="invalid_grant")
    session.add(conn)
    session.commit()
    run_check(engine, cfg, NOW)
    run_check(engine, cfg, NOW + dt.timedelta(minutes=1))
    [(state, payload)] = messages(session, "connection_broken")
    assert state == "firing" and "Xero connection of Acme is revoked" in payload["title"]
    assert "invalid_grant" in payload["detail"] and "Reconnect Xero for Acme" in payload["detail"]
    conn.status, conn.last_error = "connected", None
    session.commit()
    run_check(engine, cfg, NOW + dt.timedelta(minutes=2))
    assert [s for s, _ in messages(session, "connection_broken")] == ["firing", "resolved"]


def test_the_expiry_forecast_follows_each_vendors_rule_and_warns_before(
    cfg: Settings, engine: Engine, session: Session, tenant: int
) -> None:
    store = token_store(cfg)
    xero = Connection(tenant_id=tenant, system="xero", status="connected", created_at=NOW - dt.timedelta(days=90),
                      last_refresh_at=NOW - dt.timedelta(days=55))  # fmt: skip
    shopify = Connection(tenant_id=tenant, system="shopify", status="connected", created_at=NOW)
    hubspot = Connection(tenant_id=tenant, system="hubspot", status="connected", created_at=NOW)
    session.add_all([xero, shopify, hubspot])
    session.flush()
    body = {"access_token": "a", "refresh_token": "r", "expires_in": 3600, "refresh_token_expires_in": 90 * 86400}
    store.save(shopify, TokenSet.from_response(body, now=NOW))
    schedules.create_schedule(session, tenant_id=tenant, job_type="xero-contacts-to-hubspot", cron="*/15 * * * *")
    session.commit()
    dies = {f.system: f.dies_at for f in live_forecasts(session, store)}
    assert dies == {"xero": xero.last_refresh_at + dt.timedelta(days=60),  # type: ignore[operator]
                    "shopify": NOW + dt.timedelta(days=90), "hubspot": None}  # fmt: skip
    run_check(engine, cfg, NOW)
    [(state, payload)] = messages(session, "connection_expiring")  # only Xero is within the 7 days
    assert state == "firing" and payload["title"].startswith("Xero connection of Acme dies ")
    # What the Connections page lists: the workflows that call Xero (on by default) and its schedules.
    stops = payload["detail"].split("these stop: ", 1)[1]
    assert stops.startswith("xero-invoice-paid, shopify-order-to-xero, #") and "xero-contacts-to-hubspot" in stops
    xero.last_refresh_at = NOW  # used again: the forecast moves 60 days out
    session.commit()
    run_check(engine, cfg, NOW + dt.timedelta(minutes=1))
    assert [s for s, _ in messages(session, "connection_expiring")] == ["firing", "resolved"]


def test_a_sync_not_completed_within_two_intervals_is_stale_since_then_and_in_the_metric(
    cfg: Settings, engine: Engine, session: Session, tenant: int
) -> None:
    made = NOW - dt.timedelta(hours=1)
    schedules.create_schedule(session, tenant_id=tenant, job_type="asana-tasks-poll", cron="*/15 * * * *", now=made)
    session.commit()
    [s] = freshness(session, now=NOW)
    assert (s.interval, s.stale_since, s.reason) == (dt.timedelta(minutes=15), made + dt.timedelta(minutes=30),
                                                     "never succeeded")  # fmt: skip
    run_check(engine, cfg, NOW)
    [(_, payload)] = messages(session, "sync_stale")
    assert f"stale since {made + dt.timedelta(minutes=30):%Y-%m-%d %H:%M} UTC" in payload["title"]
    assert (
        REGISTRY.get_sample_value("zixly_sync_stale_seconds", {"tenant": "Acme", "job_type": "asana-tasks-poll"})
        == 1800
    )
    job_id = jobs.enqueue(session, tenant_id=tenant, job_type="asana-tasks-poll", params={}).id
    session.execute(PipelineJob.__table__.update().where(PipelineJob.id == job_id)
                    .values(status="COMPLETED", completed_at=NOW))  # fmt: skip
    session.commit()
    run_check(engine, cfg, NOW + dt.timedelta(minutes=1))
    assert [s for s, _ in messages(session, "sync_stale")] == ["firing", "resolved"]
    assert (
        REGISTRY.get_sample_value("zixly_sync_stale_seconds", {"tenant": "Acme", "job_type": "asana-tasks-poll"}) == 0
    )


def test_a_cursor_that_does_not_move_while_the_vendor_reports_changes_is_stale(session: Session, tenant: int) -> None:
    schedules.create_schedule(session, tenant_id=tenant, job_type="xero-contacts-to-hubspot", cron="*/15 * * * *",
                              now=NOW - dt.timedelta(days=1))  # fmt: skip
    job_id = jobs.enqueue(session, tenant_id=tenant, job_type="xero-contacts-to-hubspot", params={}).id
    session.execute(PipelineJob.__table__.update().where(PipelineJob.id == job_id)
                    .values(status="COMPLETED", completed_at=NOW - dt.timedelta(minutes=5)))  # fmt: skip
    moved = NOW - dt.timedelta(hours=2)
    session.add(SyncCursor(tenant_id=tenant, system="xero", resource="contacts", value="x", updated_at=moved))
    session.commit()
    assert freshness(session, now=NOW)[0].stale_since is None  # runs succeed, and the vendor reported nothing
    session.add(WebhookDelivery(source="xero", delivery_id="d1", tenant_id=tenant, body=b"{}", signature_ok=True,
                                outcome="accepted", received_at=NOW - dt.timedelta(hours=1)))  # fmt: skip
    session.commit()
    [s] = freshness(session, now=NOW)
    assert s.stale_since == moved + dt.timedelta(minutes=30)
    assert s.reason == "cursor not moving while the vendor reports changes"


def test_a_queue_backlog_and_a_failing_workflow_alert_per_tenant(
    cfg: Settings, engine: Engine, session: Session, tenant: int
) -> None:
    for _ in range(5):
        jobs.enqueue(session, tenant_id=tenant, job_type="noop", params={}, run_at=NOW + dt.timedelta(days=1))
    for status in ("FAILED", "FAILED", "FAILED", "COMPLETED"):
        job_id = jobs.enqueue(session, tenant_id=tenant, job_type="shopify-order-to-xero", params={}).id
        error = "boom" if status == "FAILED" else None
        session.execute(PipelineJob.__table__.update().where(PipelineJob.id == job_id)
                        .values(status=status, completed_at=NOW, error=error))  # fmt: skip
    session.commit()
    run_check(engine, cfg, NOW + dt.timedelta(minutes=1))
    [(_, backlog)] = messages(session, "queue_backlog")
    assert backlog["title"] == "5 jobs queued for Acme" and backlog["tenants"] == {"Acme": 1}
    [(_, failing)] = messages(session, "workflow_failing")
    assert failing["title"] == "shopify-order-to-xero for Acme: 3 of 4 jobs failed in the last hour"
