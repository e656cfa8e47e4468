"""Debounce by record: events about one record within a window make one job that sees the latest.

A job about a record (its concurrency key, e.g. ``hubspot:deal:42``) made with a window of
``w`` seconds is queued to run at ``now + w``. Until then it absorbs every later event for the
same tenant, job type and record from the same source: the job's params become the newest
event's, and each absorbed event is written to the job's step log (visible on its page), so
the workflow runs once, after the burst, and reads the record's latest state. A job that has
started (or is retrying, or was made another way, e.g. a rerun) never absorbs: the event then
makes a job of its own. While the client is paused, its held job for the record absorbs
every event about it, whatever the window (it has not run, so it will see the latest state).

Correct with several listener workers and runners: on PostgreSQL a transaction-scoped advisory
lock per record (taken in key order, so two deliveries cannot deadlock) serialises the
"is there a job to join?" look-up with the insert, and the target row is read ``FOR UPDATE``:
a runner claiming it at that instant either skips it (SKIP LOCKED) or has it first, and then
the re-checked row is no longer joinable. SQLite has one writer and the listener's
transaction writes (its rate-limit counter) before it enqueues.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, text, tuple_

from db.jobs._sql import (
    JOBS,
    Executor,
    dialect,
    driver_pipeline,
    driver_rows,
    driver_sql,
    dumps,
    read_json,
    ts,
    utcnow,
)
from db.jobs.enqueue import Enqueued, JobSpec, enqueue_many
from db.jobs.log import append_step
from db.models import WorkflowSetting

# The advisory-lock namespace of debounced records (first argument of pg_advisory_xact_lock).
ADVISORY_NS = 7_001_016
WORKFLOWS = cast(Table, WorkflowSetting.__table__)

_JOINABLE = "attempts = 0 AND parent_job_id IS NULL AND (status = 'PAUSED' OR (status = 'QUEUED' AND run_at > :now))"
_TARGET = f"""
SELECT id, params FROM pipeline_jobs
WHERE concurrency_key = :key AND status IN ('QUEUED', 'PAUSED') AND tenant_id = :tenant
  AND job_type = :job_type AND created_by = :by AND {_JOINABLE}
ORDER BY id LIMIT 1
"""
_ABSORB = text(f"UPDATE pipeline_jobs SET params = :params WHERE id = :id AND {_JOINABLE} RETURNING id")


@dataclass(frozen=True)
class Event:
    """One job to make, with its debounce window and what to record if it is absorbed."""

    spec: JobSpec
    window_s: float  # 0: no debounce
    label: str = ""  # e.g. "xero invoice.UPDATE, delivery abc…", for the step log


def enqueue_events(
    session: Executor, events: Sequence[Event], *, now: dt.datetime | None = None, notify: bool = True
) -> list[Enqueued]:
    """Queue or absorb each event's job; results in ``events`` order (absorbed: ``created=False``).

    Statements per call, not per event: the plain jobs and the first event of every record that
    has no job to join go in one insert; only events that find a job to join (an earlier one,
    or one made by an earlier event of this call) are absorbed one by one, in order. The
    listener's group commit (``webhook/group.py``) passes many deliveries' events at once.
    """
    now = now or utcnow()
    out: list[Enqueued | None] = [None] * len(events)
    fresh = [i for i, e in enumerate(events) if not _debounced(e)]
    keyed = [i for i, e in enumerate(events) if _debounced(e)]
    joining: list[int] = []
    if keyed:
        # Which records have a job to join, in one look-up (under the locks: none can appear
        # meanwhile). ``_absorb`` re-reads each target FOR UPDATE before it joins it.
        have = _locked_records_with_target(session, [events[i].spec for i in keyed], now)
        for i in keyed:
            record = _record(events[i].spec)
            if record in have:
                joining.append(i)  # a later event of the record joins the job the first one makes
            else:
                have.add(record)
                fresh.append(i)
    specs = [_delayed(events[i], now) for i in fresh]
    for i, res in zip(fresh, enqueue_many(session, specs, now=now, notify=notify), strict=True):
        out[i] = res
    for i in joining:  # one by one, in order
        out[i] = (
            _absorb(session, events[i], now)
            or enqueue_many(session, [_delayed(events[i], now)], now=now, notify=notify)[0]
        )
    return [o for o in out if o is not None]


def _delayed(event: Event, now: dt.datetime) -> JobSpec:
    """A debounced event's job runs once its window has passed; a plain one as asked."""
    if not _debounced(event):
        return event.spec
    return replace(event.spec, run_at=now + dt.timedelta(seconds=event.window_s))


