"""The quota governor's ledger: calls per window and calls in flight, shared by every runner.

A vendor call first charges every limit it falls under (:func:`acquire`), in one transaction:

- a **rate limit** (``calls`` per ``per_s``) adds the call to ``quota_usage`` under its key
  (``conn:<id>``, or ``app:<system>`` for an app-wide limit), limit name and window start, and
  sums the windows in force. *Calendar* limits (a day from 00:00 UTC) count one fixed window.
  *Rolling* limits count every bucket of ``per_s / 60`` that overlaps the last ``per_s`` plus a
  margin, so no span of ``per_s`` seconds — whatever second the vendor's own window starts on
  ("reset at different times for each tenant", Xero) — sees more than ``calls``;
- a **concurrency limit** (``per_s == 0``) inserts a ``quota_leases`` row that lapses at
  ``expires_at``: a runner killed mid-call gives its slot back when the lease runs out.

When one limit is full the caller rolls the transaction back (nothing is charged) and
:class:`Grant` says until when. Writes come first in the transaction — SQLite then takes its
single write lock at once and runners queue on it — and on PostgreSQL a transaction-scoped
advisory lock per key makes concurrent runners charge one key one at a time (keys in order:
no deadlock), so the sum each one reads includes every charge committed before it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text

from db.jobs._sql import Executor, dialect, read_ts, ts, utcnow

# The advisory-lock namespace of quota keys (first argument of pg_advisory_xact_lock).
ADVISORY_NS = 7_001_017
# A blocked concurrency limit is tried again this soon: a vendor call usually ends in less.
CONCURRENCY_RETRY_S = 0.2


@dataclass(frozen=True)
class Limit:
    """One documented vendor limit. ``calls`` per ``per_s`` seconds, or in flight when ``per_s`` is 0."""

    name: str
    calls: int
    per_s: float = 0.0
    calendar: bool = False  # fixed windows on the UTC clock (a day from 00:00 UTC); else rolling
    app_wide: bool = False  # one budget for every connection of the app (Xero: 10,000/minute)
    paths: tuple[str, ...] = ()  # only calls whose path template contains one of these (HubSpot search)
    unit: str = "calls"  # "points" for a cost bucket (Shopify GraphQL)
    ceiling: int | None = None  # a higher plan's number a tenant may set (Asana's paid domains)
    refill_per_s: float = 0.0  # > 0: a bucket of ``calls`` refilled at this rate (Shopify's cost bucket)
    source: str = ""  # where the number is documented

    @property
    def concurrent(self) -> bool:
        return self.per_s == 0 and not self.refill_per_s

    @property
    def bucket(self) -> bool:
        return self.refill_per_s > 0

    @property
    def bucket_s(self) -> float:
        return self.per_s if self.calendar else max(self.per_s / 60.0, 0.05)

    @property
    def margin_s(self) -> float:
        """Slack for the time between our grant and the vendor's count (network, scheduling)."""
        return 0.0 if self.calendar else min(1.0, self.per_s * 0.1)

    def describe(self) -> str:
        if self.concurrent:
            return f"{self.calls:,} concurrent"
        if self.bucket:
            return f"{self.calls:,} {self.unit}, refilled at {self.refill_per_s:g}/s"
        span = {1: "second", 60: "minute", 86400: "day"}.get(int(self.per_s), f"{self.per_s:g} s")
        return f"{self.calls:,} {self.unit}/{span}"


@dataclass(frozen=True)
class Charge:
    """One limit a call falls under: its key, the limit, the calls allowed (after overrides), the cost."""

    key: str
    limit: Limit
    allowed: int
    cost: int = 1


@dataclass
class Grant:
    """What :func:`acquire` decided. ``ok``: go (and release ``lease_ids`` after the call);
    otherwise roll back and try again at ``until`` (``blocked_by`` names the full limit)."""

    ok: bool
    until: dt.datetime | None = None
    blocked_by: str | None = None
    lease_ids: list[int] = field(default_factory=list)
    windows: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)


