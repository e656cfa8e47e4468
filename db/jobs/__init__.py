"""The job queue: every SQL statement that touches ``pipeline_jobs`` and its logs lives here.

Functions take a ``Session`` (or a ``Connection``) and never commit: the caller owns the
transaction (the edge opens sessions and passes them in). The runner's hot path passes connections and commits once per
batch. See README "The runner and the job lifecycle" for the states and rules this implements.
"""

from __future__ import annotations

from db.jobs import partitions, pauses, waits
from db.jobs._sql import CHANNEL, Executor
from db.jobs.claim import ClaimedJob, claim, release, start, start_many
from db.jobs.enqueue import Enqueued, JobSpec, bulk_rerun, enqueue, enqueue_many, notify_runners, rerun
from db.jobs.finish import (
    BACKOFF_BASE_S,
    Finished,
    abandon,
    backoff_s,
    cancel,
    complete,
    default_jitter,
    fail,
    finish_cancelled,
    heartbeat,
    poll_later,
    reap_expired,
    requeue_unspent,
)
from db.jobs.log import STEP_KINDS, append_step, cancel_requested, prune, record_related, set_progress
from db.jobs.runners import beat_runner, job_counts, oldest_queued_age_s, register_runner, stop_runner

__all__ = [
    "BACKOFF_BASE_S",
    "CHANNEL",
    "STEP_KINDS",
    "ClaimedJob",
    "Enqueued",
    "Executor",
    "Finished",
    "JobSpec",
    "abandon",
    "append_step",
    "backoff_s",
    "beat_runner",
    "bulk_rerun",
    "cancel",
    "cancel_requested",
    "claim",
    "complete",
    "default_jitter",
    "enqueue",
    "enqueue_many",
    "fail",
    "finish_cancelled",
    "heartbeat",
    "job_counts",
    "notify_runners",
    "oldest_queued_age_s",
    "partitions",
    "pauses",
    "poll_later",
    "prune",
    "reap_expired",
    "record_related",
    "register_runner",
    "release",
    "requeue_unspent",
    "rerun",
    "set_progress",
    "start",
    "start_many",
    "stop_runner",
    "waits",
]
