"""Each event-started job's debounce window: the tenant's ``debounce_s`` option, else the default.

Read like the org lookup (webhook/orgs.py): each worker keeps the windows of the (tenant,
workflow) pairs it met for ``TTL_S`` seconds, so a delivery costs no query for them and an option
saved on the dashboard applies within that time on every worker. (Read per delivery, the window
was one more round trip and query compilation on the listener's hot path: measured in
docs/benchmarks.md, "Webhook listener".)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from db.jobs import JobSpec
from db.jobs.debounce import Event, stored_windows
from jobtypes import BY_NAME

TTL_S = 2.0
MAX_ENTRIES = 10_000


def default_window(workflow: str) -> float:
    """The catalogue's default for ``workflow`` (0 for a job type without the option)."""
    entry = BY_NAME.get(workflow)
    field = entry.options.model_fields.get("debounce_s") if entry and entry.options else None
    return float(field.default) if field is not None else 0.0


class WindowCache:
    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()  # the worker's app threads share one cache
        self._entries: dict[tuple[int, str], tuple[float, float]] = {}

    def windows(self, session: Session, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], float]:
        """``(tenant, workflow) -> window`` for every pair, from the cache or one query."""
        now = self.clock()
        found: dict[tuple[int, str], float] = {}
        with self._lock:
            for pair in set(pairs):
                entry = self._entries.get(pair)
                if entry is not None and entry[0] > now:
                    found[pair] = entry[1]
        missing = sorted(set(pairs) - found.keys())
        if missing:
            stored = stored_windows(session, missing)
            fresh = {pair: stored.get(pair, default_window(pair[1])) for pair in missing}
            with self._lock:
                if len(self._entries) > MAX_ENTRIES:
                    self._entries.clear()
                for pair, window in fresh.items():
                    self._entries[pair] = (now + self.ttl_s, window)
            found.update(fresh)
        return found


def events(session: Session, cache: WindowCache, specs: Sequence[JobSpec], labels: Sequence[str]) -> list[Event]:
    """The specs as debounce events (``labels``: what each came from, for the absorbing job's log)."""
    keyed = [(s.tenant_id, s.job_type) for s in specs if s.concurrency_key is not None]
    windows = cache.windows(session, keyed) if keyed else {}
    return [
        Event(spec, windows.get((spec.tenant_id, spec.job_type), 0.0), label)
        for spec, label in zip(specs, labels, strict=True)
    ]
