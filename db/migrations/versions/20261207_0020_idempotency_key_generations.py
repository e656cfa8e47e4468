"""job_idempotency_keys partitioned by generation, dropped whole at retention (PostgreSQL)

Revision ID: 0020_idempotency_key_generations
Revises: 0019_job_rollups
Create Date: 2026-12-07 02:00:00

Issue 20: retention deleted a month's idempotency keys row by row (most of the 37.5–65.6 s of
pruning a month at 10 M jobs) and left them dead in one ever-bloating table. Now the keys table
is ``PARTITION BY LIST (generation)``, one partition per generation (``job_idempotency_keys_g<lo>``),
listed in ``job_key_generations`` (and the id ranges retention dropped in ``job_ranges_dropped``:
a closed generation's key naming a job of one is free); retention drops a generation's partition once every job its
keys name is gone (``db/jobs/idempotency_keys.py`` says how uniqueness still holds across
generations, and why generations and not the jobs' id ranges).

Existing keys are sorted into one generation per id range below the current one (each closed
at its range's end) and the current generation (the range holding the newest id), copying the
rows once: plan a pause on a big database. The index on ``job_id`` goes (nothing reads it any
more: the DEFAULT partition's prune finds keys by the job's own key). SQLite keeps its unique
column on the jobs: nothing happens there. The downgrade rebuilds the one plain table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic import op

from db.tenancy import if_access_role

revision: str = "0020_idempotency_key_generations"
down_revision: str | None = "0019_job_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "zixly_current_tenant()"
OLD = "job_idempotency_keys_before_0020"
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


def _grant(statement: str) -> None:
    op.execute(if_access_role(statement))


def _secure_keys() -> None:
    op.execute("ALTER TABLE job_idempotency_keys ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON job_idempotency_keys "
        f"USING (tenant_id = {CURRENT}) WITH CHECK (tenant_id = {CURRENT})"
    )
    _grant("GRANT SELECT, INSERT, UPDATE, DELETE ON job_idempotency_keys TO zixly_tenant_access")


def _ranges() -> list[tuple[int, int]]:
    bind = op.get_bind()
    rows = bind.exec_driver_sql(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'pipeline_jobs'::regclass"
    ).all()
    found = (_BOUND.search(bound) for (bound,) in rows)
    return sorted((int(m.group(1)), int(m.group(2))) for m in found if m)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE job_idempotency_keys RENAME TO {OLD}")
    op.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT pk_job_idempotency_keys TO pk_{OLD}")
    op.execute("CREATE TABLE job_key_generations (lo bigint NOT NULL, closed_below bigint, lowest_id bigint, "
               "CONSTRAINT pk_job_key_generations PRIMARY KEY (lo))")  # fmt: skip
    op.execute("CREATE TABLE job_ranges_dropped (lo bigint NOT NULL, hi bigint NOT NULL, "
               "CONSTRAINT pk_job_ranges_dropped PRIMARY KEY (lo))")  # fmt: skip
    op.execute(
        "CREATE TABLE job_idempotency_keys (tenant_id integer NOT NULL, idempotency_key varchar(255) NOT NULL, "
        "job_id bigint NOT NULL, generation bigint NOT NULL, "
        "CONSTRAINT pk_job_idempotency_keys PRIMARY KEY (tenant_id, idempotency_key, generation), "
        "CONSTRAINT fk_job_idempotency_keys_tenant_id_tenants FOREIGN KEY (tenant_id) "
        "REFERENCES tenants (id) ON DELETE CASCADE) PARTITION BY LIST (generation)"
    )
    newest = int(
        bind.exec_driver_sql(
            "SELECT greatest(coalesce(pg_sequence_last_value('pipeline_jobs_id_seq'), 0), "
            "(SELECT coalesce(max(id), 0) FROM pipeline_jobs_default))"
        ).scalar()
        or 0
    )
    ranges = _ranges()
    current = max((lo for lo, _ in ranges if lo <= newest), default=0)
    for lo, hi in ranges:
        if lo >= current:
            break
        has_keys = bind.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM {OLD} WHERE job_id >= {lo} AND job_id < {hi})"
        ).scalar()
        if has_keys:  # a closed generation: its keys name jobs of this range only
            op.execute(f"INSERT INTO job_key_generations (lo, closed_below, lowest_id) VALUES ({lo}, {hi}, {lo})")
            op.execute(
                f"CREATE TABLE job_idempotency_keys_g{lo} PARTITION OF job_idempotency_keys FOR VALUES IN ({lo})"
            )
            op.execute(
                f"INSERT INTO job_idempotency_keys SELECT tenant_id, idempotency_key, job_id, {lo} FROM {OLD} "
                f"WHERE job_id >= {lo} AND job_id < {hi}"
            )
    op.execute(f"INSERT INTO job_key_generations (lo) VALUES ({current})")
    op.execute(
        f"CREATE TABLE job_idempotency_keys_g{current} PARTITION OF job_idempotency_keys FOR VALUES IN ({current})"
    )
    op.execute(
        f"INSERT INTO job_idempotency_keys SELECT k.tenant_id, k.idempotency_key, k.job_id, {current} FROM {OLD} k "
        "WHERE NOT EXISTS (SELECT 1 FROM job_key_generations g WHERE g.closed_below IS NOT NULL "
        "AND k.job_id >= g.lo AND k.job_id < g.closed_below)"
    )
    op.execute(f"DROP TABLE {OLD}")
    _secure_keys()
    # The enqueue reads the current generation as whichever role it runs as.
    _grant("GRANT SELECT ON job_key_generations, job_ranges_dropped TO zixly_tenant_access")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE job_idempotency_keys RENAME TO {OLD}")
    op.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT pk_job_idempotency_keys TO pk_{OLD}")
    op.execute(
        "CREATE TABLE job_idempotency_keys (tenant_id integer NOT NULL, idempotency_key varchar(255) NOT NULL, "
        "job_id bigint NOT NULL, CONSTRAINT pk_job_idempotency_keys PRIMARY KEY (tenant_id, idempotency_key), "
        "CONSTRAINT fk_job_idempotency_keys_tenant_id_tenants FOREIGN KEY (tenant_id) "
        "REFERENCES tenants (id) ON DELETE CASCADE)"
    )
    # One key per (tenant, key): the one whose job still exists (a dead key of an older generation
    # may share its name with a live one of a newer generation).
    op.execute(
        "INSERT INTO job_idempotency_keys SELECT DISTINCT ON (k.tenant_id, k.idempotency_key) "
        f"k.tenant_id, k.idempotency_key, k.job_id FROM {OLD} k JOIN pipeline_jobs j ON j.id = k.job_id "
        "ORDER BY k.tenant_id, k.idempotency_key, k.generation DESC"
    )
    op.execute("CREATE INDEX ix_job_idempotency_keys_job_id ON job_idempotency_keys (job_id)")
    op.execute(f"DROP TABLE {OLD}")
    op.execute("DROP TABLE job_key_generations, job_ranges_dropped")
    _secure_keys()
