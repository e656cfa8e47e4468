"""The params search index holds finished jobs only (PostgreSQL)

Revision ID: 0022_params_search_finished
Revises: 0021_rollup_update_guard
Create Date: 2026-12-07 14:10:00

Issue 20: ``ix_pipeline_jobs_params_trgm`` (0003) took a new entry for every trigram of a job's
params at every row version: the enqueue, the claim, the start and the completion. A webhook's
params (record ids, the event, its dedup key: about 250 characters) make some 130 trigrams, so
that index alone cost about four times the rest of the job's PostgreSQL work (docs/benchmarks.md,
"the params search index"). Now it covers finished jobs (COMPLETED, FAILED, CANCELLED) only: a
job enters it once, when it finishes. The browser's search finds unfinished jobs, which are few
(the queue), through the status index instead (``db.filters``). The index is rebuilt in one
transaction, during which enqueues and the runners wait: 154 s at 10,000,000 finished jobs on the
2-core benchmark machine (docs/benchmarks.md); plan the upgrade for a quiet moment.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0022_params_search_finished"
down_revision: str | None = "0021_rollup_update_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "CREATE INDEX ix_pipeline_jobs_params_trgm ON pipeline_jobs USING gin ((CAST(params AS TEXT)) gin_trgm_ops)"
FINISHED = " WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')"
# Each range's index named after the parent's (ix_pipeline_jobs_params_trgm_p0), as 0018 does.
NAME_INDEXES = importlib.import_module("db.migrations.versions.20261206_0018_job_partitions").NAME_INDEXES


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_pipeline_jobs_params_trgm")
        op.execute(_INDEX + FINISHED)
        op.execute(NAME_INDEXES)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_pipeline_jobs_params_trgm")
        op.execute(_INDEX)
        op.execute(NAME_INDEXES)