def window_start(limit: Limit, now: dt.datetime) -> dt.datetime:
    """The start of the window (or rolling bucket) ``now`` falls in, on the UTC clock."""
    step = limit.bucket_s
    epoch = now.timestamp()
    return dt.datetime.fromtimestamp(math.floor(epoch / step) * step, dt.UTC)


def _life(limit: Limit) -> dt.timedelta:
    """How long after its start a rolling bucket still counts."""
    return dt.timedelta(seconds=limit.per_s + limit.margin_s + limit.bucket_s)


def _since(limit: Limit, now: dt.datetime) -> dt.datetime:
    """Windows starting after this instant count at ``now``."""
    if limit.calendar:
        return window_start(limit, now) - dt.timedelta(microseconds=1)
    return now - _life(limit)


_UPSERT = text(
    "INSERT INTO quota_usage (key, limit_name, window_start, used) VALUES (:key, :name, :start, :cost) "
    "ON CONFLICT (key, limit_name, window_start) DO UPDATE SET used = quota_usage.used + excluded.used"
)
_WINDOWS = text(
    "SELECT window_start, used FROM quota_usage WHERE key = :key AND limit_name = :name "
    "AND window_start > :since ORDER BY window_start"
)
_PRUNE = text("DELETE FROM quota_usage WHERE key = :key AND limit_name = :name AND window_start < :before")
_LEASE = text(
    "INSERT INTO quota_leases (key, limit_name, holder, expires_at) VALUES (:key, :name, :holder, :until) RETURNING id"
)
_LAPSED = text("DELETE FROM quota_leases WHERE key = :key AND limit_name = :name AND expires_at <= :now")
_IN_FLIGHT = text(
    "SELECT count(*), min(expires_at) FROM quota_leases WHERE key = :key AND limit_name = :name AND expires_at > :now"
)


def acquire(
    ex: Executor, charges: Sequence[Charge], *, holder: str, lease_s: float, now: dt.datetime | None = None
) -> Grant:
    """Charge every limit of one call. The caller commits when ``ok`` and rolls back otherwise."""
    now = now or utcnow()
    name = dialect(ex)
    if name == "postgresql":
        for key in sorted({c.key for c in charges}):
            ex.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"), {"ns": ADVISORY_NS, "key": key})
    grant = Grant(ok=True)
    # Writes first (SQLite: the write lock is taken before anything is read).
    for c in charges:
        p = {"key": c.key, "name": c.limit.name}
        if c.limit.concurrent:
            ex.execute(_LAPSED, {**p, "now": ts(now, name)})
            expires = now + dt.timedelta(seconds=lease_s)
            lease = ex.execute(_LEASE, {**p, "holder": holder, "until": ts(expires, name)}).scalar_one()
            grant.lease_ids.append(int(lease))
        elif c.limit.bucket:
            _fill(ex, c.key, c.limit, now, c.cost, name)
        else:
            start = window_start(c.limit, now)
            grant.windows[(c.key, c.limit.name)] = start
            ex.execute(_UPSERT, {**p, "start": ts(start, name), "cost": c.cost})
    for c in charges:
        until = _blocked_until(ex, c, now, name)
        if until is not None:
            return Grant(ok=False, until=until, blocked_by=c.limit.name)
    for c in charges:
        if not c.limit.concurrent and not c.limit.bucket:
            before = _since(c.limit, now) - dt.timedelta(seconds=c.limit.per_s)
            ex.execute(_PRUNE, {"key": c.key, "name": c.limit.name, "before": ts(before, name)})
    return grant


