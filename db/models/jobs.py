"""The queue and its record: jobs, their waits, steps and related records, runners, schedules, pauses, settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import JOB_STATUSES, RECORD_ACTIONS, TERMINAL, WAIT_OUTCOMES, WAIT_REASONS, Base, in_values
from db.types import BigId


class PipelineJob(Base):
    """One unit of work: at once the queue entry and the permanent record."""

    __tablename__ = "pipeline_jobs"
    __table_args__ = (
        CheckConstraint(in_values("status", JOB_STATUSES), name="status"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        # The claim query's index: only QUEUED rows, in claim order.
        Index(
            "ix_pipeline_jobs_claimable",
            text("priority DESC"),
            "run_at",
            "id",
            postgresql_where=text("status = 'QUEUED'"),
            sqlite_where=text("status = 'QUEUED'"),
        ),
        # The reaper's index: running rows by lease end.
        Index(
            "ix_pipeline_jobs_running_lease",
            "locked_until",
            postgresql_where=text("status = 'RUNNING'"),
            sqlite_where=text("status = 'RUNNING'"),
        ),
        # The concurrency-key check: is a job with this key running?
        Index(
            "ix_pipeline_jobs_running_concurrency_key",
            "concurrency_key",
            postgresql_where=text("status = 'RUNNING' AND concurrency_key IS NOT NULL"),
            sqlite_where=text("status = 'RUNNING' AND concurrency_key IS NOT NULL"),
        ),
        # A paused client's held jobs, per tenant and workflow (board counts, resume order; 0016).
        Index(
            "ix_pipeline_jobs_paused",
            "tenant_id",
            "job_type",
            "id",
            postgresql_where=text("status = 'PAUSED'"),
            sqlite_where=text("status = 'PAUSED'"),
        ),
        # Debounce: is a job about this record still waiting to run? (db/jobs/debounce.py; 0016)
        Index(
            "ix_pipeline_jobs_pending_concurrency_key",
            "concurrency_key",
            postgresql_where=text("status IN ('QUEUED', 'PAUSED') AND concurrency_key IS NOT NULL"),
            sqlite_where=text("status IN ('QUEUED', 'PAUSED') AND concurrency_key IS NOT NULL"),
        ),
        # The dashboard's keyset-paginated browser and its filters.
        Index("ix_pipeline_jobs_created_at_id", "created_at", "id"),
        Index("ix_pipeline_jobs_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_pipeline_jobs_status_created_at", "status", "created_at"),
        # "This tenant's failed jobs": partial, so enqueue/claim/complete add no entries (migration 0004_tenant_status).
        Index(
            "ix_pipeline_jobs_tenant_id_unsuccessful",
            "tenant_id",
            "status",
            "created_at",
            postgresql_where=text("status IN ('FAILED', 'CANCELLED')"),
            sqlite_where=text("status IN ('FAILED', 'CANCELLED')"),
        ),
        # The health board's failures since a connection's last success: one short range per job
        # type; FAILED only, so only a permanent failure adds an entry (migration 0019_job_rollups).
        Index(
            "ix_pipeline_jobs_failed_type",
            "tenant_id",
            "job_type",
            "created_at",
            postgresql_where=text("status = 'FAILED'"),
            sqlite_where=text("status = 'FAILED'"),
        ),
        Index("ix_pipeline_jobs_job_type_created_at", "job_type", "created_at"),
        # Mostly NULL, looked up only by value (lineage; prune's completed_at < cutoff): on
        # PostgreSQL the NULLs get no entries, so claim and complete touch two indexes fewer.
        Index("ix_pipeline_jobs_parent_job_id", "parent_job_id", postgresql_where=text("parent_job_id IS NOT NULL")),
        Index("ix_pipeline_jobs_completed_at", "completed_at", postgresql_where=text("completed_at IS NOT NULL")),
        # The browser's free-text search (pg_trgm, PostgreSQL only; migration 0003_trgm). Written
        # as text() so Alembic treats them as expression indexes (it cannot compare opclasses).
        # Params: finished jobs only, so a job's trigrams are written once, not at every row
        # version of its life (migration 0022; db/filters.py finds the unfinished ones), and
        # only of what a user searches for (db/search_text.py, migration 0023).
        Index(
            "ix_pipeline_jobs_params_trgm",
            text("zixly_search_text(params) gin_trgm_ops"),
            postgresql_using="gin",
            postgresql_where=text(in_values("status", TERMINAL)),
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_pipeline_jobs_error_trgm",
            text("error gin_trgm_ops"),
            postgresql_using="gin",
            postgresql_where=text("error IS NOT NULL"),
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    job_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="QUEUED", server_default="QUEUED")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    metrics: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    run_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    timeout_s: Mapped[int] = mapped_column(Integer, default=3600, server_default="3600")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    concurrency_key: Mapped[str | None] = mapped_column(String(255))
    parent_job_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_jobs.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(320))
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[dt.datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # True once the claimed attempt's handler started (``attempts`` counts it only then): a
    # runner that dies holding claimed-but-unstarted jobs gives them back at no cost.
    attempt_started: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    deadline_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]


class JobWait(Base):
    """One suspension of a job: a callback it waits for, or an approval it asks for.

    A wait is bound to one job and to its ``seq``-th wait (a workflow that waits twice has two
    rows). A callback wait holds the SHA-256 of its URL token (never the token) and, when
    signed, its HMAC secret Fernet-encrypted. ``outcome`` is set exactly once: by the delivery
    (``received``), the decision (``approved``/``rejected``) or the deadline (``timed_out``).
    """

    __tablename__ = "job_waits"
    __table_args__ = (
        CheckConstraint(in_values("reason", WAIT_REASONS), name="reason"),
        CheckConstraint(f"outcome IS NULL OR {in_values('outcome', WAIT_OUTCOMES)}", name="outcome"),
        UniqueConstraint("job_id", "seq"),
        UniqueConstraint("token_hash"),
        # "Awaiting approval": the open approvals, oldest first.
        Index(
            "ix_job_waits_open_approvals",
            "tenant_id",
            "created_at",
            postgresql_where=text("reason = 'approval' AND outcome IS NULL"),
            sqlite_where=text("reason = 'approval' AND outcome IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_jobs.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]  # what an approval would write; shown to the approver
    deadline_at: Mapped[dt.datetime]
    outcome: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any] | None]  # the callback's body, or the decision
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolved_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class JobStep(Base):
    """One line of a job's ordered step log, including every external API call."""

    __tablename__ = "job_steps"
    __table_args__ = (Index("ix_job_steps_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(500))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class RelatedRecord(Base):
    """An external record a job read or wrote: the ledger behind record lookup."""

    __tablename__ = "related_records"
    __table_args__ = (
        CheckConstraint(in_values("action", RECORD_ACTIONS), name="action"),
        Index("ix_related_records_tenant_id_record_id", "tenant_id", "record_id"),
        Index("ix_related_records_record_id", "record_id"),
        Index("ix_related_records_job_id", "job_id"),
        # Lookup by what people know (INV-0050, #1001, an email), any case (migration 0013_record_labels).
        Index("ix_related_records_record_label", text("lower(record_label)")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_jobs.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(255))
    record_label: Mapped[str | None] = mapped_column(String(255))  # invoice number, order name, email…
    action: Mapped[str] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Runner(Base):
    """A live (or recently live) runner process, for the dashboard and for lease ownership."""

    __tablename__ = "runners"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(Integer)
    busy: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    stopped_at: Mapped[dt.datetime | None]


class Schedule(Base):
    """A recurring job for one tenant: a cron expression in the tenant's timezone."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index(
            "ix_schedules_due",
            "next_run_at",
            postgresql_where=text("enabled"),
            sqlite_where=text("enabled"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    job_type: Mapped[str] = mapped_column(String(64))
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    next_run_at: Mapped[dt.datetime | None]
    last_fired_at: Mapped[dt.datetime | None]
    last_job_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("pipeline_jobs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class ClientPause(Base):
    """A paused client (``workflow = '*'``) or one paused workflow of a client: its jobs are held.

    Who paused it, why, and until when (``until``: the runner resumes it then; None: by hand).
    """

    __tablename__ = "client_pauses"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(320))
    paused_at: Mapped[dt.datetime]
    until: Mapped[dt.datetime | None]


class WorkflowSetting(Base):
    """Per-tenant switch and options of one workflow (validated by its pydantic model)."""

    __tablename__ = "workflow_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "workflow"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    workflow: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class SyncCursor(Base):
    """Where a scheduled sync got to (e.g. Xero contacts modified since …)."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "resource"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
