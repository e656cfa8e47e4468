"""What a workflow sees of the runner: ``JobContext``.

A workflow is a plain function ``handler(ctx, params) -> dict``. Through ``ctx`` it writes its
step log and related records (each in its own short transaction, so the dashboard sees them
live), reports progress, watches its deadline and cancellation, and can ask to be polled
again later. Vendor calls made through ``integrations`` report to ``ctx.recorder``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from db import jobs
from settings import Settings
from sync import waiting
from sync.errors import JobCancelled, JobTimedOut, PollAgain

log = logging.getLogger("zixly.job")


class JobContext:
    """The running job: identity, settings, deadline, and its ways to leave a trace."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        job_id: int,
        tenant_id: int,
        job_type: str,
        attempt: int,
        max_attempts: int,
        deadline: dt.datetime,
        polls: int = 0,
        clock: Callable[[], dt.datetime] = jobs._sql.utcnow,
    ) -> None:
        self.job_id = job_id
        self.tenant_id = tenant_id
        self.job_type = job_type
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.deadline = deadline
        self.polls = polls  # how many times this job asked to be polled again so far
        self.settings = settings
        self._engine = engine
        self._clock = clock
        # Set by the runner (heartbeat saw cancel_requested) or by a step that read it.
        self._cancelled = threading.Event()
        self.log = logging.LoggerAdapter(log, {"job_id": job_id, "tenant_id": tenant_id, "job_type": job_type})
        self._waits = 0  # waits reached in this run: the next one's ``seq`` (see sync/waiting.py)

    # -- the trace ------------------------------------------------------------------------
    def step(self, message: str, kind: str = "info", **call_fields: Any) -> None:
        """Append a step (``call_fields``: system, method, path, status_code, latency_ms).

        A step is also a checkpoint: it raises ``JobCancelled`` if the job was cancelled and
        ``JobTimedOut`` past the deadline.
        """
        with self._engine.begin() as conn:
            at = self._clock()
            jobs.append_step(conn, self.job_id, message, kind=kind, attempt=self.attempt, at=at, **call_fields)
            if jobs.cancel_requested(conn, self.job_id):
                self._cancelled.set()
        self.check_cancelled()

    def record(
        self,
        system: str,
        record_type: str,
        record_id: str,
        action: str,
        url: str | None = None,
        *,
        label: str | None = None,
    ) -> None:
        """Note an external record this job read (READ) or wrote (CREATE, UPDATE); ``label`` is
        what people know it by (INV-0050, #1001, an email), so record lookup finds the job by it."""
        with self._engine.begin() as conn:
            jobs.record_related(
                conn, self.job_id, tenant_id=self.tenant_id, system=system, record_type=record_type,
                record_id=record_id, action=action, url=url, at=self._clock(), label=label,
            )  # fmt: skip

    def progress(self, fraction: float) -> None:
        """Store how far the job got (0..1) in its metrics, for the dashboard."""
        with self._engine.begin() as conn:
            jobs.set_progress(conn, self.job_id, fraction)

    def recorder(self, system: str, method: str, path_template: str, status: int | None, latency_ms: float) -> None:
        """An ``integrations.http.CallRecorder``: every vendor call becomes a ``call`` step."""
        shown = "no response" if status is None else str(status)
        with self._engine.begin() as conn:
            jobs.append_step(
                conn, self.job_id, f"{method} {path_template} → {shown}", kind="call", attempt=self.attempt,
                system=system, method=method, path=path_template, status_code=status, latency_ms=latency_ms,
                at=self._clock(),
            )  # fmt: skip

    # -- time and control -----------------------------------------------------------------
    @property
    def remaining_s(self) -> float:
        return (self.deadline - self._clock()).total_seconds()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def request_cancel(self) -> None:
        """Called by the runner when it learns the job was cancelled."""
        self._cancelled.set()

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` if cancelled, ``JobTimedOut`` if past the deadline."""
        if self._cancelled.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")
        if self.remaining_s <= 0:
            raise JobTimedOut(f"timed out: the attempt passed its deadline {self.deadline.isoformat()}")

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up to stop at once when cancelled or at the deadline."""
        self.check_cancelled()
        self._cancelled.wait(max(0.0, min(seconds, self.remaining_s)))
        self.check_cancelled()

    def poll_again(self, after_s: float) -> None:
        """Stop now and run again in ``after_s`` seconds, without spending an attempt."""
        raise PollAgain(after_s)

    # -- waiting for the outside world (sync/waiting.py) ----------------------------------
    def wait_for_callback(
        self,
        timeout_s: float,
        *,
        start: Callable[[waiting.Callback], Any] | None = None,
        signed: bool = False,
        on_timeout: Any = waiting.RAISE,
    ) -> Any:
        """Suspend until an external system POSTs to the callback URL given to ``start``; its payload."""
        return waiting.wait_for_callback(self, timeout_s, start=start, signed=signed, on_timeout=on_timeout)

    def require_approval(
        self, summary: str, detail: dict[str, Any], *, timeout_s: float = waiting.APPROVAL_TIMEOUT_S
    ) -> dict[str, Any]:
        """Suspend until EDITOR or above approves (returns the decision) or rejects (the job is cancelled)."""
        return waiting.require_approval(self, summary, detail, timeout_s=timeout_s)

    @property
    def engine(self) -> Engine:
        return self._engine

    def now(self) -> dt.datetime:
        return self._clock()

    def next_wait_seq(self) -> int:
        self._waits += 1
        return self._waits
