"""Engines and sessions built from settings (never at import time)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db import search_text
from settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(settings: Settings | str, **kwargs: Any) -> Engine:
    """An engine for the settings' database URL (or a URL given directly).

    SQLite runs in WAL mode with a busy timeout so the listener, the runner and the
    dashboard can share one file.
    """
    url = settings if isinstance(settings, str) else settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins, so that
        # "BEGIN IMMEDIATE" can be issued where a writer needs it.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    dbapi_conn.isolation_level = None  # autocommit at the driver; SQLAlchemy emits BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    search_text.register(dbapi_conn)  # what the job browser's search reads (PostgreSQL: a SQL function)


def is_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "busy": another process holds the write lock; retrying the unit of work helps.

    (Also raised at once, whatever the busy timeout, when a transaction that read turns into a write
    after another connection wrote: hence short transactions that write first, or retry the whole.)
    """
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "database is busy" in text)


def hot_statement_engine(
    engine: Engine, *, durable: bool, autocommit: bool = False, connections: int = 1, **connect_args: Any
) -> Engine:
    """A small engine of its own for one thread's hot statements, planned once, generically.

    psycopg prepares a statement on its fifth execution; PostgreSQL then still plans it afresh
    each time when it judges a custom plan cheaper, as it does for the batch-sized arrays these
    statements bind, and over the partitioned job tables the planning costs more than the run:
    the listener's debounce look-up took 0.6 ms to plan and 0.02 ms to run, the runner's starts
    930 against 560 µs (docs/benchmarks.md). ``durable``: wait for the commit's WAL flush.

    Sequential scans are off on these connections: each statement touches a few rows by key,
    and a plan is kept until the table's statistics change, so one made while a partition looked small
    (no statistics yet, a fresh range) kept scanning it whole as it grew — the starts' plan read
    every job of the newest range per batch once ten older ranges existed (46 → 350 µs per
    start, docs/benchmarks.md). Where no index serves a statement PostgreSQL still scans.
    JIT compilation is off too: a generic plan is compiled again at every execution, and at
    10,000,000 jobs of history the estimates passed ``jit_above_cost``, so LLVM took 61 % of the
    runners' backends' CPU and processing fell to a third (docs/benchmarks.md).
    SQLite has no plans to keep and one writer: its engine is returned as it is.
    """
    if engine.dialect.name != "postgresql":
        return engine
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    settings = (
        f"-c synchronous_commit={'on' if durable else 'off'} -c plan_cache_mode=force_generic_plan"
        " -c enable_seqscan=off -c jit=off"
    )
    return make_engine(
        engine.url.render_as_string(hide_password=False),
        pool_size=connections,
        max_overflow=1,
        pool_pre_ping=False,
        connect_args={**connect_args, "options": settings},
        **options,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
