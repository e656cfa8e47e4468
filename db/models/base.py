"""The declarative base, naming convention and value sets every model shares."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from db.types import Json, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("ADMIN", "EDITOR", "VIEWER")
# PAUSED: held while its client (or workflow) is paused; never claimed until resumed (db/jobs/pauses.py).
JOB_STATUSES = ("QUEUED", "RUNNING", "WAITING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED")
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")  # a job in one of these has finished for good
UNFINISHED = tuple(s for s in JOB_STATUSES if s not in TERMINAL)
WAIT_REASONS = ("callback", "approval")
WAIT_OUTCOMES = ("received", "approved", "rejected", "timed_out")
RECORD_ACTIONS = ("READ", "CREATE", "UPDATE")
CONNECTION_STATUSES = ("connected", "expiring", "expired", "revoked", "error", "disconnected")
# A connection that claims its vendor organisation (a disconnected one gives it up).
LIVE_ORG = "external_org_id IS NOT NULL AND status <> 'disconnected'"


def in_values(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: Json}
