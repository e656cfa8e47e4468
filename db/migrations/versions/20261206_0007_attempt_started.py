"""pipeline_jobs.attempt_started: an attempt counts only once its handler started

Revision ID: 0007_attempt_started
Revises: 0006_login_failures
Create Date: 2026-12-06 11:40:00

A claim no longer spends an attempt: the worker that starts the handler does (``attempts + 1``,
``attempt_started = true``, committed before the handler runs). The reaper can then tell a
dead runner's started attempts (they count) from its prefetched, never-started claims (given
back at no cost). A constant default: no table rewrite on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_attempt_started"
down_revision: str | None = "0006_login_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pipeline_jobs", sa.Column("attempt_started", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_jobs") as batch:
        batch.drop_column("attempt_started")
