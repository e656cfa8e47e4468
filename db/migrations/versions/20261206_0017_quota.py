"""quota_usage, quota_leases, connection_quotas: the vendor quota governor

Revision ID: 0017_quota
Revises: 0016_client_pauses
Create Date: 2026-12-06 19:40:00

Every runner charges ``quota_usage`` (calls per key, limit and window start) and takes a
``quota_leases`` row per call in flight under a concurrency limit, so a vendor's limits hold
across runner processes; ``connection_quotas`` holds a tenant's own lower limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0017_quota"
down_revision: str | None = "0016_client_pauses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_usage",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("limit_name", sa.String(32), nullable=False),
        sa.Column("window_start", db.types.UTCDateTime(), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("key", "limit_name", "window_start", name=op.f("pk_quota_usage")),
    )
    op.create_table(
        "quota_leases",
        sa.Column("id", db.types.BigId, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("limit_name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_leases")),
    )
    op.create_index("ix_quota_leases_key", "quota_leases", ["key", "limit_name", "expires_at"])
    op.create_table(
        "connection_quotas",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("limit_name", sa.String(32), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.Column("updated_at", db.types.UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_connection_quotas_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "limit_name", name=op.f("pk_connection_quotas")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("connection_quotas")
    op.drop_index("ix_quota_leases_key", table_name="quota_leases")
    op.drop_table("quota_leases")
    op.drop_table("quota_usage")
