"""Pausing a client (maintenance mode) or one of its workflows: its jobs are held, then released.

A pause is a ``client_pauses`` row (``workflow = '*'``: every workflow of the tenant). While
it exists:

- new jobs in its scope are made ``PAUSED`` instead of ``QUEUED`` (``enqueue`` reads
  :data:`HELD_SQL`), so deliveries are still verified, stored and turned into jobs;
- the claim never takes a job in its scope (:data:`HELD_SQL` again), so a job that became
  ``QUEUED`` another way — a retry or a poll of a job that was running when the pause began,
  a waiting job's callback, a job enqueued in the instant the pause committed — is not run;
  the runner's tick (:func:`hold_stragglers`) then marks it ``PAUSED`` too, so it shows;
- its schedules do not fire (``db.schedules``); on resume their overdue fire time fires once.

Jobs already ``RUNNING`` finish. Resuming deletes the row (one ``DELETE … RETURNING``, so of
a person and a runner resuming at once only one releases) and releases the held jobs in id
order, paced: the n-th gets ``run_at = now + n / rate`` (never earlier than it was), so a
client that piled up thousands of jobs does not hit its vendors all at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from db.jobs._sql import CHANNEL, JOBS, Executor, dialect, dumps, read_ts, ts_json, utcnow
from db.models import AuditEntry, ClientPause

ALL = "*"  # the workflow of a whole-client pause
PAUSES = cast(Table, ClientPause.__table__)
AUDIT = cast(Table, AuditEntry.__table__)


def held_sql(alias: str) -> str:
    """SQL true when a pause covers the job (or schedule) row ``alias`` (its tenant_id, job_type)."""
    return (
        f"EXISTS (SELECT 1 FROM client_pauses p WHERE p.tenant_id = {alias}.tenant_id "
        f"AND p.workflow IN ('*', {alias}.job_type))"
    )


def not_held_sql(alias: str) -> str:
    """SQL true when no pause covers the job row ``alias``: ``NOT held_sql(alias)``, for the claim.

    Written as two uncorrelated ``NOT IN`` lists (hashed once per statement; both columns are
    NOT NULL, so ``NOT IN`` means what ``NOT EXISTS`` does): the planner cannot turn them into an
    anti-join, which it estimated to leave one row, so it sorted every QUEUED row per claim
    instead of walking the claimable index in order and stopping at the limit (EXPLAIN
    ANALYZE, 2,440 QUEUED rows: all read and sorted for a claim of 32; see docs/benchmarks.md).
    """
    return (
        f"{alias}.tenant_id NOT IN (SELECT tenant_id FROM client_pauses WHERE workflow = '*') "
        f"AND ({alias}.tenant_id, {alias}.job_type) NOT IN (SELECT tenant_id, workflow FROM client_pauses)"
    )


@dataclass(frozen=True)
class Pause:
    tenant_id: int
    workflow: str  # a job type, or ``ALL``
    reason: str
    paused_by: str
    paused_at: dt.datetime
    until: dt.datetime | None
    held: int = 0  # jobs it holds now


def pause(
    session: Executor,
    *,
    tenant_id: int,
    workflow: str = ALL,
    reason: str,
    by: str,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Pause the tenant (or one workflow); pausing again replaces the reason and end time.

    Holds the scope's queued jobs at once and returns how many.
    """
    now = now or utcnow()
    insert_ = postgresql.insert if dialect(session) == "postgresql" else sqlite.insert
    values = {"reason": reason, "paused_by": by, "paused_at": now, "until": until}
    session.execute(
        insert_(PAUSES)
        .values(tenant_id=tenant_id, workflow=workflow, **values)
        .on_conflict_do_update(index_elements=["tenant_id", "workflow"], set_=values)
    )
    scope = [JOBS.c.tenant_id == tenant_id, JOBS.c.status == "QUEUED"]
    if workflow != ALL:
        scope.append(JOBS.c.job_type == workflow)
    held = session.execute(update(JOBS).where(*scope).values(status="PAUSED").returning(JOBS.c.id)).all()
    return len(held)


def resume(
    session: Executor, *, tenant_id: int, workflow: str = ALL, per_minute: int, now: dt.datetime | None = None
) -> int | None:
    """End one pause and release what no other pause of the tenant still holds.

    Returns the number of jobs released, or None when there was no such pause.
    """
    gone = session.execute(
        delete(PAUSES)
        .where(PAUSES.c.tenant_id == tenant_id, PAUSES.c.workflow == workflow)
        .returning(PAUSES.c.tenant_id)
    ).first()
    if gone is None:
        return None
    return release(session, tenant_id, per_minute=per_minute, now=now)


