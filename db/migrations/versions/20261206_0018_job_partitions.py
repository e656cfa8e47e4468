"""job history partitioned by job id range (PostgreSQL)

Revision ID: 0018_job_partitions
Revises: 0017_quota
Create Date: 2026-12-06 22:40:00

Issue 20: a hot path that stays small while the history grows, and retention that drops a
month in seconds without long locks or bloat (docs/benchmarks.md, "History: 10,000,000 jobs").
``pipeline_jobs`` becomes ``PARTITION BY RANGE (id)``, ``job_steps`` and ``related_records``
``PARTITION BY RANGE (job_id)``, in ranges of 1,000,000 ids (``db/jobs/partitions.py`` says why
and makes new ranges ahead) plus a DEFAULT partition each. What that changes:

* a unique key on a partitioned table must contain the partition key, so
  ``(tenant_id, idempotency_key)`` moves to its own table ``job_idempotency_keys`` (the enqueue
  inserts there first, ``ON CONFLICT DO NOTHING``); the column stays on the job for display;
* ``parent_job_id`` loses its self-referencing foreign key (retention clears it by hand);
* the steps' and related records' foreign keys are per partition, to their own range's job
  partition, so dropping a range never checks the other ranges;
* the tables are rebuilt (rows copied in one transaction: plan downtime on a big database),
  with their indexes, RLS policies and grants (0002, 0003, 0005, 0016 and the models'
  indexes), and the foreign keys from waits, alert links and schedules re-pointed.

SQLite keeps plain tables: this migration does nothing there. The downgrade rebuilds plain
tables the same way (the idempotency keys back on the jobs).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db.tenancy import if_access_role

revision: str = "0018_job_partitions"
down_revision: str | None = "0017_quota"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIZE = 1_000_000
AHEAD = 2
CURRENT = "zixly_current_tenant()"
TABLES = (("pipeline_jobs", "id"), ("job_steps", "job_id"), ("related_records", "job_id"))

INDEXES = (
    "CREATE INDEX ix_pipeline_jobs_claimable ON pipeline_jobs (priority DESC, run_at, id) WHERE status = 'QUEUED'",
    "CREATE INDEX ix_pipeline_jobs_completed_at ON pipeline_jobs (completed_at) WHERE completed_at IS NOT NULL",
    "CREATE INDEX ix_pipeline_jobs_created_at_id ON pipeline_jobs (created_at, id)",
    "CREATE INDEX ix_pipeline_jobs_error_trgm ON pipeline_jobs USING gin (error gin_trgm_ops) WHERE error IS NOT NULL",
    "CREATE INDEX ix_pipeline_jobs_job_type_created_at ON pipeline_jobs (job_type, created_at)",
    "CREATE INDEX ix_pipeline_jobs_params_trgm ON pipeline_jobs USING gin ((CAST(params AS TEXT)) gin_trgm_ops)",
    "CREATE INDEX ix_pipeline_jobs_parent_job_id ON pipeline_jobs (parent_job_id) WHERE parent_job_id IS NOT NULL",
    "CREATE INDEX ix_pipeline_jobs_paused ON pipeline_jobs (tenant_id, job_type, id) WHERE status = 'PAUSED'",
    "CREATE INDEX ix_pipeline_jobs_pending_concurrency_key ON pipeline_jobs (concurrency_key) "
    "WHERE status IN ('QUEUED', 'PAUSED') AND concurrency_key IS NOT NULL",
    "CREATE INDEX ix_pipeline_jobs_running_concurrency_key ON pipeline_jobs (concurrency_key) "
    "WHERE status = 'RUNNING' AND concurrency_key IS NOT NULL",
    "CREATE INDEX ix_pipeline_jobs_running_lease ON pipeline_jobs (locked_until) WHERE status = 'RUNNING'",
    "CREATE INDEX ix_pipeline_jobs_status_created_at ON pipeline_jobs (status, created_at)",
    "CREATE INDEX ix_pipeline_jobs_tenant_id_created_at ON pipeline_jobs (tenant_id, created_at)",
    "CREATE INDEX ix_pipeline_jobs_tenant_id_unsuccessful ON pipeline_jobs (tenant_id, status, created_at) "
    "WHERE status IN ('FAILED', 'CANCELLED')",
    "CREATE INDEX ix_job_steps_job_id_id ON job_steps (job_id, id)",
    "CREATE INDEX ix_related_records_job_id ON related_records (job_id)",
    "CREATE INDEX ix_related_records_record_id ON related_records (record_id)",
    "CREATE INDEX ix_related_records_record_label ON related_records (lower(record_label))",
    "CREATE INDEX ix_related_records_tenant_id_record_id ON related_records (tenant_id, record_id)",
)
# A partition's index is named after its parent index (ix_pipeline_jobs_claimable_p0), so a plan
# names the index it uses (db/jobs/partitions.py runs the same for new ranges).
NAME_INDEXES = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass::text AS child, p.relname AS parent,
                  p.relname || substr(t.relname, length(pt.relname) + 1) AS wanted
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid AND c.relkind = 'i'
           JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_index px ON px.indexrelid = p.oid JOIN pg_class pt ON pt.oid = px.indrelid
           WHERE pt.relname IN ('pipeline_jobs', 'job_steps', 'related_records')
  LOOP
    IF r.child <> r.wanted THEN
      EXECUTE format('ALTER INDEX %s RENAME TO %I', r.child, r.wanted);
    END IF;
  END LOOP;
END $$"""
# Foreign keys into pipeline_jobs from tables this migration does not rebuild.
INBOUND = (
    ("job_waits", "fk_job_waits_job_id_pipeline_jobs", "job_id", "CASCADE"),
    ("alert_group_jobs", "fk_alert_group_jobs_job_id_pipeline_jobs", "job_id", "CASCADE"),
    ("schedules", "fk_schedules_last_job_id_pipeline_jobs", "last_job_id", "SET NULL"),
)


