"""Cheap probes behind the dashboard's live pages: a page polls one of these and redraws itself only
when the answer changes, so a tab left open costs an index lookup per poll, not the page's queries.

``bench/dashboard.py`` times each at 1,000,000 jobs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Connection, PipelineJob


def connection_states(session: Session, tenant_id: int) -> tuple[tuple[Any, ...], ...]:
    """What the Connections page shows of each of the tenant's connections (≤ one row per vendor)."""
    rows = session.execute(
        select(
            Connection.system, Connection.status, Connection.external_org_id, Connection.org_name,
            Connection.expires_at, Connection.last_error,
        )
        .where(Connection.tenant_id == tenant_id)
        .order_by(Connection.system)
    ).all()  # fmt: skip
    return tuple(tuple(r) for r in rows)


def job_state(session: Session, job_id: int) -> tuple[Any, ...] | None:
    """A job's status, attempts and newest rerun: what changes its page (primary key + partial index)."""
    row = session.execute(
        select(PipelineJob.status, PipelineJob.attempts, PipelineJob.completed_at).where(PipelineJob.id == job_id)
    ).first()
    if row is None:
        return None
    newest_rerun = session.scalar(select(func.max(PipelineJob.id)).where(PipelineJob.parent_job_id == job_id))
    return (*row, newest_rerun)
