"""Claimed jobs on their way to the workers: the prefetch, the starts, the jobs ready to run.

A claimed job waits here **unstarted** (the prefetch: its attempt not spent) until a worker is
free for it; the starter then spends the attempts of as many as there are free workers in one
statement (``sync/starts.py``) and they wait **started**, each promised to a free worker. A job
the claim itself started (``ClaimedJob.started``, ``jobs.claim(start=k)``) arrives started; the
dispatcher reserves its ``k`` free workers first (``reserve``), so no more jobs are ever started
than there are workers not in a handler: each started job has a worker free to run it.

Workers only ever take started jobs. One worker is woken per batch, not one per job: it runs the
started jobs one after another while they are short, and the others sleep. Every wake-up of a
thread costs a switch and a turn for the GIL; with one worker woken per job, a busy runner made
five thread switches per job and spent about a third of its CPU on them (docs/benchmarks.md).
Should no worker take a started job for ``STALL_S`` (the awake ones are in slow handlers), the
starter's wait wakes one sleeping worker per started job, so a started job waits behind another's
handler about that long at most (longer only while a start statement is out: the starter watches
between statements).

A free worker is one not in a handler. The starter is asked for a batch once the started jobs
have all been taken and a worker is free: the batch is written while the last one runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from db import jobs

# The longest started jobs wait with no worker taking any before sleeping workers are woken.
STALL_S = 0.001


class Handoff:
    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # workers wait here for a started job
        self._start_due = threading.Condition(self._lock)  # the starter waits here for a batch
        self._slots = slots
        self._started: deque[jobs.ClaimedJob] = deque()
        self._unstarted: deque[jobs.ClaimedJob] = deque()
        self._starting = 0  # promised to free workers: starts being written, or a claim's reservation
        self._running = 0  # workers in a handler
        self._stops = 0  # workers asked to exit once nothing is left for them
        self._closed = False  # no more starts (the runner is stopping)
        self._progress = time.monotonic()  # when a worker last took a started job (or one arrived)

    # -- the dispatcher -----------------------------------------------------------------------
    def reserve(self, most: int) -> int:
        """Promise up to ``most`` free workers to jobs a claim is about to start; ``put`` ends it."""
        with self._lock:
            k = max(0, min(most, self._free()))
            self._starting += k
            return k

    def put(self, claimed: Iterable[jobs.ClaimedJob], reserved: int = 0) -> None:
        """Hand over a claim's jobs (its started ones were ``reserved``)."""
        with self._lock:
            self._starting -= reserved
            for job in claimed:
                if job.started:
                    self._add_started(job)
                else:
                    self._unstarted.append(job)
            self._ask_for_starts()

    def empty(self) -> bool:
        return not (self._started or self._unstarted or self._starting)

    def drain_unstarted(self) -> list[jobs.ClaimedJob]:
        """Take back every job still waiting unstarted (the runner stopping gives them back)."""
        with self._lock:
            drained = list(self._unstarted)
            self._unstarted.clear()
            return drained

    # -- the starter ----------------------------------------------------------------------------
    def next_to_start(self) -> list[jobs.ClaimedJob] | None:
        """Block until jobs should be started (one per free worker); None once closed.

        While started jobs wait, also watch that workers take them (``STALL_S``).
        """
        with self._lock:
            while not self._closed:
                if self._unstarted and not self._started and not self._starting and self._free() > 0:
                    batch = [self._unstarted.popleft() for _ in range(min(len(self._unstarted), self._free()))]
                    self._starting += len(batch)
                    return batch
                if not self._started:
                    self._start_due.wait()
                    continue
                stalled = time.monotonic() - self._progress
                if stalled >= STALL_S:  # the awake workers are in handlers: wake one for each job
                    self._ready.notify(len(self._started))
                    self._progress = time.monotonic()
                    stalled = 0.0
                self._start_due.wait(STALL_S - stalled)
            return None

    def started(self, batch: list[jobs.ClaimedJob], ours: set[int]) -> list[jobs.ClaimedJob]:
        """The starts of ``batch`` are committed for ``ours``: those run; the others are returned."""
        with self._lock:
            self._starting -= len(batch)
            for job in batch:
                if job.id in ours:
                    self._add_started(job)
            self._ask_for_starts()
            return [job for job in batch if job.id not in ours]

    def close(self) -> None:
        """No more starts: ``next_to_start`` returns None (a batch being written still runs)."""
        with self._lock:
            self._closed = True
            self._start_due.notify()

    # -- the workers ----------------------------------------------------------------------------
    def take(self) -> jobs.ClaimedJob | None:
        """Block for the next started job; None tells the worker to exit (once none can come)."""
        with self._lock:
            while not self._started and not (self._stops and not self._starting):
                self._ready.wait()
            if not self._started:
                self._stops -= 1
                return None
            self._running += 1
            self._progress = time.monotonic()
            job = self._started.popleft()
            self._ask_for_starts()  # the last one taken: the next batch is written while it runs
            return job

    def done(self) -> None:
        """The worker's handler has returned: it is free again."""
        with self._lock:
            self._running -= 1
            self._ask_for_starts()

    def stop_workers(self, n: int) -> None:
        """Let ``n`` workers exit once the started jobs (and starts being written) are taken."""
        with self._lock:
            self._stops += n
            self._ready.notify_all()

    # -- under the lock -------------------------------------------------------------------------
    def _free(self) -> int:
        """Workers neither in a handler nor promised a job."""
        return self._slots - self._running - len(self._started) - self._starting

    def _add_started(self, job: jobs.ClaimedJob) -> None:
        if not self._started:
            self._progress = time.monotonic()
            self._ready.notify()  # one worker; the starter's watch wakes more if it stalls
            self._start_due.notify()  # the starter: to watch
        self._started.append(job)

    def _ask_for_starts(self) -> None:
        if self._unstarted and not self._started and not self._starting and self._free() > 0:
            self._start_due.notify()
