"""Every condition check the alert check runs, by event (the vendor-aware ones live here)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

import jobtypes
from db.alerts import conditions, freshness, outbox
from db.alerts.groups import Condition
from db.queries.clients import connections
from integrations.forecast import live_forecasts
from integrations.registry import vendor
from integrations.tokens import token_store
from settings import Settings
from sync.metrics import SYNC_STALE


def stale_syncs(session: Session, now: dt.datetime) -> list[Condition]:
    found = []
    for s in freshness.freshness(session, now=now):
        SYNC_STALE.labels(s.tenant, s.job_type).set((now - s.stale_since).total_seconds() if s.stale_since else 0)
        if s.stale_since is None:
            continue
        found.append(Condition(
            "sync_stale", f"sync_stale:{s.schedule_id}", s.tenant_id,
            f"{s.job_type} for {s.tenant} stale since {s.stale_since:%Y-%m-%d %H:%M} UTC",
            f"Schedule #{s.schedule_id} runs every {s.interval}; {s.reason}.", since=s.stale_since, job_type=s.job_type,
        ))  # fmt: skip
    return found


def expiring_connections(session: Session, settings: Settings, now: dt.datetime) -> list[Condition]:
    """Live connections whose refresh token dies within the warning window, with what would stop."""
    warn = dt.timedelta(days=settings.alert_expiry_warn_days)
    found = []
    names = outbox.tenant_names(session)
    for f in live_forecasts(session, token_store(settings)):
        if f.dies_at is None or f.dies_at - now > warn:
            continue
        name = vendor(f.system).display_name
        found_uses = connections(
            session, f.tenant_id, systems=(f.system,), workflows=jobtypes.WORKFLOW_USES, uses=jobtypes.USES
        )
        uses = next(iter(found_uses), None)
        stops = ", ".join((uses or {}).get("workflows", []) + (uses or {}).get("schedules", [])) or "nothing recorded"
        refreshed = f"last refreshed {f.last_refresh_at:%Y-%m-%d %H:%M} UTC" if f.last_refresh_at else "never refreshed"
        tenant = names.get(f.tenant_id, str(f.tenant_id))
        found.append(Condition(
            "connection_expiring", f"connection_expiring:{f.tenant_id}:{f.system}", f.tenant_id,
            f"{name} connection of {tenant} dies {f.dies_at:%Y-%m-%d %H:%M} UTC unless used",
            f"Its refresh token was {refreshed}. If it dies, these stop: {stops}. "
            "Run a job that uses it, or reconnect it on the Connections page.",
            since=now,
        ))  # fmt: skip
    return found


def all_conditions(session: Session, settings: Settings, now: dt.datetime) -> dict[str, list[Condition]]:
    """Conditions true now, per event; an event's groups not listed here resolve."""
    return {
        "workflow_failing": conditions.workflows_failing(
            session, now=now, share=settings.alert_failure_share, min_jobs=settings.alert_failure_share_min_jobs
        ),
        "connection_broken": conditions.connections_broken(session),
        "connection_expiring": expiring_connections(session, settings, now),
        "sync_stale": stale_syncs(session, now),
        "queue_backlog": conditions.queue_backlogs(session, threshold=settings.alert_backlog_threshold),
    }
