"""dashboard sessions: what a browser's signed login cookie points at (revocable, idle-timed)

Revision ID: 0012_dashboard_sessions
Revises: 0011_connection_webhooks
Create Date: 2026-12-06 16:10:00

One row per dashboard login: the SHA-256 of the random id the signed cookie carries, the user,
a digest of the account at login (password hash, role, active) so changing any of them ends the
session, when it was last used (the idle timeout) and when it was revoked (logout).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0012_dashboard_sessions"
down_revision: str | None = "0011_connection_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("user_stamp", sa.String(length=64), nullable=False),
        sa.Column("created_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_dashboard_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(op.f("ix_dashboard_sessions_user_id"), "dashboard_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_sessions_user_id"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
