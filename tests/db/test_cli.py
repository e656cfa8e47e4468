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


def test_rotate_secrets_re_encrypts_every_stored_secret_with_the_first_key(db_url: str) -> None:
    from cryptography.fernet import Fernet

    from db.models import Connection, Tenant

    old, new = Fernet.generate_key(), Fernet.generate_key()
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        tenant = Tenant(name="Northwind")
        session.add(tenant)
        session.flush()
        session.add_all(
            [
                Connection(
                    tenant_id=tenant.id,
                    system="xero",
                    token_ciphertext=Fernet(old).encrypt(b'{"access_token": "a"}').decode(),
                ),
                Connection(
                    tenant_id=tenant.id,
                    system="asana",
                    webhook_secret_ciphertext=Fernet(old).encrypt(b"hook-secret").decode(),
                ),
                Connection(tenant_id=tenant.id, system="hubspot", token_ciphertext="aws-sm:zixly/test/connections/3"),
            ]
        )
        session.commit()

    def rotate(keys: bytes) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ZIXLY_DATABASE_URL": db_url, "ZIXLY_ENV": "test", "ZIXLY_SECRET_KEY": keys.decode()}
        return subprocess.run(
            [sys.executable, "-m", "db", "rotate-secrets"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = rotate(new + b"," + old)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rotated 2 secrets; 1 kept in AWS Secrets Manager"
    with make_session_factory(engine)() as session:
        rows = {c.system: c for c in session.scalars(select(Connection))}
    assert Fernet(new).decrypt((rows["xero"].token_ciphertext or "").encode()) == b'{"access_token": "a"}'
    assert Fernet(new).decrypt((rows["asana"].webhook_secret_ciphertext or "").encode()) == b"hook-secret"
    # The old key can go now; a key that decrypts nothing is reported, not guessed around.
    lost = rotate(Fernet.generate_key())
    assert lost.returncode == 2 and "no key decrypts the secrets of connections" in lost.stderr
    engine.dispose()
