"""The dispatcher's hand-off of claimed jobs to the workers, and how many workers wait idle.

A job the claim itself started (``ClaimedJob.started``, ``jobs.claim(start=k)``) has spent its
attempt, so it must run at once: the dispatcher asks the claim to start no more jobs than there
are workers waiting here with nothing to take (``idle``), and a waiting worker takes a started
job before any unstarted one. A started job therefore never waits behind a handler; the other
claimed jobs (the prefetch) wait unstarted, and the starter spends their attempts when a worker
takes them (``sync/starts.py``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

from db import jobs


class Handoff:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._started: deque[jobs.ClaimedJob] = deque()
        self._unstarted: deque[jobs.ClaimedJob] = deque()
        self._stops = 0  # workers asked to exit once nothing is left for them
        self._waiting = 0  # workers inside take()

    def put(self, claimed: Iterable[jobs.ClaimedJob]) -> None:
        with self._cond:
            n = 0
            for job in claimed:
                (self._started if job.started else self._unstarted).append(job)
                n += 1
            self._cond.notify(n)

    def take(self) -> jobs.ClaimedJob | None:
        """Block for the next job (a started one first); None tells the worker to exit."""
        with self._cond:
            self._waiting += 1
            while not (self._started or self._unstarted or self._stops):
                self._cond.wait()
            self._waiting -= 1
            if self._started:
                return self._started.popleft()
            if self._unstarted:
                return self._unstarted.popleft()
            self._stops -= 1
            return None

    def idle(self) -> int:
        """Workers waiting with no job left for them: each takes a started job the moment it comes."""
        with self._cond:
            return max(0, self._waiting - len(self._started) - len(self._unstarted))

    def empty(self) -> bool:
        return not (self._started or self._unstarted)

    def drain_unstarted(self) -> list[jobs.ClaimedJob]:
        """Take back every job still waiting unstarted (the runner stopping gives them back)."""
        with self._cond:
            drained = list(self._unstarted)
            self._unstarted.clear()
            return drained

    def stop_workers(self, n: int) -> None:
        """Let ``n`` workers exit once the jobs left (started ones, at least) are taken."""
        with self._cond:
            self._stops += n
            self._cond.notify_all()
