"""The governor in the shared HTTP client, on SQLite and PostgreSQL (vendor answers from MockTransport)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from db import quota
from db.quota import Limit
from integrations.http import ApiClient, QuotaExhausted
from integrations.quota import Governor, connection_key
from integrations.registry import vendors

T0 = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC)


class Clock:
    """Wall time the test controls: the client's sleep moves it forward."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def client(engine: Engine, clock: Clock, limits: tuple[Limit, ...], *, max_wait_s: float = 120.0,
           connection_id: int = 1, answer: Any = None) -> tuple[ApiClient, list[dt.datetime]]:  # fmt: skip
    sent: list[dt.datetime] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return answer(request) if answer else httpx.Response(200, json={"ok": True})

    governor = Governor(engine, system="xero", connection_id=connection_id, limits=limits, holder="t",
                        max_wait_s=max_wait_s, clock=clock)  # fmt: skip
    api = ApiClient("https://v.test", transport=httpx.MockTransport(handler), sleep=clock.sleep, governor=governor)
    return api, sent


def test_a_call_over_the_limit_waits_for_its_window_then_goes(engine: Engine) -> None:
    clock = Clock()
    api, sent = client(engine, clock, (Limit("minute", 2, 60.0),))
    for _ in range(3):
        api.request("GET", "/Invoices")
    assert sent[:2] == [T0, T0]
    assert len(clock.slept) == 1 and 60.0 <= clock.slept[0] <= 62.0
    assert sent[2] == T0 + dt.timedelta(seconds=clock.slept[0])


def test_a_wait_longer_than_the_threshold_sends_nothing_and_names_the_windows_opening(engine: Engine) -> None:
    clock = Clock()
    day = (Limit("day", 2, 86400.0, calendar=True),)
    earlier, _ = client(engine, clock, day, max_wait_s=5)  # another job spent the day
    earlier.request("GET", "/Invoices")
    earlier.request("GET", "/Invoices")
    api, sent = client(engine, clock, day, max_wait_s=5)
    with pytest.raises(QuotaExhausted) as caught:
        api.request("GET", "/Invoices")
    assert caught.value.until == dt.datetime(2026, 12, 7, tzinfo=dt.UTC) and caught.value.limit == "day"
    assert sent == [] and clock.slept == []
    held = REGISTRY.get_sample_value(
        "integration_quota_waits_total", {"system": "xero", "connection": "1", "limit": "day"}
    )
    assert held is not None and held >= 1


def test_once_a_call_went_out_the_attempt_waits_rather_than_start_over(engine: Engine) -> None:
    """Starting over would spend the calls made again: a job needing more than one window never ends."""
    clock = Clock()
    api, sent = client(engine, clock, (Limit("minute", 1, 60.0),), max_wait_s=5)
    api.request("GET", "/Invoices")
    api.request("GET", "/Contacts")
    assert len(sent) == 2 and len(clock.slept) == 1 and clock.slept[0] > 5


def test_a_wait_past_the_jobs_deadline_is_not_taken(engine: Engine) -> None:
    clock = Clock()
    api, sent = client(engine, clock, (Limit("minute", 1, 60.0),), max_wait_s=600)
    api.deadline = time.monotonic() + 30  # the job has 30 s left; the window opens in ~61
    api.request("GET", "/Invoices")
    with pytest.raises(QuotaExhausted):
        api.request("GET", "/Invoices")
    assert len(sent) == 1


def test_a_tenants_lower_limit_governs_its_connection(engine: Engine) -> None:
    with engine.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('Starter') RETURNING id")).scalar_one()
        cid = conn.execute(
            text("INSERT INTO connections (tenant_id, system) VALUES (:t, 'xero') RETURNING id"), {"t": tenant}
        ).scalar_one()
        quota.set_override(conn, cid, "day", 1, by="ed@example.com")
    clock = Clock()
    limits = (Limit("day", 5000, 86400.0, calendar=True),)
    first, sent = client(engine, clock, limits, max_wait_s=5, connection_id=cid)
    first.request("GET", "/Invoices")
    second, sent_later = client(engine, clock, limits, max_wait_s=5, connection_id=cid)
    with pytest.raises(QuotaExhausted):
        second.request("GET", "/Invoices")
    assert len(sent) == 1 and sent_later == []


