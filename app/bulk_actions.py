"""Bulk actions on everything a filter matches: rerun the finished jobs, cancel the live ones.

Same rules as :mod:`app.actions`: each checks the role itself (a refusal is audited), acts only
if the count the user confirmed still holds, and is audited once, with the filter. A bulk rerun
checks every job's params with the catalogue first (jobs whose params today's rules refuse are
left out and named) and paces the new jobs so a vendor's rate limit holds: they run below
live work (priority - 1) and, per tenant, ``JOBS_PER_MINUTE`` a minute (staggered ``run_at``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.actions import EDITOR, StaleConfirmation, _done, _filter_details
from db import jobs
from db.auth import Actor, require_role
from db.filters import JobFilter
from db.jobs.bulk import cancel_candidates, cancel_many, rerun_candidates
from jobtypes import InvalidParams, UnknownJobType, validate_params

BULK_MAX = 5000
# Jobs a bulk rerun starts per tenant and minute. The busiest job types make 2-4 vendor calls,
# so 20 a minute stays under Xero's 60 calls a minute per organisation and far under the others'.
JOBS_PER_MINUTE = 20


@dataclass(frozen=True)
class Refused:
    job_id: int
    reason: str


@dataclass
class RerunPlan:
    """What a bulk rerun of a filter would do: the jobs it reruns and those it leaves out."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    too_many: bool = False

    @property
    def count(self) -> int:
        return len(self.jobs) + len(self.refused)


@dataclass(frozen=True)
class RerunDone:
    ids: list[int]
    refused: list[Refused]
    last_start: dt.datetime | None  # when the last paced job may start


def plan_rerun(session: Session, job_filter: JobFilter) -> RerunPlan:
    rows = rerun_candidates(session, job_filter, limit=BULK_MAX)
    plan = RerunPlan(too_many=len(rows) > BULK_MAX)
    for row in rows[:BULK_MAX]:
        try:
            validate_params(row["job_type"], row["params"])
        except InvalidParams as exc:
            plan.refused.append(Refused(row["id"], "; ".join(str(e) for e in exc.errors)))
        except UnknownJobType as exc:
            plan.refused.append(Refused(row["id"], str(exc)))
        else:
            plan.jobs.append(row)
    return plan


def cancel_count(session: Session, job_filter: JobFilter) -> int:
    return len(cancel_candidates(session, job_filter, limit=BULK_MAX))


def bulk_rerun(
    session: Session, actor: Actor, job_filter: JobFilter, *, confirmed_count: int, now: dt.datetime | None = None
) -> RerunDone:
    """Rerun every finished job the filter matches (those whose rerun is under way are skipped)."""
    require_role(session, actor, EDITOR, "job.bulk_rerun", "jobs")
    plan = plan_rerun(session, job_filter)
    if plan.too_many:
        raise ValueError(f"More than {BULK_MAX:,} jobs match; narrow the filters.")
    if plan.count != confirmed_count:
        raise StaleConfirmation(f"{plan.count:,} jobs match now, not {confirmed_count:,}; confirm again.")
    start = now or jobs._sql.utcnow()
    gap = dt.timedelta(seconds=60 / JOBS_PER_MINUTE)
    nth: dict[int, int] = defaultdict(int)
    specs = []
    for row in plan.jobs:
        run_at = start + gap * nth[row["tenant_id"]]
        nth[row["tenant_id"]] += 1
        specs.append(
            jobs.JobSpec(
                tenant_id=row["tenant_id"], job_type=row["job_type"], params=dict(row["params"]),
                priority=row["priority"] - 1, run_at=run_at, max_attempts=row["max_attempts"],
                timeout_s=row["timeout_s"], concurrency_key=row["concurrency_key"], created_by=actor.email,
                parent_job_id=row["id"],
            )
        )  # fmt: skip
    ids = [e.id for e in jobs.enqueue_many(session, specs)]
    last = max((s.run_at for s in specs if s.run_at is not None), default=None)
    details = {
        "filter": _filter_details(job_filter), "matched": plan.count, "new_jobs": len(ids),
        "refused": [r.job_id for r in plan.refused][:100], "jobs_per_minute": JOBS_PER_MINUTE,
        "last_start": last.isoformat() if last else None,
    }  # fmt: skip
    _done(session, actor, "job.bulk_rerun", "jobs", details)
    return RerunDone(ids, plan.refused, last)


def bulk_cancel(session: Session, actor: Actor, job_filter: JobFilter, *, confirmed_count: int) -> tuple[int, int]:
    """Cancel every queued and running job the filter matches; (cancelled now, stopping at a checkpoint)."""
    require_role(session, actor, EDITOR, "job.bulk_cancel", "jobs")
    ids = cancel_candidates(session, job_filter, limit=BULK_MAX)
    if len(ids) > BULK_MAX:
        raise ValueError(f"More than {BULK_MAX:,} jobs match; narrow the filters.")
    if len(ids) != confirmed_count:
        raise StaleConfirmation(f"{len(ids):,} jobs match now, not {confirmed_count:,}; confirm again.")
    cancelled, stopping = cancel_many(session, ids, by=actor.email)
    details = {"filter": _filter_details(job_filter), "matched": len(ids), "cancelled": len(cancelled),
               "stopping": len(stopping)}  # fmt: skip
    _done(session, actor, "job.bulk_cancel", "jobs", details)
    return len(cancelled), len(stopping)
