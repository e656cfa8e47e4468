"""Fixtures of the reliability suite: budgets, counters, and a real listener on PostgreSQL.

Every invariant here is checked by counting. The counters each test keeps end up in one
table printed at the end of the run (and in ``test-artifacts/reliability-counts.json``), so
the figures in ``docs/reliability.md`` come from a run, not from memory.

Budgets: the quick versions run in every ``make test``; ``@pytest.mark.slow`` versions run
only when the marker expression names ``slow`` (``make test-slow``, ``pytest -m slow``) or
``RELIABILITY_SLOW=1``. ``RELIABILITY_EXAMPLES`` (hypothesis examples per property) and
``RELIABILITY_CASES`` (schemathesis cases per operation) size the slow runs. (Not ZIXLY_*:
the root conftest scrubs those.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.auth import create_api_token, create_user
from db.engine import make_engine, make_session_factory
from db.models import Connection, Tenant
from tests.servers import stop, wait_until_ready

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "webhook"))  # process.py, listener_helpers.py

PG_URL = os.environ.get("ZIXLY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COUNTS: dict[str, Counter[str]] = {}


def slow_enabled(config: pytest.Config) -> bool:
    return os.environ.get("RELIABILITY_SLOW") == "1" or "slow" in (config.option.markexpr or "")


def examples(quick: int, slow_default: int, slow: bool) -> int:
    """How many hypothesis examples a property gets in this run."""
    return int(os.environ.get("RELIABILITY_EXAMPLES", slow_default)) if slow else quick


def cases(quick: int, slow_default: int, slow: bool) -> int:
    """How many schemathesis cases per operation in this run."""
    return int(os.environ.get("RELIABILITY_CASES", slow_default)) if slow else quick


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="slow reliability run: use -m slow or RELIABILITY_SLOW=1")
    for item in items:
        if HERE in Path(str(item.fspath)).parents and "slow" in item.keywords and not slow_enabled(config):
            item.add_marker(skip)


def count(name: str) -> Counter[str]:
    """The named counter (created on first use), reported at the end of the run."""
    return COUNTS.setdefault(name, Counter())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    terminalreporter.section("reliability counts")
    for name, counter in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(counter.items())))
    out = ROOT / "test-artifacts" / "reliability-counts.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({k: dict(v) for k, v in sorted(COUNTS.items())}, indent=1, sort_keys=True) + "\n")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def module_pg_url(pg_template: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A clean migrated PostgreSQL database shared by one module (for a long-lived listener)."""
    name = f"zixly_rel_{os.getpid()}_{abs(hash(request.module.__name__)) % 10**8}"
    with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- a real listener: python -m webhook (gunicorn) on PostgreSQL, on a free port -------------

FERNET_KEY = "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA="
SECRETS = {
    "xero": "rel-xero-webhook-key",
    "hubspot": "rel-hubspot-client-secret",
    "shopify": "rel-shopify-client-secret",
    "asana": "rel-asana-hook-secret",
}
SHOP = "acme.myshopify.com"
XERO_ORG = "0b7f3c1e-1111-4c7d-93cc-f02b81b0594f"
PORTAL = "62515"


