"""The rollups' UPDATE trigger returns at once for statements with nothing to mark (PostgreSQL)

Revision ID: 0021_rollup_update_guard
Revises: 0020_idempotency_key_generations
Create Date: 2026-12-07 11:40:00

Issue 20: every UPDATE of ``pipeline_jobs`` runs ``zixly_job_rollup_mark_updated`` (0019), the
runner's claims and starts included, which never mark an hour: they move jobs between QUEUED and
RUNNING. Its query joined the statement's old and new rows all the same, about 10 µs of
PostgreSQL's CPU per job (docs/benchmarks.md). Now the function first checks whether any row on
either side has a finished status or a rerun link, and returns when none has: exactly the
statements whose query would have found nothing to mark. SQLite's row triggers already skip such
rows in their ``WHEN``: nothing changes there.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0021_rollup_update_guard"
down_revision: str | None = "0020_idempotency_key_generations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLLUPS = importlib.import_module("db.migrations.versions.20261206_0019_job_rollups")
_MARKS = f"status IN {_ROLLUPS.T} OR parent_job_id IS NOT NULL"
_GUARD = f"""BEGIN
  -- Nothing finished and no rerun link on either side: nothing to mark (claims, starts, releases).
  IF NOT EXISTS (SELECT 1 FROM new_rows WHERE {_MARKS}) AND NOT EXISTS (SELECT 1 FROM old_rows WHERE {_MARKS}) THEN
    RETURN NULL;
  END IF;
  INSERT"""
GUARDED = _ROLLUPS._PG_UPDATED.replace("BEGIN\n  INSERT", _GUARD, 1)
assert GUARDED != _ROLLUPS._PG_UPDATED


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARDED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_ROLLUPS._PG_UPDATED)
