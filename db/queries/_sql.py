"""Small dialect helpers shared by the read queries (PostgreSQL and SQLite)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Float, cast, func, literal_column, type_coerce
from sqlalchemy.orm import Session

from db.models import PipelineJob


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def duration_s(session: Session) -> ColumnElement[float]:
    """Seconds from a job's start to its end, as SQL."""
    if is_pg(session):
        return type_coerce(func.extract("epoch", PipelineJob.completed_at - PipelineJob.started_at), Float)
    return cast(
        (func.julianday(PipelineJob.completed_at) - func.julianday(PipelineJob.started_at)) * literal_column("86400.0"),
        Float,
    )


def bucket(session: Session, column: Any, unit: str) -> ColumnElement[Any]:
    """``column`` truncated to the hour or the day (a timestamp on PostgreSQL, text on SQLite)."""
    if is_pg(session):
        return func.date_trunc(unit, column)
    fmt = "%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(fmt, column)


def as_utc(value: Any) -> dt.datetime | None:
    """A bucket value (datetime or SQLite text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def quantile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile, the same definition as PostgreSQL's percentile_cont."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
