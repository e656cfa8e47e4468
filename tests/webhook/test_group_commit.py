"""Group commit (webhook/group.py): deliveries arriving together, one transaction, the same outcomes.

The in-process tests hold the committer back until every delivery of the test is waiting, so
they are written as one batch whatever the machine's speed; the process test fires concurrent
deliveries at the real listener (2 workers) and checks the books.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from listener_helpers import SHOP, SHOPIFY_SECRET, listener_settings, order_body, shopify_headers
from process import listener_process
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from db.intake import OrgTenant
from db.models import Connection, JobStep, PipelineJob, RateLimitHit, Tenant, WebhookDelivery
from webhook import create_app

Post = tuple[bytes, dict[str, str]]


@pytest.fixture
def pg_factory(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    with factory() as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        session.add(Connection(tenant_id=tenant.id, system="shopify", external_org_id=SHOP))
        session.commit()
    yield factory
    engine.dispose()


def _app(pg_url: str, tmp_path: Path, factory: sessionmaker[Session], **overrides: Any) -> Flask:
    app = create_app(listener_settings(pg_url, tmp_path, **overrides), session_factory=factory)
    assert app.extensions["zixly"].group is not None  # on PostgreSQL by default
    return app


def _delivery(order: int, event_id: str, *, shop: str = SHOP, price: str = "12.50") -> Post:
    body = order_body(order).replace(b'"12.50"', f'"{price}"'.encode())
    return body, shopify_headers(body, event_id=event_id, shop=shop)


def _one_batch(app: Flask, posts: Sequence[Post]) -> list[Any]:
    """Post every delivery at once; the committer starts only when all of them are waiting."""
    group = app.extensions["zixly"].group
    group._pid, group._thread = os.getpid(), threading.current_thread()  # as if running: none written yet

    def post(delivery: Post) -> Any:
        return app.test_client().post("/webhook/shopify", data=delivery[0], headers=delivery[1])

    with ThreadPoolExecutor(len(posts)) as pool:
        answers = [pool.submit(post, p) for p in posts]
        deadline = time.monotonic() + 60
        while len(group._waiting) < len(posts) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(group._waiting) == len(posts)
        group._thread = threading.Thread(target=group._loop, daemon=True)
        group._thread.start()
        out = [a.result() for a in answers]
    group.close()
    return out


def _count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_one_batch_stores_each_delivery_and_its_job_and_a_copy_is_a_duplicate(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session]
) -> None:
    app = _app(pg_url, tmp_path, pg_factory)
    copy = _delivery(2, "e2")
    answers = _one_batch(app, [_delivery(1, "e1"), copy, copy, _delivery(3, "e3")])
    assert sorted(a.status_code for a in answers) == [200, 202, 202, 202]
    [dup] = [a for a in answers if a.status_code == 200]
    [original] = [a for a, p in zip(answers, [1, 2, 2, 3], strict=True) if p == 2 and a.status_code == 202]
    assert dup.json == {"job_ids": original.json["job_ids"], "duplicate": True}
    with pg_factory() as session:
        rows = session.execute(select(WebhookDelivery.delivery_id, WebhookDelivery.job_ids)).all()
        jobs = set(session.scalars(select(PipelineJob.id)))
        counters = session.scalars(select(RateLimitHit.count)).all()
    assert len(rows) == 3 and len(jobs) == 3  # one row and one job per delivery
    assert {j for _, ids in rows for j in ids} == jobs
    accepted = [a.json["job_ids"] for a in answers if a.status_code == 202]
    assert sorted(j for ids in accepted for j in ids) == sorted(jobs)
    assert counters == [4]  # every request counted, as the one-delivery path does


def test_the_committer_plans_each_statement_once(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session]
) -> None:
    """Its connections keep generic plans: planned afresh per batch, the debounce look-up alone
    cost 0.6 ms of PostgreSQL's CPU (docs/benchmarks.md, "Webhook listener", 2026-12-07 08:00)."""
    app = _app(pg_url, tmp_path, pg_factory)
    client = app.test_client()
    for n in range(12):  # one at a time: twelve batches of one
        body, headers = _delivery(n, f"e{n}")
        assert client.post("/webhook/shopify", data=body, headers=headers).status_code == 202
    group = app.extensions["zixly"].group
    with group._engine.connect() as conn:  # the committer's own connection (it used only one)
        plans = conn.exec_driver_sql("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements").all()
    group.close()
    assert _count(pg_factory, WebhookDelivery) == 12
    [(_, generic, custom)] = [p for p in plans if "jsonb_to_recordset" in p[0] and "pipeline_jobs" in p[0]]
    assert generic >= 7 and custom == 0, plans  # prepared at the fifth run, then never planned again


