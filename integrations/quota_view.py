"""What staff see of the quota governor: each connection's limits, spent and full-until.

The Clients board shows one line per connection (``quota: 4,210 / 5,000 today; exhausted until
00:00 UTC``), the Connections page each limit with the tenant's own, and the runner exports the
same numbers as Prometheus gauges.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import quota
from db.models import Connection
from db.quota import Limit, Usage
from integrations.quota import effective, key_for
from integrations.registry import UnknownVendor, vendor


@dataclass(frozen=True)
class ConnectionQuota:
    connection_id: int
    tenant_id: int
    system: str
    usages: tuple[Usage, ...]
    own: dict[str, int]  # the tenant's own limits, by limit name


def _span(limit: Limit) -> str:
    if limit.calendar and limit.per_s == 86400:
        return "today"
    return {1: "this second", 60: "this minute"}.get(int(limit.per_s), f"in {limit.per_s:g} s")


def _at(when: dt.datetime, now: dt.datetime) -> str:
    """The clock time within the next 24 hours (the daily window opens at 00:00 UTC); else the date too."""
    if when - now < dt.timedelta(hours=24):
        return f"{when:%H:%M:%S} UTC" if when - now < dt.timedelta(minutes=1) else f"{when:%H:%M} UTC"
    return f"{when:%Y-%m-%d %H:%M} UTC"


def line(usages: Sequence[Usage], now: dt.datetime) -> str:
    """The board's text: rate limits (calendar first), and when a spent one opens again."""
    shown = sorted((u for u in usages if not u.limit.concurrent and not u.limit.app_wide), key=lambda u: -u.limit.per_s)
    if not shown:
        return "—"
    parts = [f"{u.used:,} / {u.allowed:,} {_span(u.limit)}" for u in shown]
    text = "quota: " + " · ".join(parts)
    spent = [u.exhausted_until for u in shown if u.exhausted_until is not None]
    if spent:
        text += f"; exhausted until {_at(max(spent), now)}"
    return text


def connection_quotas(
    session: Session, tenant_ids: Sequence[int] = (), now: dt.datetime | None = None
) -> list[ConnectionQuota]:
    """Every connection's limits and usage (of the given tenants; all when empty)."""
    now = now or dt.datetime.now(dt.UTC)
    query = select(Connection.id, Connection.tenant_id, Connection.system).order_by(Connection.id)
    if tenant_ids:
        query = query.where(Connection.tenant_id.in_(tenant_ids))
    out = []
    for connection_id, tenant_id, system in session.execute(query):
        try:
            limits = vendor(system).limits
        except UnknownVendor:
            continue
        own = quota.overrides(session, connection_id)
        usages = tuple(
            quota.usage(session, key_for(lim, system, connection_id), lim, effective(lim, own), now=now)
            for lim in limits
        )
        out.append(ConnectionQuota(connection_id, tenant_id, system, usages, own))
    return out


def board_lines(
    session: Session, tenant_ids: Sequence[int] = (), now: dt.datetime | None = None
) -> dict[tuple[int, str], str]:
    """``{(tenant id, system): board text}``."""
    now = now or dt.datetime.now(dt.UTC)
    return {(q.tenant_id, q.system): line(q.usages, now) for q in connection_quotas(session, tenant_ids, now)}
