"""Alerts (issue 18): channels, failure groups, and the delivery outbox the runner drains."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
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

from db.models.base import Base, in_values
from db.types import BigId, Json

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
    __table_args__ = (CheckConstraint(in_values("kind", ALERT_CHANNEL_KINDS), name="kind"),)

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
        CheckConstraint(in_values("event", ALERT_EVENTS), name="event"),
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
        CheckConstraint(in_values("status", ALERT_DELIVERY_STATUSES), name="status"),
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
