"""The quota ledger on SQLite and PostgreSQL: rolling and calendar windows, leases, requeue."""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import Engine, text

from db import jobs, quota
from db.quota import Charge, Limit

T0 = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC)
MINUTE = Limit("minute", 3, 60.0)
DAY = Limit("day", 5, 86400.0, calendar=True)
IN_FLIGHT = Limit("concurrent", 2)


def take(engine: Engine, charges: list[Charge], now: dt.datetime, lease_s: float = 30.0) -> quota.Grant:
    """One call's charge, committed when granted and rolled back when refused (as the governor does)."""
    with engine.connect() as conn:
        tx = conn.begin()
        grant = quota.acquire(conn, charges, holder="test", lease_s=lease_s, now=now)
        (tx.commit if grant.ok else tx.rollback)()
    return grant


def test_a_rolling_limit_admits_its_calls_then_names_when_the_oldest_leaves(engine: Engine) -> None:
    charge = [Charge("conn:1", MINUTE, MINUTE.calls)]
    for i in range(3):
        assert take(engine, charge, T0 + dt.timedelta(seconds=10 * i)).ok
    refused = take(engine, charge, T0 + dt.timedelta(seconds=30))
    assert not refused.ok and refused.blocked_by == "minute"
    assert refused.until is not None
    # The first call leaves the counted span a full minute (plus the margin and one bucket) after it.
    life = 60.0 + MINUTE.margin_s + MINUTE.bucket_s
    assert refused.until == T0 + dt.timedelta(seconds=life)
    assert not take(engine, charge, refused.until - dt.timedelta(seconds=0.01)).ok
    assert take(engine, charge, refused.until).ok
    # A refused call charged nothing: the window holds exactly the calls that went.
    with engine.connect() as conn:
        assert quota.usage(conn, "conn:1", MINUTE, 3, now=refused.until).used == 3


def test_a_calendar_day_counts_from_midnight_utc_and_a_full_day_says_until_midnight(engine: Engine) -> None:
    charge = [Charge("conn:1", DAY, 4)]  # a tenant's lower limit: 4 of the vendor's 5
    late = T0.replace(hour=23, minute=58)
    for _ in range(4):
        assert take(engine, charge, late).ok
    refused = take(engine, charge, late)
    assert not refused.ok and refused.until == dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    with engine.connect() as conn:
        seen = quota.usage(conn, "conn:1", DAY, 4, now=late)
    assert (seen.used, seen.allowed, seen.exhausted_until) == (4, 4, dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    assert take(engine, charge, dt.datetime(2026, 12, 7, 0, 0, 1, tzinfo=dt.UTC)).ok


def test_keys_are_separate_budgets(engine: Engine) -> None:
    for _ in range(3):
        assert take(engine, [Charge("conn:1", MINUTE, 3)], T0).ok
    assert not take(engine, [Charge("conn:1", MINUTE, 3)], T0).ok
    assert take(engine, [Charge("conn:2", MINUTE, 3)], T0).ok


def test_a_call_is_charged_to_all_its_limits_or_to_none(engine: Engine) -> None:
    both = [Charge("app:xero", Limit("appminute", 2, 60.0, app_wide=True), 2), Charge("conn:1", MINUTE, 3)]
    assert take(engine, both, T0).ok
    assert take(engine, both, T0).ok
    refused = take(engine, both, T0)
    assert refused.blocked_by == "appminute"
    with engine.connect() as conn:
        assert quota.usage(conn, "conn:1", MINUTE, 3, now=T0).used == 2


def test_concurrency_leases_hold_slots_until_released_or_lapsed(engine: Engine) -> None:
    charge = [Charge("conn:1", IN_FLIGHT, 2)]
    first, second = take(engine, charge, T0, lease_s=10), take(engine, charge, T0, lease_s=10)
    assert first.ok and second.ok
    refused = take(engine, charge, T0 + dt.timedelta(seconds=1))
    assert not refused.ok and refused.blocked_by == "concurrent"
    with engine.begin() as conn:
        quota.release(conn, first.lease_ids)
    assert take(engine, charge, T0 + dt.timedelta(seconds=1), lease_s=10).ok
    # A runner killed mid-call never releases: its lease lapses, and the slot with it.
    assert not take(engine, charge, T0 + dt.timedelta(seconds=2)).ok
    assert take(engine, charge, T0 + dt.timedelta(seconds=10)).ok


def test_concurrent_callers_never_put_more_than_the_limit_in_any_window(engine: Engine) -> None:
    """Real threads, real clock, one connection each: no 1-second span holds more than 10 grants."""
    limit = Limit("second", 10, 1.0)
    granted: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 3.0

    def worker() -> None:
        while time.monotonic() < stop:
            now = dt.datetime.now(dt.UTC)
            grant = take(engine, [Charge("conn:9", limit, 10)], now)
            if grant.ok:
                with lock:
                    granted.append(now.timestamp())
            elif grant.until is not None:
                time.sleep(max(0.0, (grant.until - dt.datetime.now(dt.UTC)).total_seconds()))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    assert len(granted) >= 20  # the limit was reached in several windows, not starved
    worst = max(sum(1 for u in granted if t <= u < t + 1.0) for t in granted)
    assert worst <= 10


def test_a_deferred_job_goes_back_to_the_queue_with_its_attempt_and_deadline_returned(engine: Engine) -> None:
    with engine.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('Q') RETURNING id")).scalar_one()
        job = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", params={}, now=T0)
    with engine.begin() as conn:
        [claimed] = jobs.claim(conn, "r1", limit=1, lease_s=30, now=T0)
        assert jobs.start(conn, "r1", claimed)
    until = T0 + dt.timedelta(hours=11)
    with engine.begin() as conn:
        status = jobs.requeue_unspent(
            conn, job.id, runner_id="r1", attempt=claimed.attempt, run_at=until, reason="quota", now=T0
        )
    assert status == "QUEUED"
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT attempts, run_at, deadline_at, locked_by, metrics FROM pipeline_jobs WHERE id = :id"),
            {"id": job.id},
        ).one()
    assert row[0] == 0 and jobs._sql.read_ts(row[1]) == until and row[2] is None and row[3] is None
    assert jobs._sql.read_json(row[4])["quota_waits"] == 1
    # Not due before the window opens; claimable at it, with a fresh deadline.
    with engine.begin() as conn:
        assert jobs.claim(conn, "r2", limit=1, lease_s=30, now=until - dt.timedelta(seconds=1)) == []
        [again] = jobs.claim(conn, "r2", limit=1, lease_s=30, now=until)
    assert again.attempt == 1 and again.deadline_at > until


