"""The runner's quota gauges, per connection and limit, read from the shared ledger."""

from __future__ import annotations

import datetime as dt

from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from db import quota
from integrations.xero import XERO
from sync.quota_metrics import refresh_quota_metrics


def test_the_runner_exports_each_connections_quota(engine: Engine) -> None:
    now = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('M') RETURNING id")).scalar_one()
        cid = conn.execute(
            text("INSERT INTO connections (tenant_id, system) VALUES (:t, 'xero') RETURNING id"), {"t": tenant}
        ).scalar_one()
        quota.set_override(conn, cid, "day", 2, by="test")
        for _ in range(2):
            charges = [quota.Charge(f"conn:{cid}", XERO.limit("day"), 2)]
            assert quota.acquire(conn, charges, holder="t", lease_s=1, now=now).ok
    assert refresh_quota_metrics(engine, now) == 4  # Xero's four limits
    labels = {"system": "xero", "connection": str(cid), "limit": "day"}
    assert REGISTRY.get_sample_value("zixly_quota_used", labels) == 2
    assert REGISTRY.get_sample_value("zixly_quota_limit", labels) == 2
    assert REGISTRY.get_sample_value("zixly_quota_exhausted_seconds", labels) == 3600  # until 00:00 UTC
    minute = {**labels, "limit": "minute"}
    assert REGISTRY.get_sample_value("zixly_quota_limit", minute) == 60
    assert REGISTRY.get_sample_value("zixly_quota_exhausted_seconds", minute) == 0