def test_a_bad_delivery_in_a_batch_fails_alone(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """A tenant removed while the org cache still names it: its jobs cannot be inserted."""
    app = _app(pg_url, tmp_path, pg_factory)
    gone = "gone.myshopify.com"
    app.extensions["zixly"].orgs._entries[("shopify", gone)] = (
        time.monotonic() + 3600,
        OrgTenant(999_999, frozenset()),
    )
    caplog.set_level(logging.WARNING, "webhook.intake")
    answers = _one_batch(app, [_delivery(1, "e1"), _delivery(2, "e2", shop=gone), _delivery(3, "e3")])
    assert [a.status_code for a in answers] == [202, 503, 202]
    assert "group commit of 3 deliveries failed" in caplog.text  # the batch was tried, then one by one
    assert _count(pg_factory, WebhookDelivery) == 2
    assert _count(pg_factory, PipelineJob) == 2
    with pg_factory() as session:  # the failed batch gave its hits back; each delivery counted once alone
        counts = dict(session.execute(select(RateLimitHit.key, RateLimitHit.count)).all())
    tenant = session.scalars(select(Tenant.id)).one()
    assert [n for key, n in counts.items() if key.startswith(f"tenant:{tenant}:")] == [2]


def test_a_batch_holds_no_rate_limit_counter_while_it_writes(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session]
) -> None:
    """Two workers' batches for one tenant: the second is not kept waiting by the first's transaction.

    The counters are counted and committed before the batch's transaction (``db.intake_batch``); in
    it, the counter's row lock was held until the batch committed and the workers took turns.
    """
    first, second = _app(pg_url, tmp_path, pg_factory), _app(pg_url, tmp_path, pg_factory)
    group = first.extensions["zixly"].group
    holding, release = threading.Event(), threading.Event()
    store = group._store

    def held_store(*args: Any) -> Any:
        out = store(*args)  # the batch's rows are written, its transaction open
        holding.set()
        release.wait(20)
        return out

    group._store = held_store
    with ThreadPoolExecutor(1) as pool:
        body, headers = _delivery(1, "e1")
        held = pool.submit(first.test_client().post, "/webhook/shopify", data=body, headers=headers)
        assert holding.wait(30)
        started = time.monotonic()
        body, headers = _delivery(2, "e2")
        answer = second.test_client().post("/webhook/shopify", data=body, headers=headers)
        waited = time.monotonic() - started
        release.set()
        assert held.result().status_code == 202
    for app in (first, second):
        app.extensions["zixly"].group.close()
    assert answer.status_code == 202
    assert waited < 10  # not until the first batch let go (20 s)
    with pg_factory() as session:
        assert session.scalars(select(RateLimitHit.count)).all() == [2]


def test_events_about_one_order_in_one_batch_make_one_job(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session]
) -> None:
    app = _app(pg_url, tmp_path, pg_factory)
    answers = _one_batch(app, [_delivery(7, "a", price="1.00"), _delivery(7, "b", price="2.00")])
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json["job_ids"] == answers[1].json["job_ids"]
    assert _count(pg_factory, WebhookDelivery) == 2
    with pg_factory() as session:
        [job] = session.scalars(select(PipelineJob)).all()
        steps = session.scalars(select(JobStep.message).where(JobStep.job_id == job.id)).all()
    assert job.run_at > job.created_at  # debounced: it runs after its window
    assert len(steps) == 1 and steps[0].startswith("Debounced: shopify orders/paid")


def test_a_tenant_over_its_limit_in_a_batch_is_refused_exactly(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session]
) -> None:
    app = _app(pg_url, tmp_path, pg_factory, webhook_rate_limit_per_minute=2)
    if 60 - time.time() % 60 < 15:  # keep the batch inside one rate-limit window
        time.sleep(60 - time.time() % 60 + 0.5)
    answers = _one_batch(app, [_delivery(n, f"e{n}") for n in range(3)])
    assert sorted(a.status_code for a in answers) == [202, 202, 429]
    assert _count(pg_factory, WebhookDelivery) == 2
    with pg_factory() as session:
        assert session.scalars(select(RateLimitHit.count)).all() == [2]


def test_concurrent_deliveries_through_the_real_listener(
    pg_url: str, tmp_path: Path, pg_factory: sessionmaker[Session]
) -> None:
    """Every 202 has exactly one delivery row and one job; every copy of a delivery gets its jobs."""
    env = {
        "ZIXLY_DATABASE_URL": pg_url,
        "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
        "ZIXLY_WEBHOOK_WORKERS": "2",
        "ZIXLY_SHOPIFY_CLIENT_ID": "id",
        "ZIXLY_SHOPIFY_CLIENT_SECRET": SHOPIFY_SECRET,
        "ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": "100000",
    }
    posts = [_delivery(n, f"u{n}") for n in range(80)] + [_delivery(1000 + n % 4, f"d{n % 4}") for n in range(24)]
    with (
        listener_process(env, tmp_path / "listener.log", timeout_s=90) as base,
        httpx.Client(base_url=base, timeout=60) as http,
        ThreadPoolExecutor(16) as pool,
    ):
        answers = list(pool.map(lambda p: http.post("/webhook/shopify", content=p[0], headers=p[1]), posts))
        metrics = http.get("/metrics").text
    assert {a.status_code for a in answers} <= {200, 202}
    by_key: dict[str, set[tuple[int, ...]]] = {}
    for (_, headers), a in zip(posts, answers, strict=True):
        by_key.setdefault(headers["X-Shopify-Event-Id"], set()).add(tuple(a.json()["job_ids"]))
    assert all(len(ids) == 1 for ids in by_key.values())  # every copy answered the same jobs
    assert sum(a.status_code == 202 for a in answers) == 84  # one 202 per distinct delivery
    with pg_factory() as session:
        rows = session.execute(select(WebhookDelivery.job_ids)).scalars().all()
        jobs = set(session.scalars(select(PipelineJob.id)))
    assert len(rows) == 84 and len(jobs) == 84
    assert sorted(j for ids in rows for j in ids) == sorted(jobs)
    assert {j for ids in by_key.values() for (j,) in ids} == jobs
    grouped = [line for line in metrics.splitlines() if line.startswith("webhook_group_commit_deliveries_sum")]
    assert grouped and float(grouped[0].split()[1]) >= 1  # the group commit wrote them
