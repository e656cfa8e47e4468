"""Schedules on SQLite and PostgreSQL: cron in a timezone, firing once, coalescing after an outage."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import schedules
from db.models import PipelineJob, Schedule

T0 = dt.datetime(2026, 11, 26, 12, 0, 30, tzinfo=dt.UTC)


def test_next_fire_times_follow_the_cron_in_its_timezone() -> None:
    # 09:00 in Sydney (UTC+11 in November) is 22:00 UTC the day before.
    assert schedules.next_fire_times("0 9 * * *", "Australia/Sydney", 2, now=T0) == [
        dt.datetime(2026, 11, 26, 22, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 27, 22, 0, tzinfo=dt.UTC),
    ]


@pytest.mark.parametrize(
    ("cron", "tz", "message"), [("61 * * * *", "UTC", "invalid cron"), ("* * * * *", "Mars/Base", "unknown timezone")]
)
def test_a_bad_cron_or_timezone_is_refused_with_a_reason(cron: str, tz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        schedules.next_fire_times(cron, tz)


def test_a_due_schedule_fires_once_and_a_missed_one_is_coalesced(session: Session, tenant_id: int) -> None:
    sid = schedules.create_schedule(session, tenant_id=tenant_id, job_type="noop", cron="*/5 * * * *",
                                    params={"note": True}, now=T0 - dt.timedelta(hours=3))  # fmt: skip
    session.commit()
    # Three hours of missed ticks: one job, then the next fire time after now.
    fired = schedules.fire_due(session, now=T0)
    session.commit()
    assert [s for s, _ in fired] == [sid]
    assert schedules.fire_due(session, now=T0) == []
    job = session.scalars(select(PipelineJob)).one()
    assert (job.created_by, job.params, job.idempotency_key) == (
        f"schedule:{sid}",
        {"note": True},
        f"schedule:{sid}:2026-11-26T09:05:00+00:00",
    )
    sched = session.get(Schedule, sid)
    assert sched is not None
    session.refresh(sched)
    assert (sched.next_run_at, sched.last_job_id) == (dt.datetime(2026, 11, 26, 12, 5, tzinfo=dt.UTC), job.id)


def test_editing_a_schedule_recomputes_its_next_run_and_run_now_enqueues(session: Session, tenant_id: int) -> None:
    sid = schedules.create_schedule(session, tenant_id=tenant_id, job_type="noop", cron="0 * * * *", now=T0)
    schedules.update_schedule(session, sid, cron="30 12 * * *", now=T0)
    session.commit()
    sched = session.get(Schedule, sid)
    assert sched is not None and sched.next_run_at == dt.datetime(2026, 11, 26, 12, 30, tzinfo=dt.UTC)
    job_id = schedules.run_schedule_now(session, sid, created_by="alice")
    session.commit()
    assert session.get(PipelineJob, job_id).created_by == "alice"  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        schedules.update_schedule(session, 999, enabled=False)
