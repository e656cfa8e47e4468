"""How a job attempt can end other than by returning: one small hierarchy.

The runner alone decides what happens next. Any exception with ``permanent = True``
(``PermanentJobError`` here, ``integrations.http.PermanentError`` from a vendor call) fails
the job at once; every other exception is transient and retried with backoff until
``max_attempts``. ``JobCancelled`` and ``PollAgain`` are control flow, not failures.
"""

from __future__ import annotations


class JobError(Exception):
    """A job attempt failed. ``permanent`` says whether retrying can help."""

    permanent: bool = False


class TransientJobError(JobError):
    """Try again later (the default for any unknown exception too)."""


class PermanentJobError(JobError):
    """Retrying cannot help (bad params, a record that does not exist)."""

    permanent = True


class JobTimedOut(TransientJobError):
    """The attempt ran past its deadline (``timeout_s``)."""


class JobCancelled(Exception):
    """Someone cancelled the job; raised by the context at the next step or check."""


class PollAgain(Exception):
    """Requeue the job in ``after_s`` seconds without spending an attempt."""

    def __init__(self, after_s: float) -> None:
        super().__init__(f"poll again in {after_s:g} s")
        self.after_s = after_s


class Suspend(Exception):
    """Park the job until wait ``wait_id`` is resolved (callback, decision or deadline): WAITING."""

    def __init__(self, wait_id: int, reason: str) -> None:
        super().__init__(f"waiting for {reason} (wait {wait_id})")
        self.wait_id = wait_id
        self.reason = reason


class WaitTimedOut(PermanentJobError):
    """A callback or an approval did not come before its deadline."""


class ApprovalRejected(JobCancelled):
    """A person rejected the write the job asked approval for: the job ends CANCELLED, saying who and why."""


def is_permanent(exc: BaseException) -> bool:
    """Permanent only when the exception says so; unknown exceptions are transient."""
    return getattr(exc, "permanent", False) is True


def describe(exc: BaseException) -> str:
    """The error text stored on the job row and shown in the dashboard."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
