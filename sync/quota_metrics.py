"""The quota ledger as Prometheus gauges, per connection and limit (one runner tick)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from db.engine import make_session_factory
from integrations.quota_view import connection_quotas
from sync import metrics

QUOTA_METRICS_EVERY_S = 15.0


def refresh_quota_metrics(engine: Engine, now: dt.datetime) -> int:
    """Set the gauges from the database (every runner reads the same ledger); the series set."""
    with make_session_factory(engine)() as session:
        quotas = connection_quotas(session, now=now)
    n = 0
    for q in quotas:
        for u in q.usages:
            labels = (q.system, str(q.connection_id), u.limit.name)
            metrics.QUOTA_USED.labels(*labels).set(u.used)
            metrics.QUOTA_LIMIT.labels(*labels).set(u.allowed)
            left = (u.exhausted_until - now).total_seconds() if u.exhausted_until else 0.0
            metrics.QUOTA_EXHAUSTED_SECONDS.labels(*labels).set(max(0.0, left))
            n += 1
    return n
