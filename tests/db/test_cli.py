"""``python -m db`` as a user runs it: a real process, stdout carrying only the result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from db.engine import make_engine, make_session_factory
from db.models import ApiToken

ROOT = Path(__file__).resolve().parents[2]


def _db(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZIXLY_DATABASE_URL": url, "ZIXLY_ENV": "test"}
    return subprocess.run(
        [sys.executable, "-m", "db", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_creates_tenants_users_and_tokens(db_url: str) -> None:
    created = _db(db_url, "create-tenant", "Northwind")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().isdigit()
    again = _db(db_url, "create-tenant", "Northwind")
    assert again.returncode == 2 and "already exists" in again.stderr

    user = _db(db_url, "create-user", "ops@example.com", "--role", "editor")
    assert user.returncode == 0 and len(user.stdout.strip()) >= 12  # the generated password, once
    piped = _db(db_url, "create-user", "v@example.com", "--role", "VIEWER", "--password-stdin", stdin="s3cret-pass\n")
    assert piped.returncode == 0 and piped.stdout == ""

    token = _db(db_url, "create-token", "ops@example.com")
    assert token.returncode == 0 and token.stdout.startswith("zx_")
    assert _db(db_url, "create-token", "nobody@example.com").returncode == 2
    tenant_id = created.stdout.strip()
    scoped = _db(db_url, "create-token", "ops@example.com", "--name", "northwind", "--tenant", tenant_id)
    assert scoped.returncode == 0 and scoped.stdout.startswith("zx_")
    unknown = _db(db_url, "create-token", "ops@example.com", "--tenant", "999999")
    assert unknown.returncode == 2 and "no tenant 999999" in unknown.stderr
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        by_name = {t.name: t.tenant_id for t in session.scalars(select(ApiToken))}
    engine.dispose()
    assert by_name == {"api": None, "northwind": int(tenant_id)}
