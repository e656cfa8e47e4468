"""Small helpers shared by the queue modules: dialect, time and JSON at the SQL boundary.

The queue's hot path uses hand-written SQL (``text``) per dialect rather than ORM objects,
and binds plain values: aware UTC datetimes on PostgreSQL, SQLAlchemy's naive-UTC text
format on SQLite (the format ``db.types.UTCDateTime`` stores, so text order is time order).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Table, TextClause
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session

from db.models import JobStep, PipelineJob, RelatedRecord, Runner

# A session or a bare connection: every queue function accepts either. The runner's hot path
# passes connections (no ORM bookkeeping); the listener and the dashboard pass sessions.
Executor = Session | Connection

# The NOTIFY channel the runner LISTENs on.
CHANNEL = "zixly_jobs"


# The tables as Core objects (the hot path never builds ORM instances).
JOBS = cast(Table, PipelineJob.__table__)
STEPS = cast(Table, JobStep.__table__)
RELATED = cast(Table, RelatedRecord.__table__)
RUNNERS = cast(Table, Runner.__table__)


def dialect(ex: Executor) -> str:
    bind = ex.get_bind() if isinstance(ex, Session) else ex
    return bind.dialect.name


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ts(value: dt.datetime, dialect_name: str) -> Any:
    """A datetime as a bind value for ``dialect_name``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the job queue")
    value = value.astimezone(dt.UTC)
    if dialect_name == "sqlite":
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def ts_json(value: dt.datetime, dialect_name: str) -> str:
    """A datetime inside a JSON batch document (see ``enqueue_many``)."""
    bound = ts(value, dialect_name)
    return bound if isinstance(bound, str) else bound.isoformat()


def read_ts(value: Any) -> dt.datetime | None:
    """A timestamp read from raw SQL: aware on PostgreSQL, text on SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def read_json(value: Any) -> Any:
    """A JSON column read from raw SQL: decoded by psycopg, text on SQLite."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


# -- PostgreSQL statements on the psycopg connection itself ---------------------------------
# The listener's hot path runs its fixed statements this way: SQLAlchemy's execution context
# per statement (compile-cache look-up, result proxy) was a tenth of the listener's CPU per
# delivery (docs/benchmarks.md, "Webhook listener"). psycopg prepares them after a few uses.


@cache
def driver_sql(stmt: TextClause) -> str:
    """A ``text()`` statement in psycopg's own placeholders (``:name`` → ``%(name)s``), compiled once."""
    return str(stmt.compile(dialect=psycopg_dialect()))  # type: ignore[no-untyped-call]


def driver_rows(ex: Executor, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (none for a statement without a result) on the executor's psycopg connection.

    In the executor's transaction. A driver error goes through SQLAlchemy's own handling all the
    same, so it arrives as the ``DBAPIError`` it would have been, with a dead connection detected
    and the pool invalidated (the listener's 503 and its one run again on a fresh connection rely
    on that).
    """
    return driver_pipeline(ex, [(sql, params)])[0]


def driver_pipeline(ex: Executor, statements: Iterable[tuple[str, dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows, the statements sent together (psycopg's pipeline mode: one round trip).

    PostgreSQL still runs them one after the other, each with its own snapshot (taken when the
    previous one has finished), as if sent one by one. ``statements`` is read lazily, each sent
    as soon as it is made: from a generator, PostgreSQL runs one while the next is being built.
    """
    if isinstance(ex, Session):
        conn = ex.connection()
    else:
        conn = ex
        if not conn.in_transaction():
            conn.begin()  # as a statement run through it would (autobegin): the caller's commit commits
    driver = cast(psycopg.Connection[Any], conn.connection.driver_connection)
    sql, params = "", {}  # the statement being sent, for the error
    cursors: list[psycopg.Cursor[Any]] = []
    try:
        if isinstance(statements, Sequence) and len(statements) == 1:  # no pipeline for one
            sql, params = statements[0]
            cursors.append(driver.execute(sql, params))
        else:
            with driver.pipeline():
                for sql, params in statements:
                    cursors.append(driver.execute(sql, params))
        return [c.fetchall() if c.description is not None else [] for c in cursors]
    except psycopg.Error as exc:
        conn._handle_dbapi_exception(exc, sql, params, None, None)  # raises the wrapped error
        raise  # pragma: no cover - the line above always raises
