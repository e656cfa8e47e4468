"""Webhook deliveries, schedules, the audit log, and the lists behind filters and Admin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, aliased

from db.models import ApiToken, AuditEntry, PipelineJob, Schedule, Tenant, User, WebhookDelivery, WorkflowSetting

LIST_LIMIT = 200

# A loose index scan: one index probe per distinct job type instead of reading every job.
JOB_TYPES_SQL = text(
    """
    WITH RECURSIVE t(job_type) AS (
        SELECT min(job_type) FROM pipeline_jobs
        UNION ALL
        SELECT (SELECT min(p.job_type) FROM pipeline_jobs p WHERE p.job_type > t.job_type)
        FROM t WHERE t.job_type IS NOT NULL
    )
    SELECT job_type FROM t WHERE job_type IS NOT NULL
    """
)


def tenants(session: Session, *, active_only: bool = False) -> list[dict[str, Any]]:
    query = select(Tenant.id, Tenant.name, Tenant.timezone, Tenant.active, Tenant.created_at).order_by(Tenant.name)
    if active_only:
        query = query.where(Tenant.active.is_(True))
    return [dict(r) for r in session.execute(query).mappings()]


def job_types(session: Session) -> list[str]:
    seen = set(session.scalars(JOB_TYPES_SQL))
    seen.update(session.scalars(select(Schedule.job_type).distinct()))
    return sorted(seen)


def deliveries(
    session: Session,
    tenant_ids: tuple[int, ...] = (),
    source: str | None = None,
    before_id: int | None = None,
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """Recent webhook deliveries, newest first, keyset-paged by id (no body: it can be large)."""
    query = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.received_at,
            WebhookDelivery.source,
            WebhookDelivery.event_type,
            WebhookDelivery.delivery_id,
            WebhookDelivery.tenant_id,
            Tenant.name.label("tenant"),
            WebhookDelivery.signature_ok,
            WebhookDelivery.outcome,
            WebhookDelivery.job_ids,
        )
        .outerjoin(Tenant, Tenant.id == WebhookDelivery.tenant_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if tenant_ids:
        query = query.where(WebhookDelivery.tenant_id.in_(tenant_ids))
    if source:
        query = query.where(WebhookDelivery.source == source)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return [dict(r) for r in session.execute(query).mappings()]


def schedules(session: Session, tenant_ids: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    last = aliased(PipelineJob)
    query = (
        select(
            Schedule.id,
            Schedule.tenant_id,
            Tenant.name.label("tenant"),
            Schedule.job_type,
            Schedule.cron,
            Schedule.timezone,
            Schedule.params,
            Schedule.enabled,
            Schedule.next_run_at,
            Schedule.last_fired_at,
            Schedule.last_job_id,
            last.status.label("last_status"),
        )
        .join(Tenant, Tenant.id == Schedule.tenant_id)
        .outerjoin(last, last.id == Schedule.last_job_id)
        .order_by(Tenant.name, Schedule.id)
    )
    if tenant_ids:
        query = query.where(Schedule.tenant_id.in_(tenant_ids))
    return [dict(r) for r in session.execute(query).mappings()]


def audit_log(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    refused_only: bool = False,
    before_id: int | None = None,
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    query = (
        select(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.target,
            AuditEntry.allowed,
            AuditEntry.details,
        )
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if actor:
        query = query.where(AuditEntry.actor == actor.strip().lower())
    if action:
        query = query.where(AuditEntry.action == action)
    if refused_only:
        query = query.where(AuditEntry.allowed.is_(False))
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [dict(r) for r in session.execute(query).mappings()]


def users(session: Session) -> list[dict[str, Any]]:
    query = select(User.id, User.email, User.name, User.role, User.active, User.created_at, User.last_login_at)
    return [dict(r) for r in session.execute(query.order_by(User.email)).mappings()]


def api_tokens(session: Session) -> list[dict[str, Any]]:
    """Tokens by prefix and owner; the secret itself is never stored, so never shown."""
    query = (
        select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.prefix,
            ApiToken.role,
            User.email.label("owner"),
            func.coalesce(Tenant.name, "every tenant").label("tenant"),
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(Tenant, Tenant.id == ApiToken.tenant_id)
        .order_by(ApiToken.id.desc())
    )
    return [dict(r) for r in session.execute(query).mappings()]


def workflow_settings(session: Session, tenant_id: int) -> list[dict[str, Any]]:
    query = (
        select(
            WorkflowSetting.id,
            WorkflowSetting.workflow,
            WorkflowSetting.enabled,
            WorkflowSetting.options,
            WorkflowSetting.updated_at,
        )
        .where(WorkflowSetting.tenant_id == tenant_id)
        .order_by(WorkflowSetting.workflow)
    )
    return [dict(r) for r in session.execute(query).mappings()]


def delivery_job_ids(session: Session, delivery_id: int) -> tuple[str, int | None, list[int]] | None:
    """(source, tenant id, job ids) of one delivery, or None."""
    row = session.execute(
        select(WebhookDelivery.source, WebhookDelivery.tenant_id, WebhookDelivery.job_ids).where(
            WebhookDelivery.id == delivery_id
        )
    ).first()
    return (row.source, row.tenant_id, list(row.job_ids or [])) if row else None


def active_user(session: Session, email: str) -> dict[str, Any] | None:
    """The active staff member with this email (for single sign-on), or None."""
    row = (
        session.execute(
            select(User.id, User.email, User.role).where(User.email == email.strip().lower(), User.active.is_(True))
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