def _blocked_until(ex: Executor, c: Charge, now: dt.datetime, name: str) -> dt.datetime | None:
    """None when this charge fits its limit; otherwise the earliest time it could."""
    p = {"key": c.key, "name": c.limit.name}
    if c.limit.concurrent:
        count, soonest = ex.execute(_IN_FLIGHT, {**p, "now": ts(now, name)}).one()
        if int(count) <= c.allowed:
            return None
        retry = now + dt.timedelta(seconds=CONCURRENCY_RETRY_S)
        lapse = read_ts(soonest)
        return min(retry, lapse) if lapse is not None else retry
    if c.limit.bucket:
        level = _level(ex, c.key, c.limit, now, name)
        if level <= c.allowed:
            return None
        return now + dt.timedelta(seconds=(level - c.allowed) / c.limit.refill_per_s)
    since = _since(c.limit, now)
    rows = [(read_ts(r[0]), int(r[1])) for r in ex.execute(_WINDOWS, {**p, "since": ts(since, name)})]
    total = sum(u for _, u in rows)
    if total <= c.allowed:
        return None
    if c.limit.calendar:
        return window_start(c.limit, now) + dt.timedelta(seconds=c.limit.per_s)
    # The call fits once enough of the oldest buckets have left the counted span.
    life = _life(c.limit)
    for start, used in rows:
        total -= used
        if total <= c.allowed and start is not None:
            return start + life
    return now + life


# -- a bucket refilled at a rate (Shopify's GraphQL cost): one row per key, the level at its time --

_TAKE_LEVEL = text("DELETE FROM quota_usage WHERE key = :key AND limit_name = :name RETURNING window_start, used")
_LEVEL = text("SELECT window_start, used FROM quota_usage WHERE key = :key AND limit_name = :name")


def _drained(rows: Sequence[Sequence[object]], limit: Limit, now: dt.datetime) -> float:
    """The bucket's level at ``now``: what was spent, less what has been refilled since."""
    level = 0.0
    for start, used in rows:
        at = read_ts(start) or now
        level = max(level, float(str(used)) - limit.refill_per_s * max(0.0, (now - at).total_seconds()))
    return max(0.0, level)


def _fill(ex: Executor, key: str, limit: Limit, now: dt.datetime, cost: float, name: str) -> None:
    """Replace the bucket's row by its level at ``now`` plus ``cost`` (a write first, for SQLite)."""
    level = _drained(ex.execute(_TAKE_LEVEL, {"key": key, "name": limit.name}).all(), limit, now) + cost
    ex.execute(_UPSERT, {"key": key, "name": limit.name, "start": ts(now, name), "cost": math.ceil(max(0.0, level))})


def _level(ex: Executor, key: str, limit: Limit, now: dt.datetime, name: str) -> float:
    return _drained(ex.execute(_LEVEL, {"key": key, "name": limit.name}).all(), limit, now)


def settle_bucket(
    ex: Executor, key: str, limit: Limit, delta: float, vendor_level: float | None, now: dt.datetime | None = None
) -> None:
    """After a call: correct its estimate by ``delta`` and never count less than the vendor says
    is spent (``maximumAvailable - currentlyAvailable`` of Shopify's ``throttleStatus``)."""
    now = now or utcnow()
    name = dialect(ex)
    level = _drained(ex.execute(_TAKE_LEVEL, {"key": key, "name": limit.name}).all(), limit, now) + delta
    level = max(level, vendor_level or 0.0)
    ex.execute(_UPSERT, {"key": key, "name": limit.name, "start": ts(now, name), "cost": math.ceil(max(0.0, level))})


WAITING = "~wait"  # suffix of the limit name under which calls waiting in line are counted