@dataclass
class LiveListener:
    base: str
    db_url: str
    log_path: Path
    tokens: dict[str, str]  # role -> bearer token
    tenant_id: int
    asana_connection_id: int

    def rows(self, table: str) -> int:
        engine = make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
        finally:
            engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listener_env(db_url: str, port: int, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {
        "ZIXLY_ENV": "test",
        "ZIXLY_DATABASE_URL": db_url,
        "ZIXLY_WEBHOOK_BIND": f"127.0.0.1:{port}",
        "ZIXLY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ZIXLY_VAR_DIR": str(tmp / "var"),
        "ZIXLY_BLOB_URL": str(tmp / "blobs"),
        "ZIXLY_SECRET_KEY": FERNET_KEY,
        "ZIXLY_LOG_JSON": "true",
        "ZIXLY_WEBHOOK_MAX_BYTES": "65536",
        "ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000",
        "ZIXLY_XERO_CLIENT_ID": "xero-id",
        "ZIXLY_XERO_CLIENT_SECRET": "xero-client-secret",
        "ZIXLY_XERO_WEBHOOK_KEY": SECRETS["xero"],
        "ZIXLY_HUBSPOT_CLIENT_ID": "hubspot-id",
        "ZIXLY_HUBSPOT_CLIENT_SECRET": SECRETS["hubspot"],
        "ZIXLY_SHOPIFY_CLIENT_ID": "shopify-id",
        "ZIXLY_SHOPIFY_CLIENT_SECRET": SECRETS["shopify"],
    }
    return env | extra


@contextmanager
def run_process(args: list[str], env: dict[str, str], log_path: Path, ready_url: str | None) -> Iterator[Popen[bytes]]:
    """Run ``python <args>`` until the block ends (SIGTERM, then kill); wait for ``ready_url``."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            if ready_url is not None:
                wait_until_ready(proc, ready_url, log_path)
            yield proc
        finally:
            stop(proc)


def seed_listener_db(db_url: str) -> tuple[dict[str, str], int, int]:
    """A tenant connected to all four vendors (Asana with its hook secret), and a token per role."""
    from cryptography.fernet import Fernet

    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            tenant = Tenant(name="acme")
            session.add(tenant)
            session.flush()
            asana_conn = Connection(
                tenant_id=tenant.id,
                system="asana",
                external_org_id="workspace-1",
                webhook_secret_ciphertext=Fernet(FERNET_KEY.encode()).encrypt(SECRETS["asana"].encode()).decode(),
            )
            session.add_all(
                [
                    asana_conn,
                    Connection(tenant_id=tenant.id, system="shopify", external_org_id=SHOP),
                    Connection(tenant_id=tenant.id, system="xero", external_org_id=XERO_ORG),
                    Connection(tenant_id=tenant.id, system="hubspot", external_org_id=PORTAL),
                ]
            )
            tokens = {
                role: create_api_token(session, create_user(session, f"{role.lower()}@rel.test", role, "pw-" + role))
                for role in ("VIEWER", "EDITOR", "ADMIN")
            }
            session.commit()
            return tokens, tenant.id, asana_conn.id
    finally:
        engine.dispose()


@contextmanager
def live_listener_at(db_url: str, tmp: Path, **extra_env: str) -> Iterator[LiveListener]:
    tokens, tenant_id, asana_id = seed_listener_db(db_url)
    port = free_port()
    log_path = tmp / f"listener-{port}.log"
    env = listener_env(db_url, port, tmp, **extra_env)
    base = f"http://127.0.0.1:{port}"
    with run_process(["-m", "webhook"], env, log_path, base + "/health"):
        yield LiveListener(base, db_url, log_path, tokens, tenant_id, asana_id)


@pytest.fixture(scope="module")
def live_listener(module_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveListener]:
    """One gunicorn listener per module, on its own PostgreSQL database."""
    with live_listener_at(module_pg_url, tmp_path_factory.mktemp("listener")) as listener:
        yield listener


# -- signing deliveries the way each vendor does ------------------------------------------------


def signed_headers(vendor: str, body: bytes, base: str, path: str, *, event_id: str = "ev-1") -> dict[str, str]:
    from integrations.asana import webhooks as asana
    from integrations.hubspot import webhooks as hubspot
    from integrations.shopify import webhooks as shopify
    from integrations.xero import webhooks as xero

    headers = {"Content-Type": "application/json"}
    if vendor == "xero":
        headers[xero.HEADER_SIGNATURE] = xero.signature(SECRETS["xero"], body)
    elif vendor == "hubspot":
        ts = str(int(time.time() * 1000))
        headers[hubspot.HEADER_V3] = hubspot.signature_v3(SECRETS["hubspot"], "POST", base + path, body, ts)
        headers[hubspot.HEADER_TIMESTAMP] = ts
    elif vendor == "shopify":
        headers |= {
            shopify.HEADER_HMAC: shopify.webhook_signature(SECRETS["shopify"], body),
            shopify.HEADER_TOPIC: "orders/paid",
            shopify.HEADER_SHOP: SHOP,
            shopify.HEADER_EVENT_ID: event_id,
            shopify.HEADER_WEBHOOK_ID: "wh-" + event_id,
        }
    elif vendor == "asana":
        headers[asana.HEADER_SIGNATURE] = asana.signature(SECRETS["asana"], body)
    return headers
