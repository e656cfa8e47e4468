"""The params search index holds what a user searches for: values, not keys or digests (PostgreSQL)

Revision ID: 0023_params_search_text
Revises: 0022_params_search_finished
Create Date: 2026-12-07 20:20:00

Issue 20: entering a finished job's params into ``ix_pipeline_jobs_params_trgm`` cost PostgreSQL
~97 µs of CPU per job for a Shopify webhook's params, more than the rest of the job's writes
together: a GIN entry per trigram, and ``CAST(params AS TEXT)`` of those params makes 162, among
them the key names (the same in every job) and the 48 hexadecimal digits of the event's body
digest. ``zixly_search_text(params)`` keeps the string and number values and takes out runs of 32
or more hexadecimal digits: 72 trigrams, ~45 µs (docs/benchmarks.md, "the search text";
``db/search_text.py`` says what is searched and has SQLite's version). The index is rebuilt in
one transaction, during which enqueues and the runners wait, as 0022's was: 54 s at 10,000,000
finished jobs on the 2-core benchmark machine (the downgrade's rebuild of the old one: 71 s);
plan the upgrade for a quiet moment.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0023_params_search_text"
down_revision: str | None = "0022_params_search_finished"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION zixly_search_text(params jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(
    jsonb_path_query_array(params, 'strict $.** ? (@.type() == "string" || @.type() == "number")')::text,
    '[0-9A-Fa-f]{32,}', '', 'g')
$$
"""
FINISHED = " WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')"
_INDEX = "CREATE INDEX ix_pipeline_jobs_params_trgm ON pipeline_jobs USING gin ({}) " + FINISHED
# Each range's index named after the parent's (ix_pipeline_jobs_params_trgm_p0), as 0018 does.
NAME_INDEXES = importlib.import_module("db.migrations.versions.20261206_0018_job_partitions").NAME_INDEXES


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)
        op.execute("DROP INDEX ix_pipeline_jobs_params_trgm")
        op.execute(_INDEX.format("zixly_search_text(params) gin_trgm_ops"))
        op.execute(NAME_INDEXES)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_pipeline_jobs_params_trgm")
        op.execute(_INDEX.format("(CAST(params AS TEXT)) gin_trgm_ops"))
        op.execute(NAME_INDEXES)
        op.execute("DROP FUNCTION zixly_search_text(jsonb)")
