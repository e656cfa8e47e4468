"""The listener as deployed: ``python -m webhook`` (gunicorn, 2 workers) on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from listener_helpers import SHOPIFY_SECRET, VECTORS, order_body, pending_handshake, shopify_headers
from process import listener_process
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from vectors import EXPECTED, Sent, deliver, secrets_from_vectors

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, Tenant, WebhookDelivery

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_session(pg_url: str) -> Iterator[Session]:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def _seed(session: Session) -> dict[str, int]:
    acme = Tenant(name="acme")
    session.add(acme)
    session.flush()
    for system, org in (
        ("shopify", "acme.myshopify.com"),
        ("xero", "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"),
        ("hubspot", "62515"),
        ("asana", "workspace-1"),
    ):
        session.add(Connection(tenant_id=acme.id, system=system, external_org_id=org))
    session.commit()
    asana = session.scalar(select(Connection.id).where(Connection.system == "asana"))
    return {"acme": acme.id, "asana": int(asana or 0)}


def _env(pg_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ZIXLY_DATABASE_URL": pg_url,
        "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
        "ZIXLY_WEBHOOK_WORKERS": "2",
        "ZIXLY_SHOPIFY_CLIENT_ID": "id",
        "ZIXLY_SHOPIFY_CLIENT_SECRET": SHOPIFY_SECRET,
        **extra,
    }


def test_every_vector_through_the_real_listener(pg_url: str, pg_session: Session, tmp_path: Path) -> None:
    ids = _seed(pg_session)
    secrets = secrets_from_vectors(VECTORS)
    env = _env(
        pg_url,
        tmp_path,
        ZIXLY_PUBLIC_URL=secrets["public_url"],
        ZIXLY_HUBSPOT_CLIENT_ID="id",
        ZIXLY_HUBSPOT_CLIENT_SECRET=secrets["hubspot_client_secret"],
        ZIXLY_SHOPIFY_CLIENT_SECRET=secrets["shopify_client_secret"],
        ZIXLY_XERO_CLIENT_ID="id",
        ZIXLY_XERO_CLIENT_SECRET="secret",
        ZIXLY_XERO_WEBHOOK_KEY=secrets["xero_webhook_key"],
    )
    with listener_process(env, tmp_path / "listener.log") as base, httpx.Client(base_url=base) as http:
        asana_secret = next(v["secret"] for v in VECTORS if v["vendor"] == "asana")
        token = pending_handshake(pg_session, ids["asana"])
        url = f"/webhook/asana/{ids['asana']}/{token}"
        handshake = http.post(url, headers={"X-Hook-Secret": asana_secret})
        assert handshake.status_code == 200
        assert handshake.headers["X-Hook-Secret"] == asana_secret

        def send(method: str, path: str, body: bytes, headers: dict[str, str], params: dict[str, str] | None) -> Sent:
            r = http.request(method, path, content=body or None, headers=headers, params=params)
            return Sent(r.status_code, dict(r.headers), r.content)

        got = {v["id"]: deliver(v, send, asana_connection_id=ids["asana"], in_process=False).status for v in VECTORS}
    assert got == {vid: statuses[1] for vid, statuses in EXPECTED.items()}
    log = (tmp_path / "listener.log").read_text()
    assert "example_field" not in log and "S0m3r4Nd0mt3xt" not in log  # no bodies in the logs
    assert "Using worker: webhook.worker.ListenerWorker" in log
    assert "Control socket" not in log  # no shared per-user control socket


def test_concurrent_duplicates_create_one_job_and_all_get_its_id(
    pg_url: str, pg_session: Session, tmp_path: Path
) -> None:
    _seed(pg_session)
    body = order_body(555)
    headers = shopify_headers(body, event_id="dup-555")
    with listener_process(_env(pg_url, tmp_path), tmp_path / "listener.log") as base:

        def post(_: int) -> httpx.Response:
            return httpx.post(base + "/webhook/shopify", content=body, headers=headers, timeout=10)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(16)))
    assert sorted({r.status_code for r in answers}) in ([200, 202], [202])
    assert sum(r.status_code == 202 for r in answers) == 1
    assert len({tuple(r.json()["job_ids"]) for r in answers}) == 1
    pg_session.rollback()
    assert pg_session.scalar(select(func.count()).select_from(PipelineJob)) == 1
    assert pg_session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_rate_limit_is_shared_by_the_workers_and_metrics_are_summed(
    pg_url: str, pg_session: Session, tmp_path: Path
) -> None:
    _seed(pg_session)
    metrics_dir = tmp_path / "prom"
    env = _env(pg_url, tmp_path, ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE="6")
    # Sync workers: a busy worker cannot accept, so concurrent requests spread over both.
    env |= {"GUNICORN_CMD_ARGS": "--worker-class sync", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with listener_process(env, tmp_path / "listener.log") as base:
        # Both workers booted and accepting (each has served a request) before the burst.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _i: httpx.get(base + "/health"), range(8)))
            if len([n for n in os.listdir(metrics_dir) if n.startswith("histogram_")]) >= 2:
                break
        if 60 - time.time() % 60 < 10:  # keep the burst inside one rate-limit window
            time.sleep(60 - time.time() % 60 + 0.5)

        def post(i: int) -> httpx.Response:
            body = order_body(1000 + i)

            def slowly() -> Iterator[bytes]:
                # The body's second half 0.3 s later holds this request's worker (sync): the burst
                # spreads over both workers even when one of them is quick to accept (a loaded
                # machine gave one worker all ten in one CI run).
                yield body[:16]
                time.sleep(0.3)
                yield body[16:]

            headers = shopify_headers(body, event_id=str(i))
            return httpx.post(base + "/webhook/shopify", content=slowly(), headers=headers, timeout=30)

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(post, range(10)))
        metrics = httpx.get(base + "/metrics").text
        workers = {name.rsplit("_", 1)[-1] for name in os.listdir(metrics_dir) if name.startswith("counter_")}
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202] * 6 + [429] * 4
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in answers if r.status_code == 429)
    assert len(workers) == 2  # both workers served, and shared one budget
    accepted = re.search(r'webhook_deliveries_total\{outcome="accepted",source="shopify"\} (\S+)', metrics)
    rejected = re.search(r'webhook_deliveries_total\{outcome="rejected",source="shopify"\} (\S+)', metrics)
    assert accepted and float(accepted.group(1)) == 6
    assert rejected and float(rejected.group(1)) == 4


def test_an_oversized_chunked_body_is_refused_and_sigterm_cleans_up(
    pg_url: str, pg_session: Session, tmp_path: Path
) -> None:
    _seed(pg_session)
    env = _env(pg_url, tmp_path, ZIXLY_WEBHOOK_MAX_BYTES="4096")
    metrics_dir = tmp_path / "prom"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    (metrics_dir).mkdir()
    (metrics_dir / "counter_stale.db").write_bytes(b"stale")  # a previous run's file is wiped

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    with listener_process(env, tmp_path / "listener.log") as base:
        r = httpx.post(base + "/webhook/shopify", content=chunks(), headers=shopify_headers(b""))
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert "counter_stale.db" not in os.listdir(metrics_dir)
    data: Any = json.loads(r.content)
    assert data["status"] == 413


def _early_count(metrics: str, status: int, method: str) -> float:
    """``http_request_duration_seconds_count`` of answers the front gave before routing."""
    pattern = (
        r'http_request_duration_seconds_count\{method="' + re.escape(method)
        + r'",route="early",status="' + str(status) + r'"\} (\S+)'
    )  # fmt: skip
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


def test_early_408_and_413_answers_are_counted_in_the_metrics(pg_url: str, pg_session: Session, tmp_path: Path) -> None:
    """The front answers these before Flask runs; /metrics (summed over both workers) counts them."""
    _seed(pg_session)
    env = _env(pg_url, tmp_path, ZIXLY_WEBHOOK_MAX_BYTES="4096", ZIXLY_WEBHOOK_READ_TIMEOUT_S="1")
    with listener_process(env, tmp_path / "listener.log") as base:
        port = int(base.rsplit(":", 1)[1])
        declared = httpx.post(base + "/webhook/shopify", content=b"x" * 5000, headers=shopify_headers(b""))
        assert declared.status_code == 413
        # A body that never comes, and a head that never ends: 408 after the read timeout.
        with (
            socket.create_connection(("127.0.0.1", port)) as body_sock,
            socket.create_connection(("127.0.0.1", port)) as head_sock,
        ):
            body_sock.sendall(
                b"POST /webhook/shopify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            head_sock.sendall(b"POST /webhook/shopify HTTP/1.1\r\nHost: x\r\n")
            body_sock.settimeout(10)
            head_sock.settimeout(10)
            assert body_sock.recv(4096).startswith(b"HTTP/1.1 408 ")
            assert head_sock.recv(4096).startswith(b"HTTP/1.1 408 ")
        metrics = httpx.get(base + "/metrics").text
    assert _early_count(metrics, 413, "POST") == 1
    assert _early_count(metrics, 408, "POST") == 1  # the body's deadline
    assert _early_count(metrics, 408, "-") == 1  # the head's deadline (its method not yet known)
    took = re.search(r'http_request_duration_seconds_sum\{method="POST",route="early",status="408"\} (\S+)', metrics)
    assert took and 0.9 <= float(took.group(1)) < 5  # the time the client was given
