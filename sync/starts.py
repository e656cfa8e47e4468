"""The starter: spends the attempts of prefetched jobs, one statement for every free worker.

A job's attempt counts once its handler starts, so its start is committed before the handler
runs. The starter thread takes from the hand-off (``sync/handoff.py``) as many prefetched jobs
as there are workers free for them, marks them started in one statement (``jobs.start_many``)
and commits; the jobs still ours then wait started for the workers. A job the statement did not
start (reaped, released or cancelled meanwhile), or a batch whose statement failed, runs nothing:
it goes to ``dropped``, and a lost claim goes back to the queue when its lease expires, at no
cost, its attempt never started.

A batch is asked for when the started jobs have all been taken and a worker is free, so under
load it is one statement for all the runner's workers (16 starts per statement measured), written
while the last started job runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from db import jobs
from sync.handoff import Handoff

log = logging.getLogger("zixly.runner")

# Commits the starts of a batch and returns the ids still ours (raises on a database error).
WriteStarts = Callable[[Sequence[jobs.ClaimedJob]], set[int]]


class Starter:
    def __init__(
        self, work: Handoff, write: WriteStarts, dropped: Callable[[list[jobs.ClaimedJob]], None] = lambda _: None
    ) -> None:
        self._work = work
        self._write_starts = write
        self._dropped = dropped
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="starter", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Start nothing more; a batch being written still goes to the workers."""
        self._work.close()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run(self, batch: Sequence[jobs.ClaimedJob]) -> set[int]:
        """Commit the starts of ``batch`` in this thread; the ids that may run (none on an error)."""
        try:
            return self._write_starts(batch)
        except Exception:
            ids = [j.id for j in batch]
            log.exception("could not start jobs %s; their leases will give them back", ids)
            return set()

    def _loop(self) -> None:
        while (batch := self._work.next_to_start()) is not None:
            lost = self._work.started(batch, self.run(batch))
            if lost:
                self._dropped(lost)
