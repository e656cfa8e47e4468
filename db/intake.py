"""The webhook listener's SQL: deliveries, dedup, tenant resolution, rate limit, job status.

The listener (``webhook/``) never writes SQL itself; it calls these functions inside the
transaction it owns. A delivery row is claimed with ``INSERT … ON CONFLICT DO NOTHING`` on
``(source, delivery_id)``: a concurrent duplicate waits on the unique index and then sees
the winner's row, so two copies of one event can never both enqueue jobs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, false, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.jobs._sql import driver_rows
from db.models import Connection, JobStep, PipelineJob, RateLimitHit, Tenant, WebhookDelivery, WorkflowSetting


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ping(session: Session) -> None:
    """Raise (an SQLAlchemy error) unless the database answers."""
    session.execute(text("SELECT 1"))


# -- tenants and connections -------------------------------------------------------------


@dataclass(frozen=True)
class OrgTenant:
    """The tenant behind a vendor org, and which of the asked-about workflows it switched off."""

    tenant_id: int
    disabled: frozenset[str]


def resolve_orgs(
    session: Session, system: str, org_ids: Iterable[str], workflows: Iterable[str] = ()
) -> dict[str, OrgTenant]:
    """``external_org_id -> OrgTenant`` for orgs with a live connection, in one query.

    A workflow without a settings row is enabled (only ``enabled = false`` rows disable).
    """
    wanted = sorted(set(org_ids))
    if not wanted:
        return {}
    names = sorted(set(workflows))
    # Core tables, not ORM entities, on the hot path: no ORM compile overhead per request.
    c, t, w = Connection.__table__.c, Tenant.__table__.c, WorkflowSetting.__table__
    off = and_(
        w.c.tenant_id == c.tenant_id,
        w.c.enabled.is_(False),
        w.c.workflow.in_(names) if names else false(),
    )
    rows = session.execute(
        select(c.external_org_id, c.tenant_id, w.c.workflow)
        .select_from(Connection.__table__.join(Tenant.__table__, t.id == c.tenant_id).outerjoin(w, off))
        .where(
            c.system == system,
            c.external_org_id.in_(wanted),
            c.status != "disconnected",
            t.active.is_(True),
        )
    ).all()
    found: dict[str, tuple[int, set[str]]] = {}
    for org, tenant, workflow in rows:
        entry = found.setdefault(str(org), (int(tenant), set()))
        if workflow is not None:
            entry[1].add(str(workflow))
    return {org: OrgTenant(tenant, frozenset(off_set)) for org, (tenant, off_set) in found.items()}


@dataclass(frozen=True)
class HookTarget:
    """The connection an Asana webhook was created for (the URL carries its id)."""

    connection_id: int
    tenant_id: int
    external_org_id: str | None
    secret_ciphertext: str | None


def hook_target(session: Session, connection_id: int, system: str) -> HookTarget | None:
    row = session.execute(
        select(Connection.id, Connection.tenant_id, Connection.external_org_id, Connection.webhook_secret_ciphertext)
        .join(Tenant, Tenant.id == Connection.tenant_id)
        .where(Connection.id == connection_id, Connection.system == system, Tenant.active.is_(True))
    ).first()
    if row is None:
        return None
    return HookTarget(int(row[0]), int(row[1]), row[2], row[3])


def store_webhook_secret(session: Session, connection_id: int, ciphertext: str) -> None:
    """Keep the (encrypted) secret a webhook handshake delivered."""
    session.execute(
        update(Connection)
        .where(Connection.id == connection_id)
        .values(webhook_secret_ciphertext=ciphertext, updated_at=utcnow())
    )


def tenant_id_for(session: Session, ref: int | str) -> int | None:
    """An active tenant by id, or by exact name."""
    cond = Tenant.id == ref if isinstance(ref, int) else Tenant.name == ref
    found = session.scalar(select(Tenant.id).where(cond, Tenant.active.is_(True)))
    return int(found) if found is not None else None


def disabled_workflows(session: Session, tenant_id: int, workflows: Iterable[str]) -> set[str]:
    """Which of ``workflows`` the tenant switched off (no settings row means enabled)."""
    names = sorted(set(workflows))
    if not names:
        return set()
    rows = session.scalars(
        select(WorkflowSetting.workflow).where(
            WorkflowSetting.tenant_id == tenant_id,
            WorkflowSetting.workflow.in_(names),
            WorkflowSetting.enabled.is_(False),
        )
    )
    return set(rows)


# -- deliveries --------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDelivery:
    source: str
    delivery_id: str
    tenant_id: int | None
    event_type: str | None
    external_org_id: str | None
    headers: dict[str, Any]
    body: bytes
    outcome: str  # accepted | unmatched
    job_ids: Sequence[int] = ()


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# The hot path's statements on PostgreSQL as plain SQL, run on the driver connection: building
# and compiling an ``insert().values().on_conflict…`` per delivery cost the listener about a third
# of its CPU (docs/benchmarks.md, "Webhook listener"). psycopg prepares them after a few uses.
_PG_CLAIM = (
    "INSERT INTO webhook_deliveries (source, delivery_id, tenant_id, event_type, external_org_id, headers, body,"
    " signature_ok, outcome, job_ids, received_at)"
    " VALUES (%(source)s, %(delivery_id)s, %(tenant_id)s, %(event_type)s, %(external_org_id)s,"
    " CAST(%(headers)s AS jsonb), %(body)s, true, %(outcome)s, CAST(%(job_ids)s AS jsonb), %(received_at)s)"
    " ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id"
)
_PG_HIT = (
    "INSERT INTO rate_limit_hits (key, window_start, count) VALUES (%(key)s, %(window_start)s, 1)"
    " ON CONFLICT (key) DO UPDATE SET count = rate_limit_hits.count + 1 RETURNING count"
)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _driver_row(session: Session, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of ``sql`` run on the session's psycopg connection, in its transaction."""
    rows = driver_rows(session, sql, params)
    return rows[0] if rows else None


