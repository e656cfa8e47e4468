"""The runner: claims jobs in batches, runs them on a worker pool, finishes them in batches.

Threads, each with one concern:
- the **dispatcher** claims up to the free capacity (``slots + prefetch``) whenever it is
  woken — by NOTIFY (PostgreSQL), the APScheduler poll tick, or a worker freeing a slot while
  the queue still had work — and hands the jobs to the workers (``sync/handoff.py``); the
  claim itself starts as many as there are workers free, which run them at once;
- the **starter** spends the attempts of prefetched jobs, one statement for as many as there
  are workers free for them (``sync/starts.py``);
- **workers** (``settings.runner_concurrency``) run started jobs, one at a time each; one worker
  is woken per batch and runs its jobs in turn while they are short (``sync/handoff.py``);
- the **finisher** writes outcomes: the completions in one statement (gathered for up to 10 ms
  while other jobs are in flight: each statement costs about as much as a batch of them), and
  failures, polls and cancellations one by one, all in one transaction per drain;
- APScheduler ticks heartbeats (leases, cancel flags, timeouts), the reaper, schedules,
  pruning and metrics (``sync/scheduler.py``).

``run_once`` / ``run_until_empty`` run jobs in the calling thread, for tests.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from db import jobs
from db.engine import make_engine
from logconfig import job_context
from settings import Settings
from sync import connections, metrics, workflows
from sync.context import JobContext
from sync.execute import Outcome, completed_row, metric_status, record_outcome, run_handler
from sync.handoff import Handoff
from sync.starts import Starter

log = logging.getLogger("zixly.runner")

FINISH_BATCH = 1000
# Every statement costs about a millisecond of CPU, runner and PostgreSQL together, whatever
# its size (a round trip alone is ~130 µs on the benchmark machine), and a durable completion
# batch the most. Drained as they came, completions went 16–48 per statement; gathered for up
# to 10 ms, ~80, and CPU per job fell by about a sixth (docs/benchmarks.md, session 11).
FINISH_GATHER = 128
FINISH_GATHER_S = 0.010
REGISTER_RETRY_S = (0.5, 5.0)  # first and longest wait between tries to reach the database


@dataclass
class Execution:
    job: jobs.ClaimedJob
    ctx: JobContext
    abandoned: bool = False  # timed out or lost its lease: its outcome is not ours to write


class Runner:
    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        *,
        runner_id: str | None = None,
        clock: Callable[[], dt.datetime] = jobs._sql.utcnow,
        jitter: Callable[[float], float] = jobs.default_jitter,
    ) -> None:
        self.settings = settings
        self.slots = settings.runner_concurrency
        self.capacity = self.slots + settings.runner_prefetch
        # While claimed jobs still wait for a worker, a freed slot refills the prefetch only
        # once this many are free: claims come in batches, not one statement per finished job.
        self.refill_at = max(1, self.capacity // 2)
        self.lease_s = settings.runner_lease_s
        self.engine = engine or make_engine(settings, **connections.pool_options(settings))
        self._claim_engine = connections.claim_engine(self.engine)
        self._start_engine = connections.start_engine(self.engine)
        self._outcome_engine = connections.outcome_engine(self.engine)
        self.id = runner_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.clock = clock
        self.jitter = jitter
        self._work = Handoff(self.slots)
        self._outcomes: queue.Queue[tuple[jobs.ClaimedJob, Outcome] | None] = queue.Queue()
        self._held: dict[int, jobs.ClaimedJob] = {}  # claimed and not yet written back
        self._running: dict[int, Execution] = {}
        self._cancel_seen: set[int] = set()
        self._lock = threading.Lock()
        self._inflight = 0  # claimed and not yet executed (queued for or in a worker)
        self._wake = threading.Event()
        self._external_wake = True  # NOTIFY or tick: the queue may have new work
        self._more = True  # the last claim was full: there is probably more
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._finisher: threading.Thread | None = None
        self._starter = Starter(self._work, self._write_starts, dropped=self._forget)

    # -- single steps, for tests ------------------------------------------------------------
    def run_once(self) -> bool:
        """Claim one job, run it here, write its outcome. False when nothing was due."""
        with self.engine.begin() as conn:
            claimed = jobs.claim(conn, self.id, limit=1, lease_s=self.lease_s, now=self.clock())
        if not claimed:
            return False
        job = claimed[0]
        if job.id in self._starter.run([job]):
            self._write([(job, run_handler(job, self._context(job)))])
        return True

    def run_until_empty(self, max_jobs: int | None = None) -> int:
        n = 0
        while (max_jobs is None or n < max_jobs) and self.run_once():
            n += 1
        return n

    # -- the threaded runner ----------------------------------------------------------------
    def start(self, until: threading.Event | None = None) -> bool:
        """Register, then start the threads; False if ``until`` was set before the database answered."""
        if not self._register(until or self.stopping):
            return False
        metrics.RUNNER_SLOTS_TOTAL.set(self.slots)
        log.info("workflows: %s", ", ".join(workflows.load()))  # import them before claiming
        for i in range(self.slots):
            self._spawn(self._work_loop, f"worker-{i}")
        self._starter.start()
        self._spawn(self._dispatch_loop, "dispatcher")
        self._finisher = threading.Thread(target=self._finish_loop, name="finisher", daemon=True)
        self._finisher.start()
        log.info("runner %s started with %d slots", self.id, self.slots)
        return True

    def _register(self, until: threading.Event) -> bool:
        """Register in ``runners``, waiting for the database if it does not answer yet.

        A runner started during a PostgreSQL outage (or before the database is up, as in a
        compose file's start order) waits for it, as a running one does, instead of exiting.
        """
        delay = REGISTER_RETRY_S[0]
        while True:
            try:
                with self.engine.begin() as conn:
                    jobs.register_runner(conn, self.id, host=socket.gethostname(), pid=os.getpid(), slots=self.slots)
                return True
            except OperationalError as exc:
                log.warning("database unreachable (%s); trying again in %.1f s", str(exc.orig).strip(), delay)
            if until.wait(delay):
                return False
            delay = min(delay * 2, REGISTER_RETRY_S[1])

    def wake(self, external: bool = True) -> None:
        """Ask the dispatcher to claim now (NOTIFY arrived, poll tick, slot freed)."""
        if external:
            self._external_wake = True
        self._wake.set()

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming, give back unstarted jobs, let running ones finish within the grace."""
        grace = self.settings.runner_grace_s if grace_s is None else grace_s
        self.stopping.set()
        self._wake.set()
        self._starter.close()  # a batch being written still runs: a worker is free for each job
        unstarted = self._work.drain_unstarted()  # started jobs run: a worker is free for each
        if unstarted:
            with self.engine.begin() as conn:
                jobs.release(conn, self.id, unstarted)
            with self._lock:
                for job in unstarted:
                    self._held.pop(job.id, None)
            log.info("gave back %d claimed jobs that had not started", len(unstarted))
        self._work.stop_workers(self.slots)
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            stuck = [e.job.id for e in self._running.values() if not e.abandoned]
            for e in self._running.values():
                e.abandoned = True
        self._outcomes.put(None)
        if self._finisher is not None:
            self._finisher.join(30)
        for own in (self._claim_engine, self._start_engine, self._outcome_engine):
            if own is not self.engine:
                own.dispose()
        with self.engine.begin() as conn:
            if stuck:
                jobs.abandon(conn, self.id, stuck, now=self.clock())
                log.warning("requeued %d jobs still running after the %.0f s grace", len(stuck), grace)
            jobs.stop_runner(conn, self.id, now=self.clock())
        log.info("runner %s stopped", self.id)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _dispatch_loop(self) -> None:
        while not self.stopping.is_set():
            self._wake.wait(self.settings.runner_poll_s)
            self._wake.clear()
            try:
                self.dispatch()
            except Exception:
                log.exception("dispatch failed; retrying at the next tick")
                self.stopping.wait(min(1.0, self.settings.runner_poll_s))

    def dispatch(self) -> int:
        """Claim as many due jobs as there is room for; returns how many were claimed."""
        total = 0
        while not self.stopping.is_set():
            free = self.capacity - self._inflight
            if free <= 0 or not (self._more or self._external_wake):
                break
            if not self._external_wake and free < self.refill_at and not self._work.empty():
                break  # the workers still have claimed jobs waiting; a worker wakes us again
            self._external_wake = False
            # The claim starts a job for each free worker, reserved until the put below: no
            # more jobs are started than there are workers to run them at once.
            start = self._work.reserve(free)
            claimed: list[jobs.ClaimedJob] = []
            try:
                with self._claim_engine.begin() as conn:
                    claimed = jobs.claim(conn, self.id, limit=free, lease_s=self.lease_s, now=self.clock(), start=start)
                self._more = len(claimed) == free
                with self._lock:
                    self._inflight += len(claimed)
                    for job in claimed:
                        self._held[job.id] = job
            finally:
                self._work.put(claimed, reserved=start)
            total += len(claimed)
            if not self._more:
                break
        return total

    def _work_loop(self) -> None:
        while True:
            job = self._work.take()
            if job is None:
                return
            ctx = self._context(job)
            execution = Execution(job, ctx)
            with self._lock:
                self._running[job.id] = execution
                if job.id in self._cancel_seen:
                    ctx.request_cancel()
            metrics.RUNNER_SLOTS_BUSY.inc()
            try:
                outcome = run_handler(job, ctx)
            finally:
                metrics.RUNNER_SLOTS_BUSY.dec()
                with self._lock:
                    self._running.pop(job.id, None)
                    self._inflight -= 1
                    self._cancel_seen.discard(job.id)
                self._work.done()
            if not execution.abandoned:
                self._outcomes.put((job, outcome))
            if self._more and not self.stopping.is_set() and self._claim_due():
                self._wake.set()

    def _claim_due(self) -> bool:
        """Whether a freed slot should wake the dispatcher: it claims only once ``refill_at`` slots
        are free or the workers ran out of claimed jobs (``dispatch``); woken for less, it checks
        and sleeps again, a thread switch per job for nothing."""
        return self.capacity - self._inflight >= self.refill_at or self._work.empty()

    def _forget(self, lost: list[jobs.ClaimedJob]) -> None:
        """Claimed jobs the starter could not start: not ours to run (their leases give them back)."""
        with self._lock:
            for job in lost:
                self._held.pop(job.id, None)
                self._inflight -= 1
                self._cancel_seen.discard(job.id)
        if self._more and not self.stopping.is_set():
            self._wake.set()

    def _write_starts(self, batch: Sequence[jobs.ClaimedJob]) -> set[int]:
        """Spend the attempts of ``batch`` (committed) before any of their handlers runs.

        Returns the ids still ours; a job not returned (reaped, cancelled meanwhile) is skipped,
        and a lost claim goes back to the queue when its lease expires, at no cost, since its
        attempt never started.
        """
        with self._start_engine.begin() as conn:
            return jobs.start_many(conn, self.id, batch)

    def _finish_loop(self) -> None:
        done = False
        while not done:
            first = self._outcomes.get()
            batch: list[tuple[jobs.ClaimedJob, Outcome]] = []
            if first is None:
                done = True
            else:
                batch.append(first)
            # While other jobs are in flight or due their outcomes are moments away: wait for them
            # (up to FINISH_GATHER of them, FINISH_GATHER_S at most) and write them together.
            busy = (self._inflight or self._more) and not done
            gather_until = time.monotonic() + FINISH_GATHER_S if busy else 0.0
            while len(batch) < FINISH_BATCH:
                try:
                    wait_s = gather_until - time.monotonic() if len(batch) < FINISH_GATHER else 0.0
                    item = self._outcomes.get(timeout=wait_s) if wait_s > 0 else self._outcomes.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                    break
                batch.append(item)
            while batch:
                try:
                    self._write(batch)
                    batch = []
                except Exception:
                    # The jobs stay held (leases extended) until the write succeeds.
                    log.exception("writing %d job outcomes failed; retrying", len(batch))
                    time.sleep(0.5)

    def _write(self, batch: list[tuple[jobs.ClaimedJob, Outcome]]) -> None:
        """Write a batch of outcomes in one transaction (completions in one statement)."""
        now = self.clock()
        statuses: dict[int, str | None] = {}
        with self._outcome_engine.begin() as conn:  # durable: see sync/connections.py
            finished = [completed_row(job, o) for job, o in batch if o.kind == "completed"]
            if finished:
                ok = set(jobs.complete(conn, self.id, finished, now=now))
                statuses.update({f.job_id: "COMPLETED" if f.job_id in ok else None for f in finished})
            for job, outcome in batch:
                if outcome.kind != "completed":
                    statuses[job.id] = record_outcome(conn, self.id, job, outcome, now=now, jitter=self.jitter)
        with self._lock:
            for job, _ in batch:
                self._held.pop(job.id, None)
        for job, outcome in batch:
            label = metric_status(outcome.kind, statuses.get(job.id))
            metrics.JOBS_PROCESSED.labels(job.job_type, label).inc()
            metrics.JOB_DURATION.labels(job.job_type, label).observe(outcome.duration_s)
            if outcome.kind == "failed":
                with job_context(job_id=job.id, tenant=job.tenant_id, job_type=job.job_type):
                    log.warning("job %d attempt %d failed: %s", job.id, job.attempt, outcome.error)

    def _context(self, job: jobs.ClaimedJob) -> JobContext:
        return JobContext(
            engine=self.engine, settings=self.settings, job_id=job.id, tenant_id=job.tenant_id,
            job_type=job.job_type, attempt=job.attempt, max_attempts=job.max_attempts,
            deadline=job.deadline_at, polls=job.polls, clock=self.clock,
        )  # fmt: skip

    # -- ticks (driven by APScheduler, see sync/scheduler.py) -------------------------------
    def heartbeat(self) -> None:
        """Extend our leases, pick up cancel requests, fail attempts past their deadline."""
        now = self.clock()
        with self._lock:
            held = list(self._held)
            running = list(self._running.values())
        timed_out = [e for e in running if not e.abandoned and now > e.job.deadline_at]
        with self.engine.begin() as conn:
            alive = jobs.heartbeat(conn, self.id, held, lease_s=self.lease_s, now=now)
            for e in timed_out:
                e.abandoned = True
                e.ctx.request_cancel()  # a cooperative handler stops at its next step
                error = f"JobTimedOut: still running after timeout_s={e.job.timeout_s}"
                record_outcome(conn, self.id, e.job, Outcome("failed", error=error), now=now, jitter=self.jitter)
            jobs.beat_runner(conn, self.id, busy=len(running), now=now)
        with self._lock:
            for e in timed_out:
                self._held.pop(e.job.id, None)
            for job_id in held:
                execution = self._running.get(job_id)
                if job_id not in alive:  # reaped: someone else may run it now
                    self._held.pop(job_id, None)
                    if execution is not None:
                        execution.abandoned = True
                        execution.ctx.request_cancel()
                elif alive[job_id]:
                    self._cancel_seen.add(job_id)
                    if execution is not None:
                        execution.ctx.request_cancel()

    def reap(self) -> None:
        """Requeue jobs whose runner died, and waiting jobs whose wait passed its deadline."""
        with self.engine.begin() as conn:
            reaped = jobs.reap_expired(conn, now=self.clock())
            due = jobs.waits.wake_due(conn, now=self.clock())
        if reaped:
            log.warning("requeued %d jobs whose runner stopped heartbeating: %s", len(reaped), sorted(reaped))
        if due:
            log.info("queued %d waiting jobs whose wait passed its deadline: %s", len(due), sorted(due))
        if reaped or due:
            self.wake()
