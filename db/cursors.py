"""Sync cursors: where a scheduled sync got to, per (tenant, system, resource).

A sync advances its cursor only after the work up to it is done, each advance in its own
short transaction, so a crash resumes from the last finished page. Functions never commit.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import SyncCursor


def get(session: Session, tenant_id: int, system: str, resource: str) -> str | None:
    return session.scalar(
        select(SyncCursor.value).where(
            SyncCursor.tenant_id == tenant_id, SyncCursor.system == system, SyncCursor.resource == resource
        )
    )


def put(session: Session, tenant_id: int, system: str, resource: str, value: str | None) -> None:
    """Store the cursor (insert or update)."""
    row = session.scalar(
        select(SyncCursor).where(
            SyncCursor.tenant_id == tenant_id, SyncCursor.system == system, SyncCursor.resource == resource
        )
    )
    now = dt.datetime.now(dt.UTC)
    if row is None:
        session.add(SyncCursor(tenant_id=tenant_id, system=system, resource=resource, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    session.flush()


def clear(session: Session, tenant_id: int, system: str, resource: str) -> None:
    """Forget the cursor: the next run backfills everything."""
    session.execute(
        delete(SyncCursor).where(
            SyncCursor.tenant_id == tenant_id, SyncCursor.system == system, SyncCursor.resource == resource
        )
    )
