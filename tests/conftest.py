"""Shared fixtures: a clean database per test on SQLite and on real PostgreSQL.

PostgreSQL comes from ZIXLY_TEST_POSTGRES_URL. Its schema is migrated once into a template
database; each test gets a fresh clone (CREATE DATABASE … TEMPLATE), which is cheap and
lets tests start real processes against committed data. When the server is unreachable the
PostgreSQL cases skip locally and fail on CI (CI=true).
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db import auth
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from settings import Settings

# The developer's shell must not leak settings into tests (the suite's own knobs stay).
_SUITE_KNOBS = {"ZIXLY_TEST_POSTGRES_URL", "ZIXLY_SOAK_SECONDS"}
for _name in [n for n in os.environ if n.startswith("ZIXLY_") and n not in _SUITE_KNOBS]:
    del os.environ[_name]

PG_URL = os.environ.get("ZIXLY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ON_CI = os.environ.get("CI", "").lower() == "true"
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_counter = itertools.count()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_libpq(PG_URL), autocommit=True, connect_timeout=3)


@pytest.fixture(autouse=True, scope="session")
def _one_argon2_hash_per_password() -> Iterator[None]:
    """``create_user`` gives a password the same real argon2 hash all session (the first one made).

    A hash costs ~0.1 s (seconds on a busy machine) and fixtures make users with the same few
    passwords for every test: the API-token fixtures made three per test. Logins still verify
    against a genuine argon2 hash; tests/db/test_auth.py checks what is stored.
    """
    real = auth.hash_password
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "hash_password", functools.cache(real))
        yield


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a migrated template database on the test server."""
    try:
        conn = _admin()
    except psycopg.OperationalError as exc:
        if ON_CI:
            pytest.fail(f"PostgreSQL is required on CI but unreachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")
    name = f"zixly_tpl_{_WORKER}_{os.getpid()}"
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    engine.dispose()
    yield name
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _fresh_pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    template = request.getfixturevalue("pg_template")
    name = f"zixly_t_{_WORKER}_{os.getpid()}_{next(_counter)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "zixly.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        yield from _fresh_pg_url(request)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A clean, migrated PostgreSQL database (for tests that need PostgreSQL itself)."""
    yield from _fresh_pg_url(request)


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    """An engine on a clean, migrated PostgreSQL database."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=db_url,
        var_dir=tmp_path / "var",
        blob_url=str(tmp_path / "blobs"),
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session
