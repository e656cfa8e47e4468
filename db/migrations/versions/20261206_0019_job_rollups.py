"""job_hour_counts, job_hour_durations, job_last_success, job_rollup_dirty: the dashboard's rollups

Revision ID: 0019_job_rollups
Revises: 0018_job_partitions
Create Date: 2026-12-06 22:30:00

Hourly pre-aggregated counts so the Overview and the health board do not read every job of
their window (db/rollups.py). Triggers on ``pipeline_jobs`` leave a marker for the creation hour
of each job that becomes (or stops being, or is deleted as) a finished job, in the writer's own
transaction; the runner's rollup tick recomputes marked hours. Every existing hour with a
finished job is marked here, so the tick catches up on the history (readers count marked hours
directly meanwhile: correct, just as slow as before until it has).

Also ``ix_pipeline_jobs_failed_type`` (tenant_id, job_type, created_at) WHERE status = 'FAILED':
the health board's failures since the last success are one short range per job type.

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0019_job_rollups"
down_revision: str | None = "0018_job_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

T = "('COMPLETED', 'FAILED', 'CANCELLED')"


def _pg_hour(c: str) -> str:
    return f"(date_trunc('hour', {c} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


def _lite_hour(c: str, shift: str = "") -> str:
    return f"strftime('%Y-%m-%d %H:00:00.000000', {c}{shift})"


# PostgreSQL: statement triggers over the transition tables, so a batched finish of 256 jobs
# inserts one marker per hour it touched, not one per job (bench/rollup_cost.py measures it).
# SECURITY DEFINER: a tenant role (row-level security, 0002) may write its own jobs but has no
# grant on the markers; the function writes them as the schema's owner, with the search_path
# the migration ran with (so a caller's search_path cannot redirect it).
_PG_UPDATED = f"""
CREATE OR REPLACE FUNCTION zixly_job_rollup_mark_updated() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO job_rollup_dirty (hour, hour_end)
  SELECT DISTINCT h, h + interval '1 hour' FROM (
    SELECT CASE WHEN w.which = 0 THEN {_pg_hour("o.created_at")} ELSE {_pg_hour("n.created_at")} END AS h
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    CROSS JOIN (VALUES (0), (1)) AS w(which)
    WHERE (o.status IN {T} OR n.status IN {T})
      AND (o.status, o.created_at, o.tenant_id, o.job_type, o.started_at, o.completed_at)
          IS DISTINCT FROM (n.status, n.created_at, n.tenant_id, n.job_type, n.started_at, n.completed_at)
      AND ((w.which = 0 AND o.status IN {T}) OR (w.which = 1 AND n.status IN {T}))
    UNION ALL
    -- A rerun lost (or moved) changes whether its FAILED parent still needs attention.
    SELECT {_pg_hour("p.created_at")} FROM old_rows o JOIN new_rows n ON n.id = o.id
    JOIN pipeline_jobs p ON p.id IN (o.parent_job_id, n.parent_job_id)
    WHERE o.parent_job_id IS DISTINCT FROM n.parent_job_id AND p.status = 'FAILED'
  ) x;
  RETURN NULL;
END $$;
"""

_PG_INSERTED = f"""
CREATE OR REPLACE FUNCTION zixly_job_rollup_mark_inserted() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO job_rollup_dirty (hour, hour_end)
  SELECT DISTINCT h, h + interval '1 hour' FROM (
    SELECT {_pg_hour("n.created_at")} AS h FROM new_rows n WHERE n.status IN {T}
    UNION ALL
    SELECT {_pg_hour("p.created_at")} FROM new_rows n JOIN pipeline_jobs p ON p.id = n.parent_job_id
    WHERE p.status = 'FAILED'
  ) x;
  RETURN NULL;
END $$;
"""

_PG_DELETED = f"""
CREATE OR REPLACE FUNCTION zixly_job_rollup_mark_deleted() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO job_rollup_dirty (hour, hour_end)
  SELECT DISTINCT h, h + interval '1 hour' FROM (
    SELECT {_pg_hour("g.created_at")} AS h FROM old_rows g WHERE g.status IN {T}
    UNION ALL
    SELECT {_pg_hour("p.created_at")} FROM old_rows g JOIN pipeline_jobs p ON p.id = g.parent_job_id
    WHERE p.status = 'FAILED'
  ) x;
  RETURN NULL;