def release(session: Executor, tenant_id: int, *, per_minute: int, now: dt.datetime | None = None) -> int:
    """Queue the tenant's held jobs that no remaining pause covers: in id order, ``per_minute`` a minute."""
    now = now or utcnow()
    remaining = set(session.scalars(select(PAUSES.c.workflow).where(PAUSES.c.tenant_id == tenant_id)))
    if ALL in remaining:
        return 0
    query = select(JOBS.c.id, JOBS.c.run_at).where(JOBS.c.tenant_id == tenant_id, JOBS.c.status == "PAUSED")
    if remaining:
        query = query.where(JOBS.c.job_type.not_in(sorted(remaining)))
    held = session.execute(query.order_by(JOBS.c.id)).all()
    if not held:
        return 0
    step = 60.0 / per_minute
    name = dialect(session)
    rows: list[dict[str, Any]] = []
    for n, (job_id, run_at) in enumerate(held):
        paced = now + dt.timedelta(seconds=n * step)
        rows.append({"id": job_id, "run_at": ts_json(max(paced, read_ts(run_at) or now), name)})
    # One statement over a JSON document, as enqueue does: releasing thousands stays one round trip.
    released = session.execute(_RELEASE[name], {"rows": dumps(rows)}).all()
    if name == "postgresql":
        session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))
    return len(released)


_RELEASE = {
    "postgresql": text(
        "UPDATE pipeline_jobs SET status = 'QUEUED', run_at = r.run_at "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, run_at timestamptz) "
        "WHERE pipeline_jobs.id = r.id AND pipeline_jobs.status = 'PAUSED' RETURNING pipeline_jobs.id"
    ),
    "sqlite": text(
        "UPDATE pipeline_jobs SET status = 'QUEUED', run_at = r.run_at "
        "FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.run_at') AS run_at "
        "      FROM json_each(:rows)) AS r "
        "WHERE pipeline_jobs.id = r.id AND pipeline_jobs.status = 'PAUSED' RETURNING pipeline_jobs.id"
    ),
}


def hold_stragglers(session: Executor) -> int:
    """Mark ``PAUSED`` the queued jobs a pause covers (see the module docstring); how many."""
    if session.execute(select(PAUSES.c.tenant_id).limit(1)).first() is None:
        return 0
    held = session.execute(
        text(
            "UPDATE pipeline_jobs SET status = 'PAUSED' WHERE status = 'QUEUED' "
            f"AND tenant_id IN (SELECT tenant_id FROM client_pauses) AND {held_sql('pipeline_jobs')} RETURNING id"
        )
    ).all()
    return len(held)


def resume_due(session: Executor, *, per_minute: int, now: dt.datetime | None = None) -> list[tuple[int, str, int]]:
    """Resume every pause whose end time has passed (the runner's tick); audited as the runner.

    Returns ``(tenant_id, workflow, released)`` per pause resumed.
    """
    now = now or utcnow()
    ended = session.execute(
        delete(PAUSES)
        .where(PAUSES.c.until.is_not(None), PAUSES.c.until <= now)
        .returning(PAUSES.c.tenant_id, PAUSES.c.workflow)
    ).all()
    out: list[tuple[int, str, int]] = []
    for tenant_id, workflow in sorted(ended):
        released = release(session, tenant_id, per_minute=per_minute, now=now)
        session.execute(
            insert(AUDIT).values(
                actor="runner",
                action="client.resume",
                target=f"tenant:{tenant_id}",
                allowed=True,
                details={"workflow": workflow, "released": released, "why": "end time passed"},
                at=now,
            )
        )
        out.append((tenant_id, workflow, released))
    return out


def active(session: Executor, tenant_ids: tuple[int, ...] | None = None) -> list[Pause]:
    """The pauses in force (optionally of some tenants), each with the jobs it holds now."""
    query = select(PAUSES).order_by(PAUSES.c.tenant_id, PAUSES.c.workflow)
    if tenant_ids is not None:
        query = query.where(PAUSES.c.tenant_id.in_(tenant_ids))
    rows = session.execute(query).mappings().all()
    if not rows:
        return []
    counts = session.execute(
        select(JOBS.c.tenant_id, JOBS.c.job_type, func.count())
        .where(JOBS.c.status == "PAUSED", JOBS.c.tenant_id.in_(sorted({r["tenant_id"] for r in rows})))
        .group_by(JOBS.c.tenant_id, JOBS.c.job_type)
    ).all()
    held: dict[tuple[int, str], int] = {}
    for tenant_id, job_type, n in counts:
        held[(tenant_id, job_type)] = int(n)
    whole = {r["tenant_id"] for r in rows if r["workflow"] == ALL}
    out = []
    for r in rows:
        if r["workflow"] == ALL:
            n = sum(v for (t, _), v in held.items() if t == r["tenant_id"])
        elif r["tenant_id"] in whole:
            n = 0  # the whole-client pause counts them
        else:
            n = held.get((r["tenant_id"], r["workflow"]), 0)
        out.append(
            Pause(
                tenant_id=r["tenant_id"],
                workflow=r["workflow"],
                reason=r["reason"],
                paused_by=r["paused_by"],
                paused_at=read_ts(r["paused_at"]) or utcnow(),
                until=read_ts(r["until"]),
                held=n,
            )
        )
    return out


def holding(session: Executor, tenant_id: int, job_type: str) -> Pause | None:
    """The pause that holds this tenant's jobs of ``job_type`` (the whole-client one first)."""
    for p in active(session, (tenant_id,)):
        if p.workflow in (ALL, job_type):
            return p
    return None