def test_a_concurrency_slot_is_given_back_after_a_failed_call(engine: Engine) -> None:
    clock = Clock()
    answers = iter([httpx.Response(503), httpx.Response(200, json={})])
    api, sent = client(engine, clock, (Limit("concurrent", 1),), answer=lambda _r: next(answers))
    api.request("GET", "/Invoices")  # 503, retried: the retry needs the one slot the first attempt held
    assert len(sent) == 2
    with engine.connect() as conn:
        assert quota.usage(conn, connection_key(1), Limit("concurrent", 1), 1, now=clock.now).used == 0


def test_a_graphql_call_is_charged_its_actual_cost(engine: Engine) -> None:
    clock = Clock()
    cost = Limit("cost", 1000, 10.0, unit="points", refill_per_s=100.0)
    body = {"data": {}, "extensions": {"cost": {"requestedQueryCost": 12, "actualQueryCost": 7}}}
    answer = httpx.Response(200, content=json.dumps(body), headers={"content-type": "application/json"})
    api, _ = client(engine, clock, (cost,), answer=lambda _r: answer)
    api.request("POST", "/graphql.json")
    api.request("POST", "/graphql.json")
    with engine.connect() as conn:
        # 7 + 7: the first charge (the default estimate) was corrected, the second used 12 then 7.
        assert quota.usage(conn, connection_key(1), cost, 1000, now=clock.now).used == 14
        # The bucket refills at 100 points a second.
        later = clock.now + dt.timedelta(seconds=0.1)
        assert quota.usage(conn, connection_key(1), cost, 1000, now=later).used == 4


def test_a_spent_cost_bucket_waits_for_its_refill_and_believes_the_vendors_reading(engine: Engine) -> None:
    clock = Clock()
    cost = Limit("cost", 1000, 10.0, unit="points", refill_per_s=100.0)
    throttle = {"maximumAvailable": 1000.0, "currentlyAvailable": 100.0, "restoreRate": 100.0}
    body = {"data": {}, "extensions": {"cost": {"requestedQueryCost": 600, "actualQueryCost": 50,
                                                "throttleStatus": throttle}}}  # fmt: skip
    answer = httpx.Response(200, content=json.dumps(body), headers={"content-type": "application/json"})
    api, sent = client(engine, clock, (cost,), answer=lambda _r: answer)
    api.request("POST", "/graphql.json")  # the vendor says 900 are spent (other calls of the app)
    api.request("POST", "/graphql.json")  # estimated 600: waits until 500 have been refilled
    assert len(sent) == 2 and clock.slept == [pytest.approx(5.0)]


def test_every_vendor_declares_its_documented_limits() -> None:
    declared = {v.system: {limit.name: limit.describe() for limit in v.limits} for v in vendors()}
    assert declared["xero"] == {
        "minute": "60 calls/minute",
        "day": "5,000 calls/day",
        "concurrent": "5 concurrent",
        "appminute": "10,000 calls/minute",
    }
    assert declared["hubspot"] == {"burst": "100 calls/10 s", "search": "4 calls/second"}
    assert declared["asana"] == {"minute": "150 calls/minute"}
    assert declared["shopify"] == {"cost": "2,000 points, refilled at 100/s"}
    assert all(limit.source for v in vendors() for limit in v.limits)
    xero = next(v for v in vendors() if v.system == "xero")
    assert xero.limit("day").calendar and xero.limit("appminute").app_wide and not xero.limit("minute").calendar
    assert next(v for v in vendors() if v.system == "asana").limit("minute").ceiling == 1500