END $$;
"""

_PG_TRIGGERS = [
    """CREATE TRIGGER job_rollup_insert AFTER INSERT ON pipeline_jobs REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION zixly_job_rollup_mark_inserted()""",
    """CREATE TRIGGER job_rollup_update AFTER UPDATE ON pipeline_jobs
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION zixly_job_rollup_mark_updated()""",
    """CREATE TRIGGER job_rollup_delete AFTER DELETE ON pipeline_jobs REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION zixly_job_rollup_mark_deleted()""",
]

_CHANGED = (
    "OLD.status IS NOT NEW.status OR OLD.created_at IS NOT NEW.created_at "
    "OR OLD.tenant_id IS NOT NEW.tenant_id OR OLD.job_type IS NOT NEW.job_type "
    "OR OLD.started_at IS NOT NEW.started_at OR OLD.completed_at IS NOT NEW.completed_at"
)
_COLUMNS = "status, created_at, tenant_id, job_type, started_at, completed_at, parent_job_id"
_PLUS_1H = ", '+1 hour'"


def _lite_mark(c: str, where: str) -> str:
    return (
        f"INSERT INTO job_rollup_dirty (hour, hour_end) SELECT {_lite_hour(c)}, {_lite_hour(c, _PLUS_1H)} "
        f"WHERE {where};"
    )


def _lite_parent(ids: str) -> str:
    return (
        f"INSERT INTO job_rollup_dirty (hour, hour_end) SELECT {_lite_hour('p.created_at')}, "
        f"{_lite_hour('p.created_at', _PLUS_1H)} FROM pipeline_jobs p WHERE p.status = 'FAILED' AND p.id IN ({ids});"
    )


_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER job_rollup_insert AFTER INSERT ON pipeline_jobs
WHEN NEW.status IN {T} OR NEW.parent_job_id IS NOT NULL BEGIN
  {_lite_mark("NEW.created_at", f"NEW.status IN {T}")}
  {_lite_parent("NEW.parent_job_id")}
END""",
    f"""CREATE TRIGGER job_rollup_update AFTER UPDATE OF {_COLUMNS} ON pipeline_jobs
WHEN ((OLD.status IN {T} OR NEW.status IN {T}) AND ({_CHANGED}))
     OR OLD.parent_job_id IS NOT NEW.parent_job_id BEGIN
  {_lite_mark("OLD.created_at", f"OLD.status IN {T}")}
  {_lite_mark("NEW.created_at", f"NEW.status IN {T}")}
  {_lite_parent("OLD.parent_job_id, NEW.parent_job_id")}
END""",
    f"""CREATE TRIGGER job_rollup_delete AFTER DELETE ON pipeline_jobs
WHEN OLD.status IN {T} OR OLD.parent_job_id IS NOT NULL BEGIN
  {_lite_mark("OLD.created_at", f"OLD.status IN {T}")}
  {_lite_parent("OLD.parent_job_id")}
END""",
]


_FAILED_TYPE = "ix_pipeline_jobs_failed_type"
_FAILED = sa.text("status = 'FAILED'")


def upgrade() -> None:
    # The health board counts each connection's failures after its last success: one short range
    # per job type naming its system (FAILED only: a permanent failure adds the only entries).
    op.create_index(
        _FAILED_TYPE, "pipeline_jobs", ["tenant_id", "job_type", "created_at"],
        postgresql_where=_FAILED, sqlite_where=_FAILED,
    )  # fmt: skip
    op.create_table(
        "job_rollup_dirty",
        sa.Column("id", db.types.BigId, nullable=False),
        sa.Column("hour", db.types.UTCDateTime(), nullable=False),
        sa.Column("hour_end", db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_rollup_dirty")),
    )
    op.create_index("ix_job_rollup_dirty_hour", "job_rollup_dirty", ["hour"])
    op.create_table(
        "job_hour_counts",
        sa.Column("hour", db.types.UTCDateTime(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("attention", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "tenant_id", "status", name=op.f("pk_job_hour_counts")),
    )
    op.create_table(
        "job_hour_durations",
        sa.Column("hour", db.types.UTCDateTime(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("job_type", sa.String(64), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "tenant_id", "job_type", "bucket_ms", name=op.f("pk_job_hour_durations")),
    )
    op.create_index("ix_job_hour_durations_tenant_id_hour", "job_hour_durations", ["tenant_id", "hour"])
    op.create_table(
        "job_last_success",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("job_type", sa.String(64), nullable=False),
        sa.Column("created_at", db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "job_type", name=op.f("pk_job_last_success")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for ddl in (_PG_INSERTED, _PG_UPDATED, _PG_DELETED):
            op.execute(ddl)
        for ddl in _PG_TRIGGERS:
            op.execute(ddl)
        hour, end = _pg_hour("created_at"), _pg_hour("created_at") + " + interval '1 hour'"
    else:
        for ddl in _SQLITE_TRIGGERS:
            op.execute(ddl)
        hour, end = _lite_hour("created_at"), _lite_hour("created_at", ", '+1 hour'")
    # The history so far: every hour with a finished job, for the tick to catch up on.
    op.execute(
        f"INSERT INTO job_rollup_dirty (hour, hour_end) SELECT DISTINCT {hour}, {end} "
        f"FROM pipeline_jobs WHERE status IN {T}"
    )


def downgrade() -> None:
    op.drop_index(_FAILED_TYPE, table_name="pipeline_jobs")
    for name in ("job_rollup_insert", "job_rollup_update", "job_rollup_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON pipeline_jobs")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        for fn in ("inserted", "updated", "deleted"):
            op.execute(f"DROP FUNCTION IF EXISTS zixly_job_rollup_mark_{fn}()")
    op.drop_table("job_last_success")
    op.drop_index("ix_job_hour_durations_tenant_id_hour", table_name="job_hour_durations")
    op.drop_table("job_hour_durations")
    op.drop_table("job_hour_counts")
    op.drop_index("ix_job_rollup_dirty_hour", table_name="job_rollup_dirty")
    op.drop_table("job_rollup_dirty")
