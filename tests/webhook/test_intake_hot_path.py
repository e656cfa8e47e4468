"""The listener's hot path: one-statement intake, refused requests, cached org lookups, wake-ups."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import psycopg
import time_machine
from listener_helpers import SHOP, listener_settings, order_body, shopify_headers
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, RateLimitHit, Tenant, WebhookDelivery
from webhook import create_app
from webhook.orgs import OrgCache


def _post(client: Any, order: int, event_id: str | None = None) -> Any:
    body = order_body(order)
    return client.post("/webhook/shopify", data=body, headers=shopify_headers(body, event_id=event_id or str(order)))


def test_a_redelivery_after_its_delivery_row_was_pruned_points_at_the_existing_job(
    client: Any, session: Session, tenants: dict[str, int]
) -> None:
    [job_id] = _post(client, 7).json["job_ids"]
    session.execute(delete(WebhookDelivery))  # retention removed the delivery, the job stays
    session.commit()
    again = _post(client, 7)
    assert again.status_code == 202
    assert again.json["job_ids"] == [job_id]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(PipelineJob)) == 1
    assert session.scalars(select(WebhookDelivery.job_ids)).one() == [job_id]


def test_a_refused_request_is_not_counted_and_stores_nothing(
    settings: Any, tmp_path: Path, session: Session, session_factory: sessionmaker[Session], tenants: dict[str, int]
) -> None:
    config = listener_settings(settings.database_url, tmp_path, webhook_rate_limit_per_minute=2)
    client = create_app(config, session_factory=session_factory).test_client()
    with time_machine.travel(dt.datetime(2026, 11, 26, 12, 0, 15, tzinfo=dt.UTC), tick=False):
        assert [_post(client, i).status_code for i in range(4)] == [202, 202, 429, 429]
    session.rollback()
    assert session.scalars(select(RateLimitHit.count)).all() == [2]
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
    assert session.scalar(select(func.count()).select_from(PipelineJob)) == 2


def test_a_duplicate_answers_the_original_jobs_and_adds_nothing(
    client: Any, session: Session, tenants: dict[str, int]
) -> None:
    first = _post(client, 9, event_id="same")
    second = _post(client, 9, event_id="same")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json == {"job_ids": first.json["job_ids"], "duplicate": True}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(PipelineJob)) == 1


def test_org_lookups_are_cached_for_the_ttl_then_read_again(session: Session, tenants: dict[str, int]) -> None:
    now = [100.0]
    cache = OrgCache(ttl_s=2.0, clock=lambda: now[0])
    other = "moved.myshopify.com"

    def resolve(org: str) -> dict[str, Any]:
        return dict(cache.resolve(lambda: session, "shopify", [org], ()))

    assert resolve(SHOP)[SHOP].tenant_id == tenants["acme"]
    assert resolve(other) == {}  # unknown orgs are cached too: a flood of them costs one query per TTL
    session.execute(update(Connection).where(Connection.external_org_id == SHOP).values(external_org_id=other))
    session.commit()
    now[0] += 1.9
    assert SHOP in resolve(SHOP) and resolve(other) == {}  # still the cached answers
    now[0] += 0.2
    assert resolve(SHOP) == {}  # expired: the change shows
    assert resolve(other)[other].tenant_id == tenants["acme"]


def test_runners_are_woken_after_the_delivery_commits(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    with factory() as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        session.add(Connection(tenant_id=tenant.id, system="shopify", external_org_id=SHOP))
        session.commit()
    client = create_app(listener_settings(pg_url, tmp_path), session_factory=factory).test_client()
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as listen:
        listen.execute("LISTEN zixly_jobs")
        [job_id] = _post(client, 11).json["job_ids"]
        deadline = time.monotonic() + 10
        woken = False
        while not woken and time.monotonic() < deadline:
            woken = any(True for _ in listen.notifies(timeout=0.5, stop_after=1))
        assert woken
        committed = listen.execute("SELECT status FROM pipeline_jobs WHERE id = %s", (job_id,)).fetchone()
        assert committed == ("QUEUED",)
    engine.dispose()
