"""The Clients health board and the Connections page.

A job belongs to an integration when its job type names the system (job types are named
``<source>-<what>-to-<target>``, e.g. ``shopify-order-to-xero`` touches Shopify and Xero).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session, aliased

from db.models import (
    Connection,
    ConnectionWebhook,
    PipelineJob,
    Schedule,
    SyncCursor,
    Tenant,
    WebhookDelivery,
    WorkflowSetting,
)
from db.queries import rollup_read
from db.queries._sql import as_utc, utcnow
from db.queries.activity import JOB_TYPES_SQL

SYSTEMS = ("xero", "hubspot", "shopify", "asana")
LOOKBACK = dt.timedelta(days=7)  # job history the board looks at per row (bounded work)
WEBHOOK_SILENCE_H = 24.0
CURSOR_LAG_H = 24.0
LIVE = ("connected", "expiring")


def _severity(row: dict[str, Any]) -> int:
    status = row["status"]
    if status in ("expired", "revoked", "error"):
        return 100
    if status == "not connected":
        return 0
    score = 0
    if row["consecutive_failures"]:
        score += 10 + min(row["consecutive_failures"], 80)
    if row["webhook_silent"]:
        score += 5
    if row.get("webhook_state") == "failed":  # no events arrive until it is re-created
        score += 8
    if status == "expiring":
        score += 3
    if row["cursor_lag_h"] is not None and row["cursor_lag_h"] > CURSOR_LAG_H:
        score += 2
    return score or 1


def _job_history(
    tenant_ids: tuple[int, ...], since: dt.datetime, types_by_system: dict[str, list[str]]
) -> tuple[Any, Any]:
    """Per connection over the lookback window: the newest success, and the failures after it.

    The newest success per tenant × job type comes from the rollup (``job_last_success``, plus
    the hours with jobs finished since the rollup tick, counted directly), then is spread to the
    connections whose system the job type names; the failures after it join the connections
    directly (an index range of ``(tenant_id, status, created_at)`` after the newest success).
    """
    ok_by_type = rollup_read.last_success(tenant_ids, since).cte("ok_by_type")
    mine = [Connection.tenant_id.in_(tenant_ids)] if tenant_ids else []
    # An outer join, so every connection has a row: the planner then expects one per connection
    # (an inner join with LIKE is estimated at one row, and a nested loop over it follows).
    ok = (
        select(Connection.id.label("connection_id"), func.max(ok_by_type.c.last_ok).label("last_ok"))
        .outerjoin(
            ok_by_type,
            (ok_by_type.c.tenant_id == Connection.tenant_id) & ok_by_type.c.job_type.contains(Connection.system),
        )
        .where(*mine)
        .group_by(Connection.id)
        .cte("last_ok")
    )
    failed = aliased(PipelineJob)

    # Per connection, one index range of (tenant_id, status, job_type, created_at) per job type
    # that names its system, after its newest success: a join over the window's failures read all
    # of them (61,544 rows, 0.55 s at 10 M jobs), a LIKE per connection all of its tenant's.
    def after_ok(types: list[str]) -> Any:
        return (
            select(func.count())
            .where(
                failed.tenant_id == Connection.tenant_id,
                failed.status == "FAILED",
                failed.job_type.in_(types),
                failed.created_at > func.coalesce(ok.c.last_ok, since),
            )
            .correlate(Connection, ok)
            .scalar_subquery()
        )

    branches = [(Connection.system == system, after_ok(types)) for system, types in types_by_system.items() if types]
    after_ok_n = case(*branches, else_=0) if branches else literal(0)
    failures = (
        select(Connection.id.label("connection_id"), after_ok_n.label("n"))
        .outerjoin(ok, ok.c.connection_id == Connection.id)
        .where(*mine)
        .cte("failures")
    )
    return ok, failures


def health_board(
    session: Session,
    tenant_ids: tuple[int, ...] = (),
    silence_h: float = WEBHOOK_SILENCE_H,
    *,
    systems: Sequence[str] = SYSTEMS,
) -> list[dict[str, Any]]:
    """One row per active tenant × system (the dashboard passes the registered vendors), worst first."""
    now = utcnow()
    since = now - LOOKBACK
    rollup_read.no_jit(session)
    types = list(session.scalars(JOB_TYPES_SQL))
    connected = session.scalars(select(Connection.system).distinct()).all()
    ok, failures = _job_history(tenant_ids, since, {s: [t for t in types if s in t] for s in connected})
    # The newest success's completion time: one index probe (tenant, created_at) per connection.
    done = aliased(PipelineJob)
    last_ok_done = (
        select(func.max(done.completed_at))
        .where(
            done.tenant_id == Connection.tenant_id,
            done.created_at == ok.c.last_ok,
            done.status == "COMPLETED",
            done.job_type.contains(Connection.system),
        )
        .correlate(Connection, ok)
        .scalar_subquery()
    )
    last_delivery = (
        select(WebhookDelivery.received_at)
        .where(WebhookDelivery.tenant_id == Connection.tenant_id, WebhookDelivery.source == Connection.system)
        .order_by(WebhookDelivery.received_at.desc())
        .limit(1)
        .correlate(Connection)
        .scalar_subquery()
    )
    cursor_at = (
        select(func.max(SyncCursor.updated_at))
        .where(SyncCursor.tenant_id == Connection.tenant_id, SyncCursor.system == Connection.system)
        .correlate(Connection)
        .scalar_subquery()
    )
    query = (
        select(
            Connection.tenant_id,
            Tenant.name.label("tenant"),
            Connection.system,
            Connection.status,
            Connection.org_name,
            Connection.expires_at,
            Connection.last_error,
            Connection.created_at,
            last_ok_done.label("last_success"),
            func.coalesce(failures.c.n, 0).label("consecutive_failures"),
            last_delivery.label("last_delivery"),
            cursor_at.label("cursor_at"),
            ConnectionWebhook.state.label("webhook_state"),
            ConnectionWebhook.reason.label("webhook_reason"),
        )
        .join(Tenant, Tenant.id == Connection.tenant_id)
        .outerjoin(ConnectionWebhook, ConnectionWebhook.connection_id == Connection.id)
        .outerjoin(ok, ok.c.connection_id == Connection.id)
        .outerjoin(failures, failures.c.connection_id == Connection.id)
        .where(Tenant.active.is_(True))
    )
    tenants_q = select(Tenant.id, Tenant.name).where(Tenant.active.is_(True))
    if tenant_ids:
        query = query.where(Connection.tenant_id.in_(tenant_ids))
        tenants_q = tenants_q.where(Tenant.id.in_(tenant_ids))
    seen: set[tuple[int, str]] = set()
    out: list[dict[str, Any]] = []
    for r in session.execute(query).mappings():
        row = dict(r)
        seen.add((row["tenant_id"], row["system"]))
        last = as_utc(row.pop("last_delivery"))
        quiet_since = last or as_utc(row["created_at"])
        row["last_delivery"] = last
        row["silence_h"] = (now - quiet_since).total_seconds() / 3600 if quiet_since else None
        row["webhook_silent"] = bool(
            row["status"] in LIVE and row["silence_h"] is not None and row["silence_h"] > silence_h
        )
        cursor = as_utc(row.pop("cursor_at"))
        row["cursor_lag_h"] = (now - cursor).total_seconds() / 3600 if cursor else None
        row["last_success"] = as_utc(row["last_success"])
        row["consecutive_failures"] = int(row["consecutive_failures"] or 0)
        out.append(row)
    for tenant_id, name in session.execute(tenants_q):
        for system in systems:
            if (tenant_id, system) not in seen:
                out.append(
                    {
                        "tenant_id": tenant_id,
                        "tenant": name,
                        "system": system,
                        "status": "not connected",
                        "org_name": None,
                        "expires_at": None,
                        "last_error": None,
                        "created_at": None,
                        "last_success": None,
                        "consecutive_failures": 0,
                        "last_delivery": None,
                        "silence_h": None,
                        "webhook_silent": False,
                        "cursor_lag_h": None,
                        "webhook_state": None,
                        "webhook_reason": None,
                    }
                )
    for row in out:
        row["severity"] = _severity(row)
    out.sort(key=lambda r: (-r["severity"], -r["consecutive_failures"], r["tenant"], r["system"]))
    return out


def connections(
    session: Session,
    tenant_id: int,
    *,
    systems: Sequence[str] = SYSTEMS,
    workflows: Mapping[str, Sequence[str]],
    uses: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """The tenant's systems (connected or not), with what depends on each.

    ``workflows`` maps each workflow (on unless the tenant's settings row turns it off) and
    ``uses`` each job type to the systems it calls (``jobtypes.WORKFLOW_USES`` / ``USES``):
    a workflow or schedule is listed under every system whose dead connection stops it.
    """
    by_system = {c.system: c for c in session.scalars(select(Connection).where(Connection.tenant_id == tenant_id))}
    hooks = {
        h.connection_id: h
        for h in session.scalars(
            select(ConnectionWebhook).where(ConnectionWebhook.connection_id.in_([c.id for c in by_system.values()]))
        )
    }
    schedules = session.execute(
        select(Schedule.id, Schedule.job_type, Schedule.cron, Schedule.enabled).where(Schedule.tenant_id == tenant_id)
    ).all()
    switched = {
        workflow: enabled
        for workflow, enabled in session.execute(
            select(WorkflowSetting.workflow, WorkflowSetting.enabled).where(WorkflowSetting.tenant_id == tenant_id)
        )
    }
    out = []
    for system in systems:
        c = by_system.get(system)
        hook = hooks.get(c.id) if c else None
        out.append(
            {
                "system": system,
                "connection_id": c.id if c else None,
                "status": c.status if c else "not connected",
                "org_name": c.org_name if c else None,
                "external_org_id": c.external_org_id if c else None,
                "scopes": c.scopes if c else None,
                "expires_at": c.expires_at if c else None,
                "last_refresh_at": c.last_refresh_at if c else None,
                "last_error": c.last_error if c else None,
                "workflows": [
                    name + ("" if switched.get(name, True) else " (off)")
                    for name, called in workflows.items()
                    if system in called
                ],
                "schedules": [
                    f"#{s.id} {s.job_type} ({s.cron})" + ("" if s.enabled else " (off)")
                    for s in schedules
                    if system in uses.get(s.job_type, ())
                ],
                "webhook": None if hook is None else _webhook_view(hook),
            }
        )
    return out


def webhook_label(state: str | None, reason: str | None) -> str:
    """How a connection webhook's state reads on the dashboard (``—`` when Zixly keeps none)."""
    if state is None:
        return "—"
    label = {"active": "active", "creating": "creating", "recreating": "re-creating", "failed": "failed"}[state]
    return f"{label}: {reason}" if reason and state != "active" else label


def _webhook_view(hook: ConnectionWebhook) -> dict[str, Any]:
    return {
        "state": hook.state,
        "label": webhook_label(hook.state, hook.reason),
        "resource_gid": hook.resource_gid,
        "webhook_gid": hook.webhook_gid,
        "reason": hook.reason,
        "checked_at": hook.checked_at,
    }
