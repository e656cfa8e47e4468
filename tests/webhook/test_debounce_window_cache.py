"""The listener's debounce windows: read once per worker for a few seconds, then again."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import Tenant, WorkflowSetting
from webhook.debounce import TTL_S, WindowCache


def test_a_saved_window_is_seen_once_the_cached_one_expires(session: Session) -> None:
    tenant = Tenant(name="acme")
    session.add(tenant)
    session.commit()
    clock = [100.0]
    cache = WindowCache(clock=lambda: clock[0])
    pair = (tenant.id, "xero-invoice-paid")
    assert cache.windows(session, [pair]) == {pair: 3.0}  # the catalogue's default
    session.add(WorkflowSetting(tenant_id=tenant.id, workflow="xero-invoice-paid", options={"debounce_s": 0}))
    session.commit()
    clock[0] += TTL_S - 0.1
    assert cache.windows(session, [pair]) == {pair: 3.0}  # still the cached answer
    clock[0] += 0.2
    assert cache.windows(session, [pair]) == {pair: 0.0}  # the saved option, on every worker within TTL_S
    assert cache.windows(session, [(tenant.id, "noop")]) == {(tenant.id, "noop"): 0.0}  # no such option
