"""The dashboard's hourly rollups of job history (db/rollups.py keeps them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base
from db.types import BigId


# The dashboard's hourly rollups (db/rollups.py; migration 0019_job_rollups): derived from
# pipeline_jobs, kept by the runner's rollup tick from the markers triggers leave.
class JobRollupDirty(Base):
    """A creation hour whose finished jobs changed since its rollup rows were computed."""

    __tablename__ = "job_rollup_dirty"
    __table_args__ = (Index("ix_job_rollup_dirty_hour", "hour"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hour: Mapped[dt.datetime]
    hour_end: Mapped[dt.datetime]


class JobHourCount(Base):
    """Finished jobs created in one hour, per tenant × status (``attention``: FAILED, not rerun)."""

    __tablename__ = "job_hour_counts"

    hour: Mapped[dt.datetime] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer)
    attention: Mapped[int] = mapped_column(Integer)


class JobHourDuration(Base):
    """COMPLETED jobs created in one hour per tenant (0: all) × job type × duration bucket (ms)."""

    __tablename__ = "job_hour_durations"
    __table_args__ = (Index("ix_job_hour_durations_tenant_id_hour", "tenant_id", "hour"),)

    hour: Mapped[dt.datetime] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer)


class JobLastSuccess(Base):
    """The newest ``created_at`` of a COMPLETED job per tenant × job type (the health board)."""

    __tablename__ = "job_last_success"

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime]
