"""``python -m demo`` as ``make run`` uses it: a real process seeding a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, Tenant
from demo.seed import DEMO_ORGS
from sandbox import demo_accounts
from sandbox.asana import store as asana_store
from sandbox.hubspot import store as hubspot_store
from sandbox.xero import data as xero_data
from tests.servers import stop, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def _demo(url: str, *args: str, env: str = "test") -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "ZIXLY_DATABASE_URL": url, "ZIXLY_ENV": env}
    return subprocess.run(
        [sys.executable, "-m", "demo", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_seed_is_idempotent_and_creates_a_week_of_history(db_url: str) -> None:
    first = _demo(db_url, "seed")
    assert first.returncode == 0, first.stderr
    assert _demo(db_url, "seed").returncode == 0
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 1
        jobs = session.scalar(select(func.count()).select_from(PipelineJob))
        statuses = set(session.scalars(select(PipelineJob.status).distinct()))
        orgs = {system: org for system, org in session.execute(select(Connection.system, Connection.external_org_id))}
    engine.dispose()
    assert jobs is not None and jobs > 1000
    assert {"COMPLETED", "FAILED"} <= statuses
    assert orgs == {system: org for system, (org, _name) in DEMO_ORGS.items()}


def test_the_demo_refuses_production(db_url: str) -> None:
    refused = _demo(db_url, "seed", env="production")
    assert refused.returncode == 2 and "production" in refused.stderr


def test_the_demo_tenant_uses_the_accounts_the_sandbox_seeds() -> None:
    """One list of ids: the sandbox's seeded accounts are the demo tenant's connections."""
    xero_data.seed()
    hubspot_store.reset()
    asana_store.reset()
    assert DEMO_ORGS["xero"][0] in xero_data.ORGS
    assert DEMO_ORGS["hubspot"][0] == str(hubspot_store.PORTAL_ID)
    assert DEMO_ORGS["asana"][0] == asana_store.WORKSPACE["gid"]
    assert demo_accounts.ASANA_ONBOARDING_PROJECT_GID in asana_store.projects


def test_python_m_demo_sandbox_serves_the_emulators(tmp_path: Path) -> None:
    """What `make run`'s Procfile starts: the sandbox (the trickle stays off at 0 events a minute)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ZIXLY_ENV": "development", "ZIXLY_VAR_DIR": str(tmp_path)}
    env["ZIXLY_SANDBOX_EVENTS_PER_MIN"] = "0"
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "demo", "sandbox", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_until_ready(proc, f"http://127.0.0.1:{port}/_sandbox/health", log)
        finally:
            stop(proc)
    assert proc.returncode == 0, log.read_text()


def test_the_records_the_demo_history_names_are_the_ones_the_sandbox_seeds() -> None:
    from sandbox.shopify.orders import seed_orders

    hubspot_store.reset()
    deals = {i: d["properties"]["dealname"] for i, d in hubspot_store.objects["deals"].items()}
    assert deals == demo_accounts.HUBSPOT_DEALS
    assert {str(i): o["name"] for i, o in seed_orders().items()} == demo_accounts.SHOPIFY_ORDERS
    xero_data.seed()
    org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
    for invoice in xero_data.seeded_invoices():
        assert org.invoices[invoice["invoice_id"]]["InvoiceNumber"] == invoice["number"]
        assert org.contacts[invoice["contact_id"]]["EmailAddress"] == invoice["email"]