def test_overrides_are_kept_per_connection_and_limit(engine: Engine) -> None:
    with engine.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('O') RETURNING id")).scalar_one()
        cid = conn.execute(
            text("INSERT INTO connections (tenant_id, system) VALUES (:t, 'xero') RETURNING id"), {"t": tenant}
        ).scalar_one()
        quota.set_override(conn, cid, "day", 1000, by="ed@example.com")
    with engine.connect() as conn:
        assert quota.overrides(conn, cid) == {"day": 1000}
    with engine.begin() as conn:
        quota.set_override(conn, cid, "day", None, by="ed@example.com")
    with engine.connect() as conn:
        assert quota.overrides(conn, cid) == {}


def test_calls_sent_back_to_the_queue_are_given_one_turn_each_allowed_per_window(engine: Engine) -> None:
    charge = Charge("conn:1", MINUTE, MINUTE.calls)
    for _ in range(3):
        assert take(engine, [charge], T0).ok
    refused = take(engine, [charge], T0 + dt.timedelta(seconds=1))
    assert refused.until is not None
    turns = []
    for _ in range(7):
        with engine.begin() as conn:
            turns.append(quota.take_place_in_line(conn, charge, refused.until, now=T0 + dt.timedelta(seconds=1)))
    life = dt.timedelta(seconds=60 + MINUTE.margin_s + MINUTE.bucket_s)
    # Three at the first opening, the next three a window after those calls' bucket, the seventh
    # a window after theirs.
    second = quota.window_start(MINUTE, T0 + life) + life
    assert turns[:3] == [T0 + life] * 3
    assert turns[3:6] == [second] * 3
    assert turns[6] == quota.window_start(MINUTE, second) + life
    # Each turn is one the limit allows: the first three get in at their turn.
    for turn in turns[:3]:
        assert take(engine, [charge], turn).ok
    assert not take(engine, [charge], turns[0]).ok
