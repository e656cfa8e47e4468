"""PostgreSQL stops while deliveries stream in: 503s (never a 2xx for what was not stored),
then, after it is back, the vendors' retries are accepted and nothing is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from listener_helpers import SHOPIFY_SECRET, order_body, shopify_headers
from pgcluster import available, throwaway_cluster
from process import listener_process
from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Connection, PipelineJob, Tenant, WebhookDelivery
from integrations.shopify.webhooks import dedup_key

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not available(), reason="needs PostgreSQL 15 binaries and runuser")]


def test_outage_gives_503s_then_recovery_with_nothing_lost(tmp_path: Path) -> None:
    with throwaway_cluster() as cluster:
        engine = make_engine(cluster.url)
        upgrade(engine)
        with make_session_factory(engine)() as session:
            tenant = Tenant(name="acme")
            session.add(tenant)
            session.flush()
            session.add(Connection(tenant_id=tenant.id, system="shopify", external_org_id="acme.myshopify.com"))
            session.commit()
        engine.dispose()

        env = {
            "ZIXLY_DATABASE_URL": cluster.url,
            "ZIXLY_VAR_DIR": str(tmp_path / "var"),
            "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
            "ZIXLY_SHOPIFY_CLIENT_ID": "id",
            "ZIXLY_SHOPIFY_CLIENT_SECRET": SHOPIFY_SECRET,
            "ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": "100000",
        }
        answers: dict[int, list[int]] = {}  # delivery number -> statuses seen, in order
        acknowledged: dict[int, list[int]] = {}  # delivery number -> job ids in its 2xx
        stop = threading.Event()

        def send(n: int, http: httpx.Client) -> int:
            body = order_body(10_000 + n)
            r = http.post("/webhook/shopify", content=body, headers=shopify_headers(body, event_id=f"e{n}"))
            answers.setdefault(n, []).append(r.status_code)
            if r.status_code in (200, 202):
                acknowledged[n] = r.json()["job_ids"]
            return r.status_code

        with listener_process(env, tmp_path / "listener.log") as base, httpx.Client(base_url=base, timeout=10) as http:

            def vendor() -> None:
                n = 0
                while not stop.is_set():
                    send(n, http)
                    n += 1
                    time.sleep(0.01)

            sender = threading.Thread(target=vendor)
            sender.start()
            time.sleep(1.0)
            cluster.stop()
            time.sleep(1.5)
            assert http.get("/health").status_code == 503
            cluster.start()
            time.sleep(1.5)
            stop.set()
            sender.join()
            assert http.get("/health").status_code == 200

            # The vendor retries whatever was not acknowledged, and duplicates of the rest.
            for n in sorted(answers):
                if n not in acknowledged:
                    assert send(n, http) == 202
            for n in list(acknowledged)[:5]:
                assert send(n, http) == 200

        statuses = {s for seen in answers.values() for s in seen}
        assert 503 in statuses  # the outage was seen
        assert statuses <= {200, 202, 503}  # and only as 503: never a 2xx for an unstored event

        engine = make_engine(cluster.url)
        with make_session_factory(engine)() as session:
            stored = dict(session.execute(select(WebhookDelivery.delivery_id, WebhookDelivery.job_ids)).all())
            jobs = session.scalar(select(func.count()).select_from(PipelineJob))
        engine.dispose()
        assert len(stored) == len(answers) == jobs  # every delivery once, one job each
        for n, job_ids in acknowledged.items():
            assert stored[dedup_key("orders/paid", order_body(10_000 + n))] == job_ids
