"""trigram indexes for the job browser's free-text search (PostgreSQL)

Revision ID: 0003_trgm
Revises: 0002_rls
Create Date: 2026-11-26 13:55:00

The job browser's text filter (``db.filters.JobFilter.text``) is
``CAST(params AS TEXT) ILIKE '%…%' OR error ILIKE '%…%'``: a sequential scan of every job
without an index (0.9 s at 1,000,000 jobs for a rare string). ``pg_trgm`` GIN indexes answer
``ILIKE '%…%'`` directly; the two conditions become a BitmapOr of the two indexes.

The index expression must be the query's expression exactly: ``(params)::text``, which is
what ``CAST(params AS TEXT)`` parses to (``AS VARCHAR`` would not match). The error index is
partial (most jobs have no error). On SQLite this migration does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_trgm"
down_revision: str | None = "0002_rls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_pipeline_jobs_params_trgm ON pipeline_jobs "
        "USING gin ((CAST(params AS TEXT)) gin_trgm_ops)"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_pipeline_jobs_error_trgm ON pipeline_jobs "
        "USING gin (error gin_trgm_ops) WHERE error IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_pipeline_jobs_error_trgm")
    op.execute("DROP INDEX IF EXISTS ix_pipeline_jobs_params_trgm")
    # The extension stays: other objects may use it, and dropping it needs more rights.