def claim_delivery(session: Session, row: NewDelivery) -> int | None:
    """Insert the delivery; its primary key, or None when ``(source, delivery_id)`` exists."""
    if _is_postgres(session):
        params = {
            "source": row.source,
            "delivery_id": row.delivery_id,
            "tenant_id": row.tenant_id,
            "event_type": row.event_type[:64] if row.event_type else None,
            "external_org_id": row.external_org_id,
            "headers": json.dumps(row.headers),
            "body": row.body,
            "outcome": row.outcome,
            "job_ids": json.dumps(list(row.job_ids)),
            "received_at": utcnow(),
        }
        found = _driver_row(session, _PG_CLAIM, params)
        return int(found[0]) if found is not None else None
    table = WebhookDelivery.__table__
    stmt = (
        _insert(session)(table)
        .values(
            source=row.source,
            delivery_id=row.delivery_id,
            tenant_id=row.tenant_id,
            event_type=row.event_type[:64] if row.event_type else None,
            external_org_id=row.external_org_id,
            headers=row.headers,
            body=row.body,
            signature_ok=True,
            outcome=row.outcome,
            job_ids=list(row.job_ids),
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        .returning(table.c.id)
    )
    found = session.execute(stmt).scalar()
    return int(found) if found is not None else None


def original_job_ids(session: Session, source: str, delivery_ids: Sequence[str]) -> dict[str, list[int]]:
    """``delivery_id -> job ids`` of deliveries already recorded."""
    if not delivery_ids:
        return {}
    rows = session.execute(
        select(WebhookDelivery.delivery_id, WebhookDelivery.job_ids).where(
            WebhookDelivery.source == source, WebhookDelivery.delivery_id.in_(sorted(set(delivery_ids)))
        )
    ).all()
    return {str(d): [int(j) for j in (ids or [])] for d, ids in rows}


# -- rate limit --------------------------------------------------------------------------

WINDOW_S = 60


@dataclass(frozen=True)
class RateVerdict:
    allowed: bool
    count: int
    retry_after_s: int  # seconds until the window resets


def hit_rate_limit(session: Session, tenant_id: int, limit: int, now: dt.datetime | None = None) -> RateVerdict:
    """Count one request for the tenant (see :func:`hit_budget`)."""
    return hit_budget(session, f"tenant:{tenant_id}", limit, now)


def hit_budget(session: Session, name: str, limit: int, now: dt.datetime | None = None) -> RateVerdict:
    """Count one request against budget ``name`` in the current one-minute window (shared by processes).

    Meant to run inside the intake transaction, first: a request refused with 429 rolls its
    count back, an accepted one commits it with its delivery. Concurrent requests of one
    tenant queue on the counter row; several tenants are always locked in id order (callers
    sort), so two multi-tenant deliveries cannot deadlock.
    """
    now = now or utcnow()
    epoch = int(now.timestamp())
    start_epoch = epoch - epoch % WINDOW_S
    window_start = dt.datetime.fromtimestamp(start_epoch, dt.UTC)
    key = f"{name}:{start_epoch}"
    if _is_postgres(session):
        params = {"key": key, "window_start": window_start}
        row = _driver_row(session, _PG_HIT, params)
        assert row is not None  # an upsert with RETURNING returns its row
        count = int(row[0])
    else:
        table = RateLimitHit.__table__
        stmt = (
            _insert(session)(table)
            .values(key=key, window_start=window_start, count=1)
            .on_conflict_do_update(index_elements=["key"], set_={"count": table.c.count + 1})
            .returning(table.c.count)
        )
        count = int(session.execute(stmt).scalar_one())
    if count == 1:
        # First hit of a new window: drop this budget's finished windows.
        session.execute(
            delete(RateLimitHit).where(RateLimitHit.key.like(f"{name}:%"), RateLimitHit.window_start < window_start)
        )
    retry_after = max(1, start_epoch + WINDOW_S - epoch)
    return RateVerdict(allowed=count <= limit, count=count, retry_after_s=retry_after)


# -- job status (GET /webhook/jobs/<id>) ------------------------------------------------


def job_status(session: Session, job_id: int) -> dict[str, Any] | None:
    """A job's status with a summary of its step log, or None when it does not exist."""
    job = session.get(PipelineJob, job_id)
    if job is None:
        return None
    counts = dict(
        session.execute(select(JobStep.kind, func.count()).where(JobStep.job_id == job_id).group_by(JobStep.kind)).all()
    )
    last = session.execute(
        select(JobStep.kind, JobStep.message, JobStep.at)
        .where(JobStep.job_id == job_id)
        .order_by(JobStep.id.desc())
        .limit(1)
    ).first()
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "job_type": job.job_type,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "created_by": job.created_by,
        "parent_job_id": job.parent_job_id,
        "created_at": job.created_at,
        "run_at": job.run_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "result": job.result,
        "error": job.error,
        "steps": {
            "total": int(sum(counts.values())),
            "by_kind": {str(k): int(v) for k, v in counts.items()},
            "last": None if last is None else {"kind": last[0], "message": last[1], "at": last[2]},
        },
    }
