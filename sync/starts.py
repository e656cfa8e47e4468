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
so no worker ever waits on a starter that is gone. The thread is ``db.committer``'s, shared
with the listener's group commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from db import jobs
from db.committer import Committer

log = logging.getLogger("zixly.runner")

# Commits the starts of a batch and returns the ids still ours (raises on a database error).
WriteStarts = Callable[[Sequence[jobs.ClaimedJob]], set[int]]

# The longest a start waits for others to share its statement.
GATHER_S = 0.001


class Starter(Committer[jobs.ClaimedJob, bool]):
    def __init__(self, write: WriteStarts, coming: Callable[[], int] = lambda: 0) -> None:
        super().__init__(
            self._answers, refused=False, name="starter", gather_s=GATHER_S, expected=coming, autostart=False
        )
        self._write_starts = write

    # ``submit(job)`` blocks until the job's start is committed (True) or refused (False: skip it).

    def run(self, batch: Sequence[jobs.ClaimedJob]) -> set[int]:
        """Commit the starts of ``batch`` in this thread; the ids that may run (none on an error)."""
        try:
            return self._write_starts(batch)
        except Exception:
            ids = [j.id for j in batch]
            log.exception("could not start jobs %s; their leases will give them back", ids)
            return set()

    def _answers(self, batch: Sequence[jobs.ClaimedJob]) -> list[bool]:
        started = self.run(batch)
        return [job.id in started for job in batch]
