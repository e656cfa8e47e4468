"""Fixtures that start real processes (see :mod:`e2e_stack`): ``e2e_db_url`` (a migrated
PostgreSQL database for the module), ``stack`` (sandbox, listener under gunicorn and a runner,
stopped at the end of the module) and ``tenant`` (a tenant connected through OAuth).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import psycopg
import pytest
from e2e_stack import PG_URL, Stack
from sqlalchemy.engine import make_url

_counter = itertools.count()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def e2e_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated PostgreSQL database shared by one test module (processes need committed data)."""
    template = request.getfixturevalue("pg_template")
    name = f"zixly_e2e_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(e2e_db_url, tmp_path_factory.mktemp("e2e"))
    try:
        yield stack.start()
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> int:
    return stack.create_tenant()
