"""Group commit: one thread writes, together, what many threads are waiting to have written.

Behind the listener's intake (``webhook/group.py``: the deliveries that arrive together, one
transaction). A thread hands its item to ``submit`` and blocks; the **committer** thread takes
every item waiting at that moment (at most ``max_batch``), passes the batch to ``write`` and
answers each submitter with its own result. While it writes, the next items gather: under load
the batches grow by themselves, at a trickle an item waits for nobody.

A submitter is answered ``refused`` instead when the committer is closed, or when ``write``
raised or answered too few items: no thread ever waits on a batch that died or on a committer
that is gone. The thread starts on first use in the process that submits (after a fork too:
gunicorn forks its workers after the app is made).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("zixly.committer")

T = TypeVar("T")
R = TypeVar("R")


class _Request(Generic[T, R]):
    """One submitter's item; ``wait`` returns once the committer has answered it."""

    __slots__ = ("_answered", "item", "result")

    def __init__(self, item: T, refused: R) -> None:
        self.item = item
        self.result = refused
        # A bare lock as a one-shot signal: cheaper than an Event on a path taken per item.
        self._answered = threading.Lock()
        self._answered.acquire()

    def answer(self, result: R) -> None:
        self.result = result
        self._answered.release()

    def wait(self) -> R:
        self._answered.acquire()
        return self.result


class Committer(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R]],
        *,
        refused: R,
        name: str,
        max_batch: int | None = None,
    ) -> None:
        self._write_batch = write
        self._refused = refused
        self._name = name
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._waiting: list[_Request[T, R]] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, item: T) -> R:
        """Block until ``item``'s batch is written: its result, or ``refused``."""
        request = _Request(item, self._refused)
        with self._cond:
            if self._closed:
                return self._refused
            self._start_here()
            self._waiting.append(request)
            self._cond.notify()
        return request.wait()

    def close(self, timeout_s: float = 5.0) -> None:
        """Refuse every item waiting or yet to come, and let the thread end."""
        with self._cond:
            self._closed = True
            refused, self._waiting = self._waiting, []
            self._cond.notify()
        for request in refused:  # answered here: the thread may be stuck in a slow batch
            request.answer(self._refused)
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout_s)

    def _start_here(self) -> None:
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return  # close() answered whoever was waiting
                cut = len(self._waiting) if self._max_batch is None else self._max_batch
                batch, self._waiting = self._waiting[:cut], self._waiting[cut:]
            results: Sequence[R] = ()
            try:
                results = self._write_batch([r.item for r in batch])
            except Exception:
                log.exception("%s: a batch of %d failed; each is answered as refused", self._name, len(batch))
            finally:  # whatever happens here, no submitter is left waiting on this batch
                for n, request in enumerate(batch):
                    request.answer(results[n] if n < len(results) else self._refused)
