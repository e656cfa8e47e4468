"""Small helpers shared by the queue modules: dialect, time and JSON at the SQL boundary.

The queue's hot path uses hand-written SQL (``text``) per dialect rather than ORM objects,
and binds plain values: aware UTC datetimes on PostgreSQL, SQLAlchemy's naive-UTC text
format on SQLite (the format ``db.types.UTCDateTime`` stores, so text order is time order).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from sqlalchemy import Connection, Table
from sqlalchemy.orm import Session

from db.models import JobStep, PipelineJob, RelatedRecord, Runner

# A session or a bare connection: every queue function accepts either. The runner's hot path
# passes connections (no ORM bookkeeping); the listener and the dashboard pass sessions.
Executor = Session | Connection

# The NOTIFY channel the runner LISTENs on.
CHANNEL = "zixly_jobs"

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")

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
