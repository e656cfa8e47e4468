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
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

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