def _grant(statement: str) -> None:
    op.execute(if_access_role(statement))


def _rebuild(partitioned: bool) -> None:
    """Copy the three tables into new ones (partitioned or plain), then finish them."""
    for table, key in TABLES:
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_before_0018")
        how = f" PARTITION BY RANGE ({key})" if partitioned else ""
        op.execute(f"CREATE TABLE {table} (LIKE {table}_before_0018 INCLUDING DEFAULTS INCLUDING CONSTRAINTS){how}")
    if partitioned:
        top = (
            op.get_bind()
            .exec_driver_sql(
                "SELECT greatest(coalesce(max(id), 0), "
                "coalesce(pg_sequence_last_value('pipeline_jobs_id_seq'), 0)) FROM pipeline_jobs_before_0018"
            )
            .scalar()
        )
        for lo in range(0, (int(top or 0) // SIZE + AHEAD) * SIZE, SIZE):
            for table, _ in TABLES:
                op.execute(f"CREATE TABLE {table}_p{lo} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({lo + SIZE})")
        for table, _ in TABLES:
            op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    for table, _ in TABLES:
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_before_0018")
    if partitioned:
        op.execute(
            "CREATE TABLE job_idempotency_keys (tenant_id integer NOT NULL, idempotency_key varchar(255) NOT NULL, "
            "job_id bigint NOT NULL, CONSTRAINT pk_job_idempotency_keys PRIMARY KEY (tenant_id, idempotency_key), "
            "CONSTRAINT fk_job_idempotency_keys_tenant_id_tenants FOREIGN KEY (tenant_id) "
            "REFERENCES tenants (id) ON DELETE CASCADE)"
        )
        op.execute(
            "INSERT INTO job_idempotency_keys SELECT tenant_id, idempotency_key, id FROM pipeline_jobs "
            "WHERE idempotency_key IS NOT NULL"
        )
        op.execute("CREATE INDEX ix_job_idempotency_keys_job_id ON job_idempotency_keys (job_id)")
    for table, _ in TABLES:
        op.execute(f"DROP TABLE {table}_before_0018 CASCADE")  # its indexes, policies and inbound keys
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute("ALTER TABLE pipeline_jobs ADD CONSTRAINT pk_pipeline_jobs PRIMARY KEY (id)")
    # Partitioned: the key must hold the partition key; (id, job_id) keeps today's one index per
    # table beside (job_id, …), which the job page and the cascade read.
    child_pk = "id, job_id" if partitioned else "id"
    op.execute(f"ALTER TABLE job_steps ADD CONSTRAINT pk_job_steps PRIMARY KEY ({child_pk})")
    op.execute(f"ALTER TABLE related_records ADD CONSTRAINT pk_related_records PRIMARY KEY ({child_pk})")
    for ddl in INDEXES:
        op.execute(ddl)
    if partitioned:
        op.execute(NAME_INDEXES)
    for table in ("pipeline_jobs", "related_records"):
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_tenant_id_tenants FOREIGN KEY (tenant_id) "
            "REFERENCES tenants (id) ON DELETE CASCADE"
        )
    if partitioned:
        parts = op.get_bind().exec_driver_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'pipeline_jobs'::regclass"
        )
        for (name,) in parts.all():
            suffix = name.removeprefix("pipeline_jobs")
            for child in ("job_steps", "related_records"):
                op.execute(
                    f"ALTER TABLE {child}{suffix} ADD CONSTRAINT fk_{child}{suffix}_job_id FOREIGN KEY (job_id) "
                    f"REFERENCES pipeline_jobs{suffix} (id) ON DELETE CASCADE"
                )
    else:
        # A rerun whose parent a partitioned retention dropped keeps NULL, as ON DELETE SET NULL does.
        op.execute(
            "UPDATE pipeline_jobs c SET parent_job_id = NULL WHERE parent_job_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM pipeline_jobs p WHERE p.id = c.parent_job_id)"
        )
        # A key forgotten by retention whose job outlived it (the drop timed out) and was sent
        # again: the older job keeps its row but not the key.
        op.execute(
            "UPDATE pipeline_jobs j SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM pipeline_jobs k WHERE k.tenant_id = j.tenant_id "
            "AND k.idempotency_key = j.idempotency_key AND k.id > j.id)"
        )
        op.execute(
            "ALTER TABLE pipeline_jobs ADD CONSTRAINT uq_pipeline_jobs_tenant_id_idempotency_key "
            "UNIQUE (tenant_id, idempotency_key)"
        )
        op.execute(
            "ALTER TABLE pipeline_jobs ADD CONSTRAINT fk_pipeline_jobs_parent_job_id_pipeline_jobs "
            "FOREIGN KEY (parent_job_id) REFERENCES pipeline_jobs (id) ON DELETE SET NULL"
        )
        for child in ("job_steps", "related_records"):
            op.execute(
                f"ALTER TABLE {child} ADD CONSTRAINT fk_{child}_job_id_pipeline_jobs FOREIGN KEY (job_id) "
                "REFERENCES pipeline_jobs (id) ON DELETE CASCADE"
            )
    for table, name, column, action in INBOUND:
        # Rows pointing at jobs the plain table no longer has cannot exist (the keys held).
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES pipeline_jobs (id) ON DELETE {action}"
        )
    _secure(partitioned)


def _secure(partitioned: bool) -> None:
    """RLS and grants as 0002 gave them (policies on the parents apply to every partition)."""
    tables = ["pipeline_jobs", "related_records", "job_steps"]
    if partitioned:
        tables.append("job_idempotency_keys")
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        if table != "job_steps":
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING (tenant_id = {CURRENT}) WITH CHECK (tenant_id = {CURRENT})"
            )
        _grant(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO zixly_tenant_access")
    via_job = f"EXISTS (SELECT 1 FROM pipeline_jobs j WHERE j.id = job_steps.job_id AND j.tenant_id = {CURRENT})"
    op.execute(f"CREATE POLICY tenant_isolation ON job_steps USING ({via_job}) WITH CHECK ({via_job})")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The plain tables take the keys back onto the jobs (a key whose job is gone is dropped).
    op.execute("DROP TABLE job_idempotency_keys")
    _rebuild(partitioned=False)
