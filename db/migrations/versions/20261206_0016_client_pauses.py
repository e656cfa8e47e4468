"""client_pauses and the PAUSED job state: hold one client's (or one workflow's) jobs

Revision ID: 0016_client_pauses
Revises: 0015_alerts
Create Date: 2026-12-06 19:30:00

A pause row holds a tenant's jobs, or one workflow's (``workflow = '*'``: every workflow),
while its books migrate: new jobs are made ``PAUSED`` instead of ``QUEUED``, the claim skips
the scope, and resuming releases them paced. The status check gains ``PAUSED`` (on SQLite by
rewriting the table's schema text, as 0014 did for WAITING). Two partial indexes: the held
jobs per tenant (board counts, resume) and the pending jobs per record (debounce's lookup).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0016_client_pauses"
down_revision: str | None = "0015_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status IN ('QUEUED', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED')"
NEW = "status IN ('QUEUED', 'RUNNING', 'WAITING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED')"
PENDING_KEYED = "status IN ('QUEUED', 'PAUSED') AND concurrency_key IS NOT NULL"


def _status_check(condition: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_pipeline_jobs_status"), "pipeline_jobs", type_="check")
        op.create_check_constraint(op.f("ck_pipeline_jobs_status"), "pipeline_jobs", condition)
        return
    # See 0014: SQLite keeps a CHECK constraint only in the schema text; rebuilding the table
    # would cascade-delete every job's steps. Existing rows satisfy both conditions.
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
        "client_pauses",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_by", sa.String(length=320), nullable=False),
        sa.Column("paused_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("until", db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_client_pauses_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "workflow", name=op.f("pk_client_pauses")),
    )
    op.create_index(
        "ix_pipeline_jobs_paused",
        "pipeline_jobs",
        ["tenant_id", "job_type", "id"],
        postgresql_where=sa.text("status = 'PAUSED'"),
        sqlite_where=sa.text("status = 'PAUSED'"),
    )
    op.create_index(
        "ix_pipeline_jobs_pending_concurrency_key",
        "pipeline_jobs",
        ["concurrency_key"],
        postgresql_where=sa.text(PENDING_KEYED),
        sqlite_where=sa.text(PENDING_KEYED),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Tenant-scoped roles see only their tenant's pauses, as for every tenant table (0002).
        op.execute("ALTER TABLE client_pauses ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON client_pauses "
            "USING (tenant_id = zixly_current_tenant()) WITH CHECK (tenant_id = zixly_current_tenant())"
        )
        op.execute(
            """
DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'zixly_tenant_access') THEN
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON client_pauses TO zixly_tenant_access';
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'zixly: not allowed to grant on client_pauses';
END $$"""
        )


def downgrade() -> None:
    op.drop_index("ix_pipeline_jobs_pending_concurrency_key", table_name="pipeline_jobs")
    op.drop_index("ix_pipeline_jobs_paused", table_name="pipeline_jobs")
    op.drop_table("client_pauses")
    op.execute("UPDATE pipeline_jobs SET status = 'QUEUED' WHERE status = 'PAUSED'")
    _status_check(OLD)
