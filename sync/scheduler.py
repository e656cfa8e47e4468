"""APScheduler drives the runner: every periodic duty is one tick job here.

Each tick has ``max_instances=1`` and ``coalesce=True``, so a slow tick never overlaps itself
nor fires a burst of catch-up runs. A tick that raises is logged and tried again next time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from db import jobs, rollups, schedules
from db.jobs import idempotency_keys
from db.jobs.retention import retain
from sync import metrics
from sync.alerts.check import check
from sync.alerts.deliver import deliver_due
from sync.quota_metrics import QUOTA_METRICS_EVERY_S, refresh_quota_metrics
from sync.runner import Runner

log = logging.getLogger("zixly.runner")

METRICS_EVERY_S = 5.0
PRUNE_EVERY_S = 3600.0
# PostgreSQL: id ranges are made ahead (db.jobs.partitions.ensure_ahead). Two ranges of a million
# ids last days at a busy agency's rate; a minute keeps even a bulk import from outrunning them
# for long (the DEFAULT partition takes what does).
PARTITIONS_EVERY_S = 60.0
# Marking PAUSED the jobs a pause covers that became QUEUED again (a retry, a callback) is only
# for the eye: the claim never takes them anyway. It scans the queued jobs, so not every poll.
HOLD_EVERY_S = 10.0
# The dashboard's hourly rollups (db/rollups.py): a page counts the hours marked since the last
# tick directly, so the period bounds how much it reads, not whether its numbers are right.
ROLLUP_EVERY_S = 10.0


def build_scheduler(runner: Runner) -> BackgroundScheduler:
    settings = runner.settings
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    )

    def tick(name: str, every_s: float, fn: Callable[[], object]) -> None:
        def guarded() -> None:
            try:
                fn()
            except Exception:
                log.exception("runner tick %s failed", name)

        scheduler.add_job(guarded, "interval", seconds=every_s, id=name, name=name)

    tick("dispatch", settings.runner_poll_s, runner.wake)
    tick("heartbeat", max(0.2, runner.lease_s / 3), runner.heartbeat)
    tick("reap", max(0.2, runner.lease_s / 2), runner.reap)
    tick("schedules", max(0.2, min(settings.runner_poll_s, 5.0)), lambda: fire_schedules(runner))
    tick("pauses", max(0.2, min(settings.runner_poll_s, 5.0)), lambda: pauses_tick(runner))
    tick("hold", HOLD_EVERY_S, lambda: hold_tick(runner))
    tick("prune", PRUNE_EVERY_S, lambda: prune(runner))
    if jobs.partitions.partitioned(runner.engine):
        tick("partitions", PARTITIONS_EVERY_S, lambda: partitions_tick(runner))
    tick("rollups", ROLLUP_EVERY_S, lambda: rollup_tick(runner))
    tick("metrics", METRICS_EVERY_S, lambda: refresh_metrics(runner))
    tick("quota metrics", QUOTA_METRICS_EVERY_S, lambda: refresh_quota_metrics(runner.engine, runner.clock()))
    tick("alerts", settings.alert_check_s, lambda: alerts_tick(runner))
    return scheduler


def fire_schedules(runner: Runner) -> int:
    """Enqueue a job for every due schedule (exactly once across all runners)."""
    with runner.engine.begin() as conn:
        fired = schedules.fire_due(conn, now=runner.clock())
    if fired:
        runner.wake()
    return len(fired)


def pauses_tick(runner: Runner) -> int:
    """Resume the pauses whose end time passed, releasing their held jobs (``db.jobs.pauses``)."""
    with runner.engine.begin() as conn:
        resumed = jobs.pauses.resume_due(conn, per_minute=runner.settings.resume_per_minute, now=runner.clock())
    for tenant_id, workflow, released in resumed:
        log.info("pause ended", extra={"tenant_id": tenant_id, "workflow": workflow, "released": released})
    if any(released for _, _, released in resumed):
        runner.wake()
    return len(resumed)


def hold_tick(runner: Runner) -> int:
    """Mark PAUSED the queued jobs a pause covers (see ``HOLD_EVERY_S``)."""
    with runner.engine.begin() as conn:
        return jobs.pauses.hold_stragglers(conn)


def alerts_tick(runner: Runner) -> None:
    """Group failures and conditions into alerts (one runner at a time), then send what is due."""
    check(runner.engine, runner.settings, runner.clock)
    deliver_due(runner.engine, runner.settings, runner.id, runner.clock)


def partitions_tick(runner: Runner) -> int:
    """Make the id ranges ahead of the newest job, and the idempotency keys' generation follow (PostgreSQL)."""
    made = jobs.partitions.ensure_ahead(runner.engine, size=runner.settings.job_partition_size)
    for r in made:
        log.info("job partition made", extra={"lo": r.lo, "hi": r.hi})
    generation = idempotency_keys.rotate(runner.engine)
    if generation is not None:
        log.info("idempotency key generation started", extra={"lo": generation.lo})
    return len(made)


def prune(runner: Runner) -> int:
    """Retention (``db.jobs.retention``): whole id ranges on PostgreSQL, row by row on SQLite."""
    days = runner.settings.job_retention_days
    done = retain(runner.engine, days, now=runner.clock(), should_stop=runner.stopping.is_set)
    if done.jobs or done.skipped:
        log.info(
            "pruned %d finished jobs older than %d days (%d id ranges dropped, %d left for the next tick)",
            done.jobs, days, len(done.ranges), done.skipped,
        )  # fmt: skip
    return done.jobs


def rollup_tick(runner: Runner) -> int:
    """Recompute the rollup hours marked since the last tick (a week of them at most per tick)."""
    with runner.engine.begin() as conn:
        return rollups.refresh(conn)


def refresh_metrics(runner: Runner) -> None:
    with runner.engine.begin() as conn:
        counts = jobs.job_counts(conn)
        oldest = jobs.oldest_queued_age_s(conn, now=runner.clock())
    for status, n in counts.items():
        metrics.JOBS.labels(metrics.status_label(status)).set(n)
    metrics.QUEUE_OLDEST_AGE.set(oldest)
