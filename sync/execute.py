"""Running one claimed job and recording how its attempt ended (no threads, no loop here)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

import jobtypes
from db import jobs
from integrations.http import QuotaExhausted
from logconfig import job_context
from sync import workflows
from sync.context import JobContext
from sync.errors import ApprovalRejected, JobCancelled, JobTimedOut, PollAgain, Suspend, describe, is_permanent

Kind = Literal["completed", "failed", "poll", "wait", "cancelled", "quota"]
log = logging.getLogger("zixly.runner.job")


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as data the finisher writes to the job row."""

    kind: Kind
    result: dict[str, Any] | None = None
    error: str | None = None
    permanent: bool = False
    after_s: float = 0.0
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def run_handler(job: jobs.ClaimedJob, ctx: JobContext) -> Outcome:
    """Call the job's workflow and turn whatever happens into an ``Outcome``.

    Every log line written meanwhile in this thread (ours, httpx's, any library's) carries the
    job's id, tenant id and type.
    """
    with job_context(job_id=job.id, tenant=job.tenant_id, job_type=job.job_type):
        log.debug("attempt %d of %d started", job.attempt, job.max_attempts)
        return _run_handler(job, ctx)


def _run_handler(job: jobs.ClaimedJob, ctx: JobContext) -> Outcome:
    started = time.perf_counter()

    def done(kind: Kind, **kw: Any) -> Outcome:
        return Outcome(kind, duration_s=time.perf_counter() - started, **kw)

    try:
        workflow = workflows.get(job.job_type)
        # The catalogue's check, the same the listener and the dashboard ran before queueing.
        params = jobtypes.validate_params(job.job_type, job.params)
        ctx.check_cancelled()
        result = workflow.handler(ctx, params)
    except jobtypes.InvalidParams as exc:
        return done("failed", error=str(exc), permanent=True)
    except jobtypes.UnknownJobType as exc:
        return done("failed", error=str(exc), permanent=True)
    except PollAgain as exc:
        if ctx.remaining_s <= exc.after_s:
            return done("failed", error=f"JobTimedOut: polling would pass the deadline {ctx.deadline.isoformat()}")
        return done("poll", after_s=exc.after_s)
    except QuotaExhausted as exc:
        # Nothing was sent: the job goes back for the window's opening, its attempt returned.
        ctx.log.info("requeued until %s: %s", exc.until.isoformat(), exc)
        return done("quota", extra={"until": exc.until, "limit": exc.limit})
    except Suspend as exc:
        return done("wait", extra={"wait_id": exc.wait_id, "reason": exc.reason})
    except ApprovalRejected as exc:
        return done("cancelled", error=str(exc))
    except JobCancelled:
        return done("cancelled")
    except JobTimedOut as exc:
        return done("failed", error=describe(exc))
    except Exception as exc:
        return done("failed", error=describe(exc), permanent=is_permanent(exc))
    if result is not None and not isinstance(result, dict):
        result = {"value": result}
    return done("completed", result=result)


def record_outcome(
    conn: Connection,
    runner_id: str,
    job: jobs.ClaimedJob,
    outcome: Outcome,
    *,
    now: dt.datetime,
    jitter: Callable[[float], float],
) -> str | None:
    """Write a non-completed outcome (completions are batched by the caller); returns the new status."""
    if outcome.kind == "poll":
        return jobs.poll_later(conn, job.id, runner_id=runner_id, attempt=job.attempt, after_s=outcome.after_s, now=now)
    if outcome.kind == "quota":
        return jobs.requeue_unspent(
            conn,
            job.id,
            runner_id=runner_id,
            attempt=job.attempt,
            reason="quota",
            run_at=outcome.extra["until"],
            now=now,
        )
    if outcome.kind == "wait":
        return jobs.waits.suspend(
            conn, job.id, runner_id=runner_id, attempt=job.attempt, wait_id=int(outcome.extra["wait_id"]), now=now
        )
    if outcome.kind == "cancelled":
        stopped = jobs.finish_cancelled(
            conn, job.id, runner_id=runner_id, attempt=job.attempt, now=now, why=outcome.error
        )
        return "CANCELLED" if stopped else None
    error = outcome.error or "failed"
    status = jobs.fail(
        conn, job.id, runner_id=runner_id, attempt=job.attempt, error=error, permanent=outcome.permanent,
        now=now, jitter=jitter,
    )  # fmt: skip
    if status is not None:
        nxt = {"QUEUED": "will retry", "FAILED": "giving up", "CANCELLED": "cancelled"}.get(status, status)
        jobs.append_step(conn, job.id, f"attempt {job.attempt} failed ({nxt}): {error}", kind="error",
                         attempt=job.attempt, at=now)  # fmt: skip
    return status


def completed_row(job: jobs.ClaimedJob, outcome: Outcome) -> jobs.Finished:
    return jobs.Finished(job.id, job.attempt, outcome.result, {"duration_ms": round(outcome.duration_s * 1000, 3)})


def metric_status(kind: Kind, new_status: str | None) -> str:
    """The ``status`` label of pipeline_jobs_processed_total for an attempt."""
    if kind == "failed" and new_status == "QUEUED":
        return "retried"
    return {
        "completed": "completed",
        "failed": "failed",
        "poll": "polled",
        "quota": "polled",
        "wait": "waiting",
        "cancelled": "cancelled",
    }[kind]
