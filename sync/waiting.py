"""Suspending a job until the outside world answers: callbacks and approvals.

A workflow calls ``ctx.wait_for_callback(...)`` or ``ctx.require_approval(...)``. The first
time, a wait is recorded and the attempt ends with :class:`~sync.errors.Suspend`: the runner
parks the job ``WAITING`` (its slot and lease are released at once, no attempt is spent). When
the wait is resolved the job is queued again and the workflow runs **from the top**: each wait
call finds its recorded wait (by its order in the run, ``seq``) and returns the stored payload
instead of waiting again. So a workflow is written to be re-entered: what it did before a wait
is either a read (done again, fresh) or guarded by the wait itself — the ``start`` callable of
:func:`wait_for_callback`, which starts the external work, runs only when the wait is first
opened, never on resume.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, MultiFernet

from db.jobs import append_step, waits
from sync.errors import ApprovalRejected, Suspend, WaitTimedOut

if TYPE_CHECKING:
    from sync.context import JobContext

CALLBACK_PATH = "/webhook/callbacks/"
APPROVAL_TIMEOUT_S = 7 * 86_400


class _Raise:
    """The default ``on_timeout``: fail the job."""


RAISE = _Raise()


@dataclass(frozen=True)
class Callback:
    """What the external system is given: where to POST its result, until when, and how to sign it."""

    url: str
    deadline: dt.datetime
    secret: str | None = None  # HMAC-SHA256 key for the X-Zixly-Signature header, when signed


def _cipher(ctx: JobContext) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in ctx.settings.fernet_keys()])


def wait_for_callback(
    ctx: JobContext,
    timeout_s: float,
    *,
    start: Callable[[Callback], Any] | None = None,
    signed: bool = False,
    on_timeout: Any = RAISE,
) -> Any:
    """The callback's JSON payload, once it came; until then the job waits (``WAITING``).

    ``start(callback)`` starts the external work with the URL (and secret) to call back; it runs
    once, when the wait is opened. If it raises, the wait is forgotten and the error is the
    attempt's (retried like any other). Past ``timeout_s`` the job fails with ``WaitTimedOut``,
    or, with ``on_timeout`` given, the call returns that value (the workflow's timeout branch).
    """
    seq = ctx.next_wait_seq()
    now = ctx.now()
    with ctx.engine.begin() as conn:
        wait = waits.get(conn, ctx.job_id, seq)
        if wait is None:
            token = secrets.token_urlsafe(32)
            secret = secrets.token_urlsafe(32) if signed else None
            deadline = now + dt.timedelta(seconds=timeout_s)
            cipher = _cipher(ctx).encrypt(secret.encode()).decode() if secret else None
            wait = waits.open_wait(
                conn, job_id=ctx.job_id, tenant_id=ctx.tenant_id, seq=seq, reason="callback",
                deadline=deadline, token=token, secret_ciphertext=cipher, now=now,
            )  # fmt: skip
            append_step(conn, ctx.job_id, f"waiting for callback {seq} until {deadline.isoformat(timespec='seconds')}"
                        + (" (signed)" if signed else ""), attempt=ctx.attempt, at=now)  # fmt: skip
            callback = Callback(ctx.settings.public_url.rstrip("/") + CALLBACK_PATH + token, deadline, secret)
        else:
            callback = None
    if callback is not None:
        if start is not None:
            try:
                start(callback)
            except BaseException:
                with ctx.engine.begin() as conn:
                    waits.discard(conn, wait.id)
                raise
        raise Suspend(wait.id, "callback")
    return _settled(ctx, wait, on_timeout, what=f"callback {seq}")


def require_approval(
    ctx: JobContext, summary: str, detail: dict[str, Any], *, timeout_s: float = APPROVAL_TIMEOUT_S
) -> dict[str, Any]:
    """Wait until EDITOR or above approves what the job is about to do; the decision when approved.

    ``summary`` (one line) and ``detail`` (what would be written) are shown in the dashboard's
    "Awaiting approval" list and on the job page. A rejection ends the job CANCELLED with the
    approver and their comment; no decision before ``timeout_s`` fails it (``WaitTimedOut``).
    """
    seq = ctx.next_wait_seq()
    now = ctx.now()
    with ctx.engine.begin() as conn:
        wait = waits.get(conn, ctx.job_id, seq)
        opened = wait is None
        if wait is None:
            deadline = now + dt.timedelta(seconds=timeout_s)
            wait = waits.open_wait(
                conn, job_id=ctx.job_id, tenant_id=ctx.tenant_id, seq=seq, reason="approval",
                deadline=deadline, detail={"summary": summary, **detail}, now=now,
            )  # fmt: skip
            append_step(conn, ctx.job_id, f"waiting for approval: {summary}", attempt=ctx.attempt, at=now)
    if opened:  # raised after the commit: the wait must be stored before the job is parked
        raise Suspend(wait.id, "approval")
    decision = _settled(ctx, wait, RAISE, what="the approval")
    if wait.outcome == "rejected" or not decision.get("approved"):
        comment = decision.get("comment") or "no comment"
        raise ApprovalRejected(f"approval rejected by {decision.get('by')}: {comment}")
    return dict(decision)


def _settled(ctx: JobContext, wait: waits.Wait, on_timeout: Any, *, what: str) -> Any:
    """The resolved wait's payload; re-suspend if it is still open; time it out past its deadline."""
    if wait.outcome is None:
        if wait.deadline_at > ctx.now():
            raise Suspend(wait.id, wait.reason)  # woken early (e.g. a retry): keep waiting
        with ctx.engine.begin() as conn:
            wait = waits.time_out(conn, wait.id, now=ctx.now())
    if wait.outcome == "timed_out":
        if not isinstance(on_timeout, _Raise):
            ctx.step(f"{what} did not come before {wait.deadline_at.isoformat(timespec='seconds')}: timeout branch",
                     kind="warning")  # fmt: skip
            return on_timeout
        raise WaitTimedOut(f"{what} did not come before its deadline {wait.deadline_at.isoformat(timespec='seconds')}")
    return wait.payload if wait.payload is not None else {}
