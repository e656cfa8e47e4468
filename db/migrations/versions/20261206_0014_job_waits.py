"""job_waits and the WAITING job state: jobs that wait for a callback or an approval

Revision ID: 0014_job_waits
Revises: 0013_record_labels
Create Date: 2026-12-06 16:00:00

A job may suspend until the outside world answers (``ctx.wait_for_callback``) or a person
approves (``ctx.require_approval``): its row goes ``WAITING`` (no runner, no lease; ``run_at``
is the wait's deadline) and a ``job_waits`` row holds the wait. The status check constraint
gains ``WAITING`` (on SQLite by rewriting the table's schema text, see ``_status_check``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0014_job_waits"
down_revision: str | None = "0013_record_labels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')"
NEW = "status IN ('QUEUED', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED')"


def _status_check(condition: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_pipeline_jobs_status"), "pipeline_jobs", type_="check")
        op.create_check_constraint(op.f("ck_pipeline_jobs_status"), "pipeline_jobs", condition)
        return
    # SQLite cannot alter a constraint, and rebuilding pipeline_jobs would not do: with foreign
    # keys on, dropping the old table cascades to every job's steps and records. A CHECK
    # constraint lives only in the schema text, so the documented procedure for it applies:
    # rewrite the table's SQL in sqlite_schema and bump the schema version
    # (https://www.sqlite.org/lang_altertable.html#otheralter). Existing rows satisfy both
    # conditions (the downgrade first moves WAITING jobs back to QUEUED).
    bind = op.get_bind()
    old = OLD if condition == NEW else NEW
    table_sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'pipeline_jobs'"
    ).scalar_one()
    if old not in table_sql:
        raise RuntimeError("pipeline_jobs' status check is not the expected one")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'pipeline_jobs'",
        (table_sql.replace(old, condition),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _status_check(NEW)
    op.create_table(
        "job_waits",
        sa.Column("id", db.types.BigId, nullable=False),
        sa.Column("job_id", db.types.BigId, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("detail", db.types.Json, nullable=True),
        sa.Column("deadline_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("payload", db.types.Json, nullable=True),
        sa.Column("resolved_by", sa.String(length=320), nullable=True),
        sa.Column("resolved_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", db.types.UTCDateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.CheckConstraint("reason IN ('callback', 'approval')", name=op.f("ck_job_waits_reason")),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('received', 'approved', 'rejected', 'timed_out')",
            name=op.f("ck_job_waits_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pipeline_jobs.id"], name=op.f("fk_job_waits_job_id_pipeline_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_job_waits_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_waits")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_job_waits_job_id_seq")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_job_waits_token_hash")),
    )
    op.create_index(
        "ix_job_waits_open_approvals",
        "job_waits",
        ["tenant_id", "created_at"],
        postgresql_where=sa.text("reason = 'approval' AND outcome IS NULL"),
        sqlite_where=sa.text("reason = 'approval' AND outcome IS NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Tenant-scoped roles see only their tenant's waits, as for every tenant table (0002).
        op.execute("ALTER TABLE job_waits ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON job_waits "
            "USING (tenant_id = zixly_current_tenant()) WITH CHECK (tenant_id = zixly_current_tenant())"
        )
        op.execute(
            """
DO $$ DECLARE seq text := pg_get_serial_sequence('public.job_waits', 'id'); BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'zixly_tenant_access') THEN
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON job_waits TO zixly_tenant_access';
    IF seq IS NOT NULL THEN
      EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO zixly_tenant_access', seq);
    END IF;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'zixly: not allowed to grant on job_waits';
END $$"""
        )


def downgrade() -> None:
    op.drop_index("ix_job_waits_open_approvals", table_name="job_waits")
    op.drop_table("job_waits")
    op.execute("UPDATE pipeline_jobs SET status = 'QUEUED' WHERE status = 'WAITING'")
    _status_check(OLD)
