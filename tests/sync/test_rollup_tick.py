"""The runner's rollup tick: jobs the runner finishes are marked by the finish itself and rolled up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db import jobs, queries
from db.models import JobHourCount, JobHourDuration, JobRollupDirty
from sync.runner import Runner
from sync.scheduler import build_scheduler, rollup_tick


def test_the_tick_rolls_up_what_the_runner_finished(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int
) -> None:
    with session_factory() as s:
        for params in ({}, {}, {"fail_times": 9}):
            jobs.enqueue(s, tenant_id=tenant_id, job_type="noop", params=params, max_attempts=1)
        s.commit()
    while runner.run_once():
        pass
    now = dt.datetime.now(dt.UTC)
    window = (now - dt.timedelta(hours=3), now + dt.timedelta(minutes=1))
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(JobRollupDirty))  # the finishes marked their hour
        before = queries.kpis(s, (), *window)
    assert rollup_tick(runner) == 1
    assert rollup_tick(runner) == 0  # nothing marked since
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(JobRollupDirty)) == 0
        counts = dict(s.execute(select(JobHourCount.status, JobHourCount.jobs)).all())
        assert counts == {"COMPLETED": 2, "FAILED": 1}
        assert s.scalar(select(func.sum(JobHourDuration.jobs)).where(JobHourDuration.tenant_id == 0)) == 2
        after = queries.kpis(s, (), *window)
    assert (after.jobs, after.completed, after.failed, after.p95_s) == (before.jobs, 2, 1, before.p95_s)


def test_the_scheduler_runs_the_rollup_tick(runner: Runner) -> None:
    assert "rollups" in {job.id for job in build_scheduler(runner).get_jobs()}
