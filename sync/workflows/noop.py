"""``noop``: does nothing, on purpose — for tests, benchmarks and smoke checks.

``sleep_ms`` sleeps (waking for cancellation and the deadline), ``fail_times`` fails the
first N attempts, ``permanent`` makes those failures permanent, ``note`` leaves one step per
execution (a countable effect), ``poll_times`` asks to be polled again N times.
"""

from __future__ import annotations

from typing import Any

from jobtypes import NOOP
from sync.context import JobContext
from sync.errors import PermanentJobError, TransientJobError
from sync.workflows import register


@register(NOOP)
def noop(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Does nothing (tests and benchmarks)."""
    if params["note"]:
        ctx.step(f"noop ran (attempt {ctx.attempt})")
    if params["sleep_ms"]:
        ctx.sleep(params["sleep_ms"] / 1000)
    if ctx.attempt <= params["fail_times"]:
        error = PermanentJobError if params["permanent"] else TransientJobError
        raise error(f"noop failure {ctx.attempt} of {params['fail_times']}")
    if ctx.polls < params["poll_times"]:
        ctx.poll_again(params["poll_after_s"])
    return {"ok": True, "attempt": ctx.attempt, "polls": ctx.polls}
