"""What every vendor emulator shares: fault injection, rate-limit budgets and the write log.

State is in memory, process-wide and guarded by one lock: the sandbox is a single process
(werkzeug, threaded). ``/_sandbox/*`` endpoints in :mod:`sandbox.app` drive it.

A vendor module installs the shared behaviour on its blueprint with :func:`install_controls`
and calls :func:`record_write` for every record it creates or changes, keyed by the request's
idempotency key (or a natural key), so the reliability suite can prove "no duplicate write".
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Response, g, request

from sandbox import errors

LOCK = threading.RLock()

FAULT_MODES = ("500", "503", "timeout", "429", "drop")


@dataclass
class Fault:
    """Fail the next ``count`` matching requests of one vendor the way ``mode`` says."""

    mode: str
    count: int
    path_contains: str | None = None
    delay_s: float = 5.0


@dataclass
class Budget:
    """A fixed-window request budget (``limit`` calls per ``window_s``) per key."""

    name: str
    limit: int
    window_s: float
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def take(self, key: str, now: float) -> tuple[bool, int, float]:
        """Spend one call; returns (allowed, remaining, seconds until the window resets)."""
        start, used = self.windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, used = now, 0
        reset_in = max(0.0, self.window_s - (now - start))
        if used >= self.limit:
            self.windows[key] = (start, used)
            return False, 0, reset_in
        self.windows[key] = (start, used + 1)
        return True, self.limit - used - 1, reset_in


_faults: dict[str, list[Fault]] = defaultdict(list)
_writes: dict[str, Counter[str]] = defaultdict(Counter)
_budgets: dict[str, list[Budget]] = {}
_default_budgets: dict[str, list[tuple[str, int, float]]] = {}


def reset() -> None:
    """Forget faults and writes; restore every vendor's default budgets."""
    with LOCK:
        _faults.clear()
        _writes.clear()
        _budgets.clear()
        for vendor, specs in _default_budgets.items():
            _budgets[vendor] = [Budget(name, limit, window) for name, limit, window in specs]


# -- faults ------------------------------------------------------------------------------------


def add_fault(
    vendor: str, mode: str, count: int = 1, *, path_contains: str | None = None, delay_s: float = 5.0
) -> None:
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {FAULT_MODES}")
    with LOCK:
        _faults[vendor].append(Fault(mode, count, path_contains, delay_s))


def take_fault(vendor: str, path: str) -> Fault | None:
    """The fault to apply to this request, if any (spending one of its count)."""
    with LOCK:
        for fault in _faults.get(vendor, []):
            if fault.count > 0 and (fault.path_contains is None or fault.path_contains in path):
                fault.count -= 1
                return fault
    return None


# -- budgets -----------------------------------------------------------------------------------


def set_default_budgets(vendor: str, specs: list[tuple[str, int, float]]) -> None:
    """Declare a vendor's budgets as (name, limit, window seconds); applied on reset."""
    with LOCK:
        _default_budgets[vendor] = specs
        _budgets[vendor] = [Budget(name, limit, window) for name, limit, window in specs]


def set_budget(vendor: str, name: str, limit: int, window_s: float | None = None) -> None:
    with LOCK:
        for budget in _budgets.get(vendor, []):
            if budget.name == name:
                budget.limit = limit
                if window_s is not None:
                    budget.window_s = window_s
                budget.windows.clear()
                return
        _budgets.setdefault(vendor, []).append(Budget(name, limit, window_s or 60.0))


def spend(vendor: str, key: str) -> dict[str, tuple[bool, int, float]]:
    """Spend one call of every budget of ``vendor`` for ``key`` (e.g. the tenant).

    Returns ``{budget name: (allowed, remaining, reset_in)}``. A refused call is not charged
    to the other budgets' windows beyond the one that refused it.
    """
    now = time.monotonic()
    with LOCK:
        return {b.name: b.take(key, now) for b in _budgets.get(vendor, [])}


# -- writes ------------------------------------------------------------------------------------


def record_write(vendor: str, key: str) -> None:
    """Count one external write (a record created or changed) under ``key``."""
    with LOCK:
        _writes[vendor][key] += 1


def writes() -> dict[str, dict[str, int]]:
    with LOCK:
        return {vendor: dict(counter) for vendor, counter in _writes.items()}


# -- the blueprint hook ------------------------------------------------------------------------

RateLimitResponder = Callable[[], "Response | None"]


def install_controls(blueprint: Blueprint, vendor: str, rate_limit: RateLimitResponder | None = None) -> None:
    """Apply injected faults (and the vendor's rate limiting) before each of its requests.

    ``rate_limit`` is the vendor's own check: it returns a 429 response when a budget is
    spent (with that vendor's headers), else ``None``.
    """

    @blueprint.before_request
    def _controls() -> Response | None:
        fault = take_fault(vendor, request.path)
        if fault is not None:
            if fault.mode == "timeout":
                time.sleep(fault.delay_s)
                return Response("", status=504)
            if fault.mode == "drop":
                # The request is processed, but its answer is lost (see _drop below).
                g.sandbox_drop = True
                return None
            # Injected answers take the vendor's own error shape, like its real 429s and 5xx.
            answer = errors.answer_for(request.path)
            if fault.mode == "429":
                response = answer(429, "rate limited (injected)")
                response.headers["Retry-After"] = "1"
                return response
            return answer(int(fault.mode), "injected fault")
        if rate_limit is not None:
            return rate_limit()
        return None

    @blueprint.after_request
    def _drop(response: Response) -> Response:
        if g.get("sandbox_drop"):
            return Response('{"message":"answer lost (injected)"}', status=502, mimetype="application/json")
        return response