# ``_TARGET`` for many records at once (PostgreSQL): which of them have a job to join. One probe
# per record (LATERAL … LIMIT 1), so each is an index look-up on the record's key: as a join, the
# planner's generic plan read every queued job instead (4–6 ms at 11,000 queued, growing with the
# backlog; 0.07 ms this way; docs/benchmarks.md, "Webhook listener", 2026-12-07 05:40).
_PG_TARGETS = text(
    """
SELECT DISTINCT w.tenant, w.job_type, w.key
FROM unnest(CAST(:keys AS text[]), CAST(:tenants AS int[]), CAST(:types AS text[]), CAST(:bys AS text[]))
    AS w(key, tenant, job_type, made_by)
CROSS JOIN LATERAL (
    SELECT FROM pipeline_jobs j
    WHERE j.concurrency_key = w.key AND j.status IN ('QUEUED', 'PAUSED') AND j.tenant_id = w.tenant
        AND j.job_type = w.job_type AND j.created_by = w.made_by AND j.attempts = 0 AND j.parent_job_id IS NULL
        AND (j.status = 'PAUSED' OR (j.status = 'QUEUED' AND j.run_at > :now))
    LIMIT 1
) AS target
"""
)


# The records' advisory locks, in key order. A statement of its own: a look-up in the same
# statement would read the snapshot taken before the lock was granted and miss the job the lock
# holder just committed. Sent in one round trip with the look-up (``driver_pipeline``), which
# PostgreSQL runs after it, on a snapshot taken once the locks are held.
_PG_LOCK = (
    "SELECT pg_advisory_xact_lock(%(ns)s, hashtext(k))"
    " FROM unnest(CAST(%(keys)s AS text[])) WITH ORDINALITY AS u(k, n) ORDER BY n"
)


def _locked_records_with_target(session: Executor, specs: Sequence[JobSpec], now: dt.datetime) -> set[str]:
    """The records (``_record``) among ``specs`` that have a job an event could join (``_TARGET``).

    On PostgreSQL, first locks every record of ``specs`` until the transaction ends.
    """
    records = sorted({_record(s) for s in specs})
    wanted = sorted({(s.concurrency_key or "", s.tenant_id, s.job_type, s.created_by) for s in specs if s.created_by})
    if dialect(session) == "postgresql":
        lock = (_PG_LOCK, {"ns": ADVISORY_NS, "keys": records})
        if not wanted:
            driver_rows(session, *lock)
            return set()
        keys, tenants, types, bys = (list(column) for column in zip(*wanted, strict=True))
        params = {"keys": keys, "tenants": tenants, "types": types, "bys": bys, "now": now}
        rows: Sequence[Any] = driver_pipeline(session, [lock, (driver_sql(_PG_TARGETS), params)])[1]
    elif not wanted:
        return set()
    else:
        t = JOBS
        rows = session.execute(
            select(t.c.tenant_id, t.c.job_type, t.c.concurrency_key)
            .where(
                tuple_(t.c.concurrency_key, t.c.tenant_id, t.c.job_type, t.c.created_by).in_(wanted),
                t.c.status.in_(("QUEUED", "PAUSED")),
                t.c.attempts == 0,
                t.c.parent_job_id.is_(None),
                or_(t.c.status == "PAUSED", and_(t.c.status == "QUEUED", t.c.run_at > now)),
            )
            .distinct()
        ).all()
    return {f"{tenant}:{job_type}:{key}" for tenant, job_type, key in rows}


def _debounced(event: Event) -> bool:
    return event.window_s > 0 and event.spec.concurrency_key is not None and event.spec.parent_job_id is None


def _record(spec: JobSpec) -> str:
    return f"{spec.tenant_id}:{spec.job_type}:{spec.concurrency_key}"


def _absorb(session: Executor, event: Event, now: dt.datetime) -> Enqueued | None:
    spec = event.spec
    name = dialect(session)
    lock = " FOR UPDATE" if name == "postgresql" else ""
    found = session.execute(
        text(_TARGET + lock),
        {
            "key": spec.concurrency_key,
            "tenant": spec.tenant_id,
            "job_type": spec.job_type,
            "by": spec.created_by,
            "now": ts(now, name),
        },
    ).first()
    if found is None:
        return None
    target, old = int(found[0]), read_json(found[1]) or {}
    params = dumps(spec.params)
    if session.execute(_ABSORB, {"id": target, "params": params, "now": ts(now, name)}).first() is None:
        return None
    what = event.label or spec.created_by or "an event"
    change = "params unchanged" if old == spec.params else f"params were {dumps(old)}, now {params}"
    append_step(session, target, f"Debounced: {what} joined this job ({change})", attempt=0, at=now)
    return Enqueued(target, False, joined=True)


def stored_windows(session: Executor, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], float]:
    """The ``debounce_s`` option a tenant saved for a workflow, for those (tenant, workflow) that set one."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    tenants = sorted({t for t, _ in wanted})
    rows = session.execute(
        select(WORKFLOWS.c.tenant_id, WORKFLOWS.c.workflow, WORKFLOWS.c.options).where(
            WORKFLOWS.c.tenant_id.in_(tenants), WORKFLOWS.c.workflow.in_(sorted({w for _, w in wanted}))
        )
    ).all()
    out: dict[tuple[int, str], float] = {}
    for tenant_id, workflow, options in rows:
        value = (read_json(options) or {}).get("debounce_s")
        if isinstance(value, int | float) and (tenant_id, workflow) in wanted:
            out[(tenant_id, workflow)] = float(value)
    return out
