"""Zixly's tables as typed SQLAlchemy 2 models.

The schema is built only by the Alembic migrations in ``db/migrations``; a test checks
that these models and the migrated schema agree. Timestamps are UTC-aware everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import BigId, Json, UTCDateTime

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
WAIT_REASONS = ("callback", "approval")
WAIT_OUTCOMES = ("received", "approved", "rejected", "timed_out")
RECORD_ACTIONS = ("READ", "CREATE", "UPDATE")
CONNECTION_STATUSES = ("connected", "expiring", "expired", "revoked", "error", "disconnected")
# A connection that claims its vendor organisation (a disconnected one gives it up).
LIVE_ORG = "external_org_id IS NOT NULL AND status <> 'disconnected'"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: Json}


class Tenant(Base):
    """A client business of the agency."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class User(Base):
    """A member of the agency's staff."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[dt.datetime | None]


class ApiToken(Base):
    """A bearer token for the listener's job API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="api", server_default="api")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(8))
    # Set: the token reads and enqueues only this tenant's jobs (a client's integration);
    # unset: a staff token over every tenant.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class Connection(Base):
    """A tenant's OAuth link to one vendor system. Tokens are stored encrypted."""

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system"),
        CheckConstraint(_in("status", CONNECTION_STATUSES), name="status"),
        # The listener resolves a webhook's tenant by (system, external org id).
        Index("ix_connections_system_external_org_id", "system", "external_org_id"),
        # One vendor organisation belongs to one tenant: otherwise whose its webhooks are is a guess.
        Index(
            "uq_connections_live_org",
            "system",
            "external_org_id",
            unique=True,
            postgresql_where=text(LIVE_ORG),
            sqlite_where=text(LIVE_ORG),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    external_org_id: Mapped[str | None] = mapped_column(String(200))
    org_name: Mapped[str | None] = mapped_column(String(200))
    token_ciphertext: Mapped[str | None] = mapped_column(Text)
    webhook_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="connected", server_default="connected")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_refresh_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


WEBHOOK_STATES = ("creating", "active", "recreating", "failed")


class ConnectionWebhook(Base):
    """The webhook Zixly keeps at the vendor for one connection (Asana: one per onboarding project).

    While a creation is in flight, ``handshake_sha256`` holds the SHA-256 of the single-use
    token in the target URL; the listener accepts a handshake only for that token, before
    ``handshake_expires_at``, and clears it as it does.
    """

    __tablename__ = "connection_webhooks"
    __table_args__ = (CheckConstraint(_in("state", WEBHOOK_STATES), name="state"),)

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    resource_gid: Mapped[str] = mapped_column(String(64))
    webhook_gid: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    handshake_sha256: Mapped[str | None] = mapped_column(String(64))
    handshake_expires_at: Mapped[dt.datetime | None]
    checked_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class OAuthState(Base):
    """An OAuth authorization in flight: the state, PKCE verifier and who started it."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    shop: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[dt.datetime]


class PipelineJob(Base):
    """One unit of work: at once the queue entry and the permanent record."""

    __tablename__ = "pipeline_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
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
        Index(
            "ix_pipeline_jobs_params_trgm", text("(CAST(params AS TEXT)) gin_trgm_ops"), postgresql_using="gin"
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
        CheckConstraint(_in("reason", WAIT_REASONS), name="reason"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', WAIT_OUTCOMES)}", name="outcome"),
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
        CheckConstraint(_in("action", RECORD_ACTIONS), name="action"),
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


class WebhookDelivery(Base):
    """A vendor delivery as received: kept raw so it can be replayed, and deduplicated."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id"),
        Index("ix_webhook_deliveries_received_at", "received_at"),
        Index("ix_webhook_deliveries_tenant_id_received_at", "tenant_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    event_type: Mapped[str | None] = mapped_column(String(64))
    external_org_id: Mapped[str | None] = mapped_column(String(200))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature_ok: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    job_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


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


class AuditEntry(Base):
    """Who did what to which target, allowed or refused."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    allowed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    details: Mapped[dict[str, Any] | None]
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


class RateLimitHit(Base):
    """A fixed-window request counter shared by every listener process (key = tenant:window)."""

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    window_start: Mapped[dt.datetime]
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginFailure(Base):
    """Failed logins counted per key (``account:<email>`` or ``address:<ip>``), for throttling.

    Unknown emails get rows too, exactly like known ones, so the table never tells which exist.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]


