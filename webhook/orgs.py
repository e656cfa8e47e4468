"""Which tenant a vendor org belongs to, cached per worker for a few seconds.

Every delivery names its org; looking it up (connection, tenant, switched-off workflows) is a
query per request that nearly always returns what it returned a moment ago. Each worker keeps
the answers — unknown orgs included — for ``TTL_S`` seconds: a connection made, removed or a
workflow switched off takes effect within that time on every worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from db import intake

TTL_S = 2.0
MAX_ENTRIES = 10_000  # many distinct (spoofed) org ids cannot grow a worker's memory


class OrgCache:
    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()  # gthread workers share one app
        self._entries: dict[tuple[str, str], tuple[float, intake.OrgTenant | None]] = {}

    def resolve(
        self, session: Callable[[], Session], system: str, org_ids: Iterable[str], workflows: Iterable[str]
    ) -> dict[str, intake.OrgTenant]:
        """``org -> OrgTenant`` for the orgs with a live connection, from the cache or one query."""
        wanted = set(org_ids)
        now = self.clock()
        found: dict[str, intake.OrgTenant | None] = {}
        with self._lock:
            for org in wanted:
                entry = self._entries.get((system, org))
                if entry is not None and entry[0] > now:
                    found[org] = entry[1]
        missing = wanted - found.keys()
        if missing:
            fresh = intake.resolve_orgs(session(), system, missing, workflows)
            expires = now + self.ttl_s
            with self._lock:
                if len(self._entries) > MAX_ENTRIES:
                    self._entries.clear()
                for org in missing:
                    found[org] = fresh.get(org)
                    self._entries[(system, org)] = (expires, found[org])
        return {org: owner for org, owner in found.items() if owner is not None}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