def take_place_in_line(ex: Executor, charge: Charge, until: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """A refused call that will come back later (its job requeued): when its turn comes.

    Calls already waiting in line for this rolling limit (each counted under ``<limit>~wait`` at
    the time it was given) take the room that opens first, in order, so a long queue is given
    one time each — ``allowed`` per window — instead of all coming back at the first opening.
    The place is kept in the ledger (the caller commits); once its time has passed it no longer
    counts, so a job that never comes back holds nobody up. Calendar and concurrency limits
    have no line: ``until`` is returned as is.
    """
    limit = charge.limit
    if limit.calendar or limit.concurrent or limit.bucket:
        return until
    now = now or utcnow()
    name = dialect(ex)
    if name == "postgresql":
        ex.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"), {"ns": ADVISORY_NS, "key": charge.key})
    life = _life(limit)
    # A write first (SQLite: a transaction that reads first cannot take the write lock later).
    ex.execute(_PRUNE, {"key": charge.key, "name": limit.name + WAITING, "before": ts(now - life, name)})
    # Every call counted now, and every place in line still to come (a place whose time has
    # passed became a call, or was given up), at the bucket it is (or will be) charged to.
    calls: list[dt.datetime] = []
    for label, since in (
        (limit.name, now - life),
        (limit.name + WAITING, window_start(limit, now) - dt.timedelta(microseconds=1)),
    ):
        for start, used in ex.execute(_WINDOWS, {"key": charge.key, "name": label, "since": ts(since, name)}):
            calls += [read_ts(start) or now] * int(used)
    calls.sort()
    turn = max(now, until)
    if len(calls) >= charge.allowed:
        # Room for one more once the allowed-th latest call has left the counted span.
        turn = max(turn, calls[len(calls) - charge.allowed] + life)
    ex.execute(_UPSERT, {"key": charge.key, "name": limit.name + WAITING, "start": ts(window_start(limit, turn), name),
                         "cost": charge.cost})  # fmt: skip
    return turn


def release(ex: Executor, lease_ids: Sequence[int]) -> None:
    """End the calls in flight (their concurrency slots are free again)."""
    if lease_ids:
        ex.execute(
            text("DELETE FROM quota_leases WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": list(lease_ids)},
        )


def adjust(ex: Executor, key: str, limit_name: str, start: dt.datetime, delta: int) -> None:
    """Correct a charge once the real cost is known (Shopify's ``actualQueryCost``)."""
    ex.execute(
        text(
            "UPDATE quota_usage SET used = CASE WHEN used + :delta < 0 THEN 0 ELSE used + :delta END "
            "WHERE key = :key AND limit_name = :name AND window_start = :start"
        ),
        {"delta": delta, "key": key, "name": limit_name, "start": ts(start, dialect(ex))},
    )


@dataclass(frozen=True)
class Usage:
    """A limit as staff see it: used of allowed in the window in force, full until when."""

    limit: Limit
    used: int
    allowed: int
    exhausted_until: dt.datetime | None


def usage(ex: Executor, key: str, limit: Limit, allowed: int, now: dt.datetime | None = None) -> Usage:
    """How much of ``limit`` the key has spent now (calls in flight for a concurrency limit)."""
    now = now or utcnow()
    name = dialect(ex)
    p = {"key": key, "name": limit.name, "now": ts(now, name)}
    if limit.concurrent:
        used = int(ex.execute(_IN_FLIGHT, p).one()[0])
    elif limit.bucket:
        used = math.ceil(_level(ex, key, limit, now, name))
    else:
        since = _since(limit, now)
        rows = ex.execute(_WINDOWS, {**p, "since": ts(since, name)}).all()
        used = sum(int(r[1]) for r in rows)
    until = _blocked_until(ex, Charge(key, limit, allowed - 1, 0), now, name) if used >= allowed else None
    return Usage(limit, used, allowed, until)


# -- overrides: a tenant's own lower limits ------------------------------------------------------


def overrides(ex: Executor, connection_id: int) -> dict[str, int]:
    rows = ex.execute(
        text("SELECT limit_name, calls FROM connection_quotas WHERE connection_id = :id"), {"id": connection_id}
    )
    return {str(r[0]): int(r[1]) for r in rows}


def set_override(ex: Executor, connection_id: int, limit_name: str, calls: int | None, *, by: str) -> None:
    """Set (or with ``None`` remove) the connection's own limit; the caller audits and commits."""
    ex.execute(
        text("DELETE FROM connection_quotas WHERE connection_id = :id AND limit_name = :name"),
        {"id": connection_id, "name": limit_name},
    )
    if calls is not None:
        ex.execute(
            text(
                "INSERT INTO connection_quotas (connection_id, limit_name, calls, updated_by, updated_at) "
                "VALUES (:id, :name, :calls, :by, :now)"
            ),
            {"id": connection_id, "name": limit_name, "calls": calls, "by": by, "now": ts(utcnow(), dialect(ex))},
        )
