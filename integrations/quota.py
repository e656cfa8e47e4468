"""The quota governor: every vendor call of a connection goes through its documented limits.

Each vendor record declares its limits (``Vendor.limits``: :class:`db.quota.Limit`); a tenant
may lower them per connection (``connection_quotas``, set on the Clients board). Before each
call :class:`Governor` charges the database ledger (:mod:`db.quota`), which every runner
shares: a call that fits goes at once, one that would exceed waits for its window, and one
that would wait past the job's deadline or longer than ``max_wait_s`` raises
:class:`~integrations.http.QuotaExhausted` — the runner then requeues the job for the
window's opening without spending an attempt (``sync/execute.py``).

Shopify's GraphQL limit is a cost bucket refilled at a rate: a call is charged what the previous
query was estimated to cost (``extensions.cost.requestedQueryCost``), corrected to
``actualQueryCost`` once the answer says so, and never counted below what the answer's
``throttleStatus`` says is spent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy import Engine

from db import quota
from db.quota import Charge, Limit
from integrations.http import QuotaExhausted
from integrations.metrics import integration_quota_waits_total

log = logging.getLogger("zixly.quota")

# What a Shopify query is assumed to cost before any answer said (its documented single-query
# maximum is 1,000 points; the order queries cost tens).
DEFAULT_QUERY_COST = 50


def connection_key(connection_id: int) -> str:
    return f"conn:{connection_id}"


def app_key(system: str) -> str:
    return f"app:{system}"


def key_for(limit: Limit, system: str, connection_id: int) -> str:
    return app_key(system) if limit.app_wide else connection_key(connection_id)


def effective(limit: Limit, overrides: dict[str, int]) -> int:
    """The calls allowed: the vendor's number, or the tenant's own (lower, or up to a plan's ceiling)."""
    own = overrides.get(limit.name)
    if own is None or limit.app_wide:
        return limit.calls
    return min(own, limit.ceiling or limit.calls)


def scaled(limits: Sequence[Limit], factor: float) -> tuple[Limit, ...]:
    """The limits with their rolling windows shortened by ``factor`` (``ZIXLY_QUOTA_TIME_SCALE``)."""
    if factor == 1:
        return tuple(limits)
    return tuple(
        lim
        if lim.calendar or lim.concurrent
        else replace(lim, per_s=lim.per_s * factor, refill_per_s=lim.refill_per_s / factor)
        for lim in limits
    )


def applies(limit: Limit, path_template: str) -> bool:
    return not limit.paths or any(p in path_template for p in limit.paths)


@dataclass
class Ticket:
    """One admitted call: the leases to give back and the cost charges to correct."""

    lease_ids: list[int]
    cost_charges: list[tuple[str, Limit, int]] = field(default_factory=list)


class Governor:
    """One connection's limits for one job's client (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        system: str,
        connection_id: int,
        limits: Sequence[Limit],
        holder: str,
        max_wait_s: float,
        lease_s: float = 60.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.engine = engine
        self.system = system
        self.connection_id = connection_id
        self.limits = tuple(limits)
        self.holder = holder
        self.max_wait_s = max_wait_s
        self.lease_s = lease_s
        self.clock = clock
        self.query_cost = DEFAULT_QUERY_COST
        self.admitted = 0  # calls this client was let through (this job attempt's progress)
        self._overrides: dict[str, int] | None = None

    def charges(self, path_template: str) -> list[Charge]:
        if self._overrides is None:
            with self.engine.connect() as conn:
                self._overrides = quota.overrides(conn, self.connection_id)
        return [
            Charge(
                key_for(limit, self.system, self.connection_id),
                limit,
                effective(limit, self._overrides),
                # A query's estimate never exceeds the bucket (Shopify refuses such a query itself).
                cost=min(self.query_cost, effective(limit, self._overrides)) if limit.unit == "points" else 1,
            )
            for limit in self.limits
            if applies(limit, path_template)
        ]

    def try_acquire(self, path_template: str) -> Ticket | quota.Grant:
        """A :class:`Ticket` when the call may go now; else the refusal (``until``, ``blocked_by``)."""
        charges = self.charges(path_template)
        if not charges:
            return Ticket([])
        with self.engine.connect() as conn:
            tx = conn.begin()
            grant = quota.acquire(conn, charges, holder=self.holder, lease_s=self.lease_s, now=self.clock())
            if not grant.ok:
                tx.rollback()
                return grant
            tx.commit()
        return Ticket(grant.lease_ids, [(c.key, c.limit, c.cost) for c in charges if c.limit.bucket])

    def admit(self, path_template: str, *, fits: Callable[[float], bool], sleep: Callable[[float], None]) -> Ticket:
        """Wait for room (through ``sleep``), or raise QuotaExhausted when the wait is too long."""
        while True:
            got = self.try_acquire(path_template)
            if isinstance(got, Ticket):
                self.admitted += 1
                return got
            assert got.until is not None
            wait_s = max(0.0, (got.until - self.clock()).total_seconds())
            integration_quota_waits_total.labels(self.system, str(self.connection_id), got.blocked_by or "").inc()
            # Once a call of this attempt went out, starting over would spend it again (and a job
            # needing more than one window's budget would never finish): wait, within the deadline.
            if (wait_s > self.max_wait_s and not self.admitted) or not fits(wait_s):
                until = self._place_in_line(path_template, got)
                raise QuotaExhausted(
                    f"{self.system} {got.blocked_by} limit of connection {self.connection_id} is spent "
                    f"until {until:%Y-%m-%d %H:%M:%S} UTC",
                    system=self.system,
                    until=until,
                    limit=got.blocked_by or "",
                )
            sleep(wait_s)

    def _place_in_line(self, path_template: str, refused: quota.Grant) -> dt.datetime:
        """The time the job comes back: its turn behind the calls already waiting for the full limit."""
        assert refused.until is not None
        charge = next((c for c in self.charges(path_template) if c.limit.name == refused.blocked_by), None)
        if charge is None:
            return refused.until
        with self.engine.begin() as conn:
            return quota.take_place_in_line(conn, charge, refused.until, now=self.clock())

    def done(self, ticket: Ticket, response: httpx.Response | None) -> None:
        """After the call: free its concurrency slots and correct cost charges."""
        actual = _actual_cost(response) if ticket.cost_charges else None
        if not ticket.lease_ids and actual is None:
            return
        with self.engine.begin() as conn:
            quota.release(conn, ticket.lease_ids)
            if actual is not None:
                requested, spent, vendor_level = actual
                for key, limit, charged in ticket.cost_charges:
                    quota.settle_bucket(conn, key, limit, spent - charged, vendor_level, now=self.clock())
                self.query_cost = max(1, requested)


def _actual_cost(response: httpx.Response | None) -> tuple[int, int, float | None] | None:
    """(requested, actual, spent per the vendor) from a GraphQL answer's ``extensions.cost``."""
    if response is None or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body: Any = response.json()
        cost = body["extensions"]["cost"]
        requested = int(cost["requestedQueryCost"])
        actual = cost.get("actualQueryCost")
        throttle = cost.get("throttleStatus") or {}
        spent = None
        if "maximumAvailable" in throttle and "currentlyAvailable" in throttle:
            spent = float(throttle["maximumAvailable"]) - float(throttle["currentlyAvailable"])
        # A throttled query (no actual cost) spent nothing.
        return requested, int(actual) if actual is not None else 0, spent
    except (ValueError, KeyError, TypeError):
        return None
