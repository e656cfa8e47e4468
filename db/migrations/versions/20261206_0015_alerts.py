"""alerts: channels, failure groups (with the jobs counted in each) and the delivery outbox

Revision ID: 0015_alerts
Revises: 0014_job_waits
Create Date: 2026-12-06 15:49:16

Channels hold their URL, addresses and signing secret encrypted (``config_ciphertext``, the
same Fernet keys as tokens). A delivery is made once per (channel, group, message number):
the unique key lets any number of runners write and claim the outbox without sending twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import db.types

revision: str = "0015_alerts"
down_revision: str | None = "0014_job_waits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("job_type", sa.String(length=64), nullable=True),
        sa.Column("sample_job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "tenants", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("first_seen", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notified_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("notify_seq", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "event IN ('job_failed', 'workflow_failing', 'connection_broken', 'connection_expiring',"
            " 'sync_stale', 'queue_backlog')",
            name=op.f("ck_alert_groups_event"),
        ),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_alert_groups_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_alert_groups_fingerprint")),
    )
    op.create_index("ix_alert_groups_state_last_seen", "alert_groups", ["state", "last_seen"], unique=False)
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config_ciphertext", sa.Text(), nullable=False),
        sa.Column("target_hint", sa.String(length=255), nullable=False),
        sa.Column(
            "events", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('slack', 'email', 'webhook')", name=op.f("ck_alert_channels_kind")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_alert_channels_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_channels")),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at", db.types.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("locked_by", sa.String(length=200), nullable=True),
        sa.Column("locked_until", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f("ck_alert_deliveries_status")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["alert_channels.id"],
            name=op.f("fk_alert_deliveries_channel_id_alert_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alert_deliveries_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("channel_id", "group_id", "seq", name=op.f("uq_alert_deliveries_channel_id_group_id_seq")),
    )
    op.create_index("ix_alert_deliveries_created_at", "alert_deliveries", ["created_at"], unique=False)
    op.create_index(
        "ix_alert_deliveries_pending",
        "alert_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "alert_group_jobs",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alert_group_jobs_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline_jobs.id"], name=op.f("fk_alert_group_jobs_job_id_pipeline_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_alert_group_jobs")),
    )
    op.create_index(op.f("ix_alert_group_jobs_group_id"), "alert_group_jobs", ["group_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_group_jobs_group_id"), table_name="alert_group_jobs")
    op.drop_table("alert_group_jobs")
    op.drop_index(
        "ix_alert_deliveries_pending",
        table_name="alert_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_alert_deliveries_created_at", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_channels")
    op.drop_index("ix_alert_groups_state_last_seen", table_name="alert_groups")
    op.drop_table("alert_groups")
