"""Every condition check the alert check runs, by event (the vendor-aware ones live here)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from db.alerts import conditions
from db.alerts.groups import Condition
from settings import Settings


def all_conditions(session: Session, settings: Settings, now: dt.datetime) -> dict[str, list[Condition]]:
    """Conditions true now, per event; an event's groups not listed here resolve."""
    return {
        "workflow_failing": conditions.workflows_failing(
            session, now=now, share=settings.alert_failure_share, min_jobs=settings.alert_failure_share_min_jobs
        ),
        "connection_broken": conditions.connections_broken(session),
        "queue_backlog": conditions.queue_backlogs(session, threshold=settings.alert_backlog_threshold),
    }
