"""index for the job browser's "this tenant's failed jobs"

Revision ID: 0004_tenant_status
Revises: 0003_trgm
Create Date: 2026-11-26 14:20:00

"Tenant X, FAILED, newest first" (the browser filter, the bulk-rerun count) walked the
tenant's whole history through ``ix_pipeline_jobs_tenant_id_created_at`` when the tenant had
few failed jobs: 0.1–0.3 s at 1,000,000 jobs, ~0.1 ms with this index.

Partial on the two terminal non-success states, so the queue's hot writes (enqueue, claim,
complete: QUEUED, RUNNING, COMPLETED row versions) add no entries to it; only a job that
fails or is cancelled does. QUEUED and RUNNING rows are few and have partial indexes already.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tenant_status"
down_revision: str | None = "0003_trgm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "status IN ('FAILED', 'CANCELLED')"


def upgrade() -> None:
    op.create_index(
        "ix_pipeline_jobs_tenant_id_unsuccessful",
        "pipeline_jobs",
        ["tenant_id", "status", "created_at"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_pipeline_jobs_tenant_id_unsuccessful", table_name="pipeline_jobs")
