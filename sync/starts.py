"""Group-committed starts: every start the workers have waiting goes out in one statement.

A job's attempt counts once its handler starts, so each worker must see its own start
committed before it calls the handler. Committed one by one, those starts were most of a
busy runner's work (one statement, one transaction, one round trip per job). Here a worker
hands its job to the **starter** thread and waits; the starter marks every start waiting at
that moment with one statement (``jobs.start_many``), commits, and answers each worker with
its own yes or no:

- yes: the start is committed, the handler may run;
- no: the job is no longer ours (reaped, released, cancelled) or the statement failed. Nothing
  runs; a lost claim goes back when its lease expires, at no cost, its attempt never started.

A statement goes out as soon as the starts the runner expects (``coming``: workers that hold
or are about to take a claimed job, none busy in a handler) are all waiting, or ``GATHER_S``
after the first, whichever is sooner: taken the moment the first arrived, batches alternated
1 and 3 of 4 workers (2.0 starts per statement measured), since the workers answered last
were still on their way.

Once closed (the runner stopping) the starter answers every waiting or later start with no,
so no worker ever waits on a starter that is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from db import jobs

log = logging.getLogger("zixly.runner")

# Commits the starts of a batch and returns the ids still ours (raises on a database error).
WriteStarts = Callable[[Sequence[jobs.ClaimedJob]], set[int]]

# The longest a start waits for others to share its statement.
GATHER_S = 0.001


class _Request:
    """One worker's start; ``wait`` returns once the starter has answered it."""

    __slots__ = ("_answered", "job", "started")

    def __init__(self, job: jobs.ClaimedJob) -> None:
        self.job = job
        self.started = False
        # A bare lock as a one-shot signal: cheaper than an Event on a path taken per job.
        self._answered = threading.Lock()
        self._answered.acquire()

    def answer(self, started: bool) -> None:
        self.started = started
        self._answered.release()

    def wait(self) -> bool:
        self._answered.acquire()
        return self.started


class Starter:
    def __init__(self, write: WriteStarts, coming: Callable[[], int] = lambda: 0) -> None:
        self._write = write
        self._coming = coming
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="starter", daemon=True)
        self._thread.start()

    def submit(self, job: jobs.ClaimedJob) -> bool:
        """Block until ``job``'s start is committed (True) or refused (False: skip the job)."""
        request = _Request(job)
        with self._cond:
            if self._closed:
                return False
            self._waiting.append(request)
            self._cond.notify()
        return request.wait()

    def run(self, batch: Sequence[jobs.ClaimedJob]) -> set[int]:
        """Commit the starts of ``batch`` in this thread; the ids that may run (none on an error)."""
        try:
            return self._write(batch)
        except Exception:
            ids = [j.id for j in batch]
            log.exception("could not start jobs %s; their leases will give them back", ids)
            return set()

    def close(self, timeout_s: float = 5.0) -> None:
        """Refuse every start still waiting or yet to come, and let the thread end."""
        with self._cond:
            self._closed = True
            refused, self._waiting = self._waiting, []
            self._cond.notify()
        for request in refused:  # answered here: the thread may be stuck in a slow batch
            request.answer(False)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                until = time.monotonic() + GATHER_S
                while not self._closed and len(self._waiting) < self._coming():
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._waiting = self._waiting, []
                closed = self._closed
            if closed:
                for request in batch:
                    request.answer(False)
                return
            started = self.run([r.job for r in batch])
            for request in batch:
                request.answer(request.job.id in started)
