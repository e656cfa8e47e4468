"""failed logins per account and per client address (login throttling)

Revision ID: 0006_login_failures
Revises: 0005_lean_job_indexes
Create Date: 2026-12-06 11:20:00

One small row per key (``account:<email>``, ``address:<ip>``): the failure count since the
last success, when the last failure was and, once over the limit, until when the key is
locked. Read before the password is checked, written on every failure.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0006_login_failures"
down_revision: str | None = "0005_lean_job_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failed_at", db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