class DashboardSession(Base):
    """A dashboard login held by a browser's signed cookie (the cookie carries ``id``; only its hash is here).

    Valid while not revoked (logout), not idle past the timeout, and while the account is as it was at
    login: ``user_stamp`` digests the password hash, role and active flag, so a password change, a role
    change or a deactivation ends every session of that account without anyone having to remember to.
    """

    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    address: Mapped[str | None] = mapped_column(String(64))


# -- alerts (issue 18): channels, failure groups, and the delivery outbox the runner drains --
ALERT_CHANNEL_KINDS = ("slack", "email", "webhook")
ALERT_EVENTS = (
    "job_failed", "workflow_failing", "connection_broken", "connection_expiring", "sync_stale", "queue_backlog",
)  # fmt: skip
ALERT_DELIVERY_STATUSES = ("pending", "sent", "failed")


class AlertChannel(Base):
    """Where alerts go: a Slack webhook, email addresses or a signed webhook; global or one tenant's.

    The URL, addresses and signing secret live encrypted in ``config_ciphertext`` (a Slack
    incoming-webhook URL is itself a secret); ``target_hint`` is what the dashboard may show.
    """

    __tablename__ = "alert_channels"
    __table_args__ = (CheckConstraint(_in("kind", ALERT_CHANNEL_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    config_ciphertext: Mapped[str] = mapped_column(Text)
    target_hint: Mapped[str] = mapped_column(String(255))
    events: Mapped[list[str]] = mapped_column(Json, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class AlertGroup(Base):
    """One alert condition: a failure fingerprint, or a condition such as a broken connection.

    ``tenants`` maps tenant id (as text) to how many failures it had; ``notify_seq`` numbers the
    messages sent about the group, so each message is made exactly once (the outbox's unique key).
    """

    __tablename__ = "alert_groups"
    __table_args__ = (
        CheckConstraint(_in("event", ALERT_EVENTS), name="event"),
        CheckConstraint("state IN ('open', 'resolved')", name="state"),
        Index("ix_alert_groups_state_last_seen", "state", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    job_type: Mapped[str | None] = mapped_column(String(64))
    sample_job_id: Mapped[int | None] = mapped_column(BigId)
    tenants: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    first_seen: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime]
    opened_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    notified_at: Mapped[dt.datetime | None]
    notified_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notify_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertGroupJob(Base):
    """Which failure group a failed job was counted in (each job once: the primary key)."""

    __tablename__ = "alert_group_jobs"

    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("pipeline_jobs.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id", ondelete="CASCADE"), index=True)


class AlertDelivery(Base):
    """One message to one channel: the outbox the runners claim, send, retry and record."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", ALERT_DELIVERY_STATUSES), name="status"),
        UniqueConstraint("channel_id", "group_id", "seq"),
        Index(
            "ix_alert_deliveries_pending",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_alert_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("alert_groups.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[dt.datetime | None]


class QuotaUsage(Base):
    """Vendor calls spent per quota key (``conn:<id>`` or ``app:<system>``), limit and window start.

    Every runner charges this table before a vendor call (``db/quota.py``), so the limits hold
    across processes; old windows are pruned as new ones open.
    """

    __tablename__ = "quota_usage"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class QuotaLease(Base):
    """One vendor call in flight under a concurrency limit; it lapses at ``expires_at`` if its
    runner dies, so a killed runner cannot keep a slot."""

    __tablename__ = "quota_leases"
    __table_args__ = (Index("ix_quota_leases_key", "key", "limit_name", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    limit_name: Mapped[str] = mapped_column(String(32))
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime]


class ConnectionQuota(Base):
    """A tenant's own, lower limit for one of its connection's vendor limits (e.g. 1,000/day)."""

    __tablename__ = "connection_quotas"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


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
