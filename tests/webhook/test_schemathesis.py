"""schemathesis fuzzes /openapi.json of the real listener (gunicorn on PostgreSQL).

Bounded by time (20 s: several hundred requests on this machine), fixed seed; the checks:
no 5xx, and every status, content type and body as the document says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from listener_helpers import SHOPIFY_SECRET
from process import listener_process
from sqlalchemy.orm import Session

from db.auth import create_api_token, create_user
from db.engine import make_engine, make_session_factory
from db.models import Connection, Tenant

pytestmark = pytest.mark.e2e
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_fuzzing_the_document_finds_no_5xx_and_no_undocumented_answer(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        token = _seed(session)
    engine.dispose()
    env = {
        "ZIXLY_DATABASE_URL": pg_url,
        "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
        "ZIXLY_SHOPIFY_CLIENT_ID": "id",
        "ZIXLY_SHOPIFY_CLIENT_SECRET": SHOPIFY_SECRET,
        "ZIXLY_XERO_CLIENT_ID": "id",
        "ZIXLY_XERO_CLIENT_SECRET": "secret",
        "ZIXLY_XERO_WEBHOOK_KEY": "key",
        "ZIXLY_HUBSPOT_CLIENT_ID": "id",
        "ZIXLY_HUBSPOT_CLIENT_SECRET": "secret",
        "ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    with listener_process(env, tmp_path / "listener.log") as base:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{base}/openapi.json",
                "--url",
                base,
                "--checks",
                CHECKS,
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                "10",
                "--seed",
                "1",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-time",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Server error" not in run.stdout


def _seed(session: Session) -> str:
    tenant = Tenant(name="acme")
    session.add(tenant)
    session.flush()
    session.add(Connection(tenant_id=tenant.id, system="asana", external_org_id="ws"))
    token = create_api_token(session, create_user(session, "fuzz@zixly.test", "EDITOR", "pw"))
    session.commit()
    return token
