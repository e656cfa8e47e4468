"""Debounce through the listener as deployed: ``python -m webhook`` with three workers on PostgreSQL.

Twelve signed Xero deliveries about one invoice, sent at once from twelve connections (so the
workers take them in parallel), make one job; every answer names it, and its step log lists
the eleven events that joined it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from listener_helpers import XERO_KEY, XERO_ORG, b64_hmac
from process import listener_process
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import make_engine, make_session_factory
from db.models import Connection, JobStep, PipelineJob, Tenant

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_session(pg_url: str) -> Iterator[Session]:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def _delivery(n: int) -> tuple[bytes, dict[str, str]]:
    event = {
        "resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/inv-77", "resourceId": "inv-77",
        "eventDateUtc": f"2026-11-26T10:00:{n:02d}.000", "eventType": "UPDATE", "eventCategory": "INVOICE",
        "tenantId": XERO_ORG, "tenantType": "ORGANISATION",
    }  # fmt: skip
    body = json.dumps({"events": [event], "firstEventSequence": n, "lastEventSequence": n, "entropy": "x"}).encode()
    return body, {"Content-Type": "application/json", "x-xero-signature": b64_hmac(XERO_KEY, body)}


def test_a_burst_about_one_invoice_across_listener_workers_makes_one_job(
    pg_url: str, pg_session: Session, tmp_path: Path
) -> None:
    acme = Tenant(name="acme")
    pg_session.add(acme)
    pg_session.flush()
    pg_session.add(Connection(tenant_id=acme.id, system="xero", external_org_id=XERO_ORG))
    pg_session.commit()
    env = {
        "ZIXLY_DATABASE_URL": pg_url, "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=", "ZIXLY_WEBHOOK_WORKERS": "3",
        "ZIXLY_XERO_CLIENT_ID": "id", "ZIXLY_XERO_CLIENT_SECRET": "secret", "ZIXLY_XERO_WEBHOOK_KEY": XERO_KEY,
    }  # fmt: skip
    with listener_process(env, tmp_path / "listener.log", timeout_s=60) as base:

        def send(n: int) -> str:
            body, headers = _delivery(n)
            with httpx.Client(base_url=base, timeout=30) as http:  # a connection each: spread over the workers
                response = http.post("/webhook/xero", content=body, headers=headers)
            assert response.status_code == 200, response.text
            return response.headers["Zixly-Job-Ids"]

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, range(12)))
    [job] = pg_session.scalars(select(PipelineJob)).all()
    assert set(answers) == {str(job.id)}
    steps = pg_session.scalars(select(JobStep.message).where(JobStep.job_id == job.id)).all()
    assert len(steps) == 11 and all(m.startswith("Debounced: xero invoice.update") for m in steps)
