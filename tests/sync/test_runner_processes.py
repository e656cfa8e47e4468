"""Real ``python -m sync`` processes on PostgreSQL: crash recovery, draining, exactly-once at scale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from db import jobs, schedules
from db.engine import make_engine
from db.models import JobStep, PipelineJob, Runner, Schedule, Tenant

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 2.0


class Runners:
    """Starts runner processes against one database and cleans them up."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        full = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
        full.update(
            ZIXLY_ENV="test", ZIXLY_DATABASE_URL=self.url, ZIXLY_VAR_DIR=str(self.tmp / "var"),
            ZIXLY_RUNNER_LEASE_S=str(LEASE_S), ZIXLY_RUNNER_POLL_S="0.2", ZIXLY_RUNNER_METRICS_PORT="0",
            ZIXLY_LOG_JSON="false", ZIXLY_LOG_LEVEL="INFO", ZIXLY_RUNNER_CONCURRENCY="4",
        )  # fmt: skip
        full.update(env)
        log = open(self.tmp / f"runner-{len(self.procs)}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen([sys.executable, "-m", "sync"], cwd=ROOT, env=full, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def runners(pg_url: str, tmp_path: Path) -> Iterator[Runners]:
    r = Runners(pg_url, tmp_path)
    yield r
    r.close()


@pytest.fixture
def db(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def tenant(db: sessionmaker[Session]) -> int:
    with db() as s:
        t = Tenant(name="Acme")
        s.add(t)
        s.commit()
        return t.id


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


def job(db: sessionmaker[Session], job_id: int) -> PipelineJob:
    with db() as s:
        row = s.get(PipelineJob, job_id)
        assert row is not None
        return row


def test_a_job_held_by_a_killed_runner_is_finished_by_another_within_twice_the_lease(
    runners: Runners, db: sessionmaker[Session], tenant: int
) -> None:
    # Both runners boot before the job exists (a busy machine can take longer to boot one than
    # the job lasts); whichever claims it is killed mid-job and the other must finish it.
    procs = {str(p.pid): p for p in (runners.start(), runners.start())}

    def registered() -> bool:
        with db() as s:
            return s.scalar(select(func.count()).select_from(Runner)) == 2

    wait_for(registered, 60, "both runners to start")
    with db() as s:
        jid = jobs.enqueue(s, tenant_id=tenant, job_type="noop", params={"sleep_ms": 6000, "note": True}).id
        s.commit()

    def steps() -> list[str]:
        with db() as s:
            return list(s.scalars(select(JobStep.message).where(JobStep.job_id == jid).order_by(JobStep.id)))

    wait_for(lambda: steps() == ["noop ran (attempt 1)"], 20, "a runner to be mid-job")
    holder = job(db, jid).locked_by
    assert holder is not None and holder.split(":")[1] in procs  # locked jobs name their runner
    first = procs[holder.split(":")[1]]
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    killed_at = time.monotonic()
    assert (job(db, jid).status, job(db, jid).attempts) == ("RUNNING", 1)
    try:
        wait_for(lambda: job(db, jid).attempts == 2, 15, "the job to be claimed again")
    except AssertionError:
        with db() as s:
            activity = s.execute(text("SELECT pid, state, wait_event, left(query, 80) FROM pg_stat_activity "
                                      "WHERE datname = current_database()")).all()  # fmt: skip
        raise AssertionError(f"not reclaimed; job={job(db, jid).__dict__}; activity={activity}") from None
    rerun_after = time.monotonic() - killed_at
    wait_for(lambda: job(db, jid).status == "COMPLETED", 20, "the second runner to finish the job")
    row = job(db, jid)
    assert (row.attempts, row.locked_by) == (2, None)
    # Each attempt left its one effect: the killed one and the finished one.
    assert steps() == ["noop ran (attempt 1)", "noop ran (attempt 2)"]
    assert rerun_after < 2 * LEASE_S


def test_sigterm_lets_running_jobs_finish_gives_back_the_rest_and_exits_0(
    runners: Runners, db: sessionmaker[Session], tenant: int
) -> None:
    proc = runners.start(ZIXLY_RUNNER_CONCURRENCY="2", ZIXLY_RUNNER_PREFETCH="2", ZIXLY_RUNNER_GRACE_S="10")
    with db() as s:
        ids = [e.id for e in jobs.enqueue_many(s, [jobs.JobSpec(tenant, "noop", {"sleep_ms": 1500})] * 4)]
        s.commit()
    wait_for(lambda: all(job(db, j).status == "RUNNING" for j in ids), 15, "all four jobs to be claimed")
    time.sleep(0.3)  # the first two are executing, the other two wait in the prefetch buffer
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    rows = [job(db, j) for j in ids]
    assert sorted(r.status for r in rows) == ["COMPLETED", "COMPLETED", "QUEUED", "QUEUED"]
    for r in rows:
        assert r.attempts == (1 if r.status == "COMPLETED" else 0)
    with db() as s:
        assert s.scalars(select(Runner.stopped_at)).one() is not None


# 300 jobs in every make test (100 per runner, each with 8 prefetched: the claims still race);
# the thousand with the slow runs.
@pytest.mark.parametrize("n_jobs", [300, pytest.param(1000, marks=pytest.mark.slow)])
def test_three_runners_complete_a_thousand_jobs_each_exactly_once(
    runners: Runners, db: sessionmaker[Session], tenant: int, n_jobs: int
) -> None:
    for _ in range(3):
        runners.start(ZIXLY_RUNNER_PREFETCH="8")
    with db() as s:
        jobs.enqueue_many(s, [jobs.JobSpec(tenant, "noop", {"note": True}) for _ in range(n_jobs)])
        s.commit()

    def completed() -> bool:
        with db() as s:
            return s.scalar(select(func.count()).where(PipelineJob.status == "COMPLETED")) == n_jobs

    wait_for(completed, 90, f"{n_jobs:,} jobs to complete")
    with db() as s:
        attempts = s.execute(select(PipelineJob.attempts, func.count()).group_by(PipelineJob.attempts)).all()
        effects = s.execute(select(JobStep.job_id, func.count()).group_by(JobStep.job_id)).all()
        runner_rows = s.scalars(select(Runner.id)).all()
    assert attempts == [(1, n_jobs)]
    assert len(effects) == n_jobs and {n for _, n in effects} == {1}
    assert len(runner_rows) == 3


def test_a_missed_schedule_fires_exactly_once_across_three_runners(
    runners: Runners, db: sessionmaker[Session], tenant: int
) -> None:
    with db() as s:
        sid = schedules.create_schedule(s, tenant_id=tenant, job_type="noop", cron="*/5 * * * *")
        # As if every runner had been down for an hour: many ticks were missed.
        s.execute(
            update(Schedule)
            .where(Schedule.id == sid)
            .values(next_run_at=func.now() - func.make_interval(0, 0, 0, 0, 1))
        )
        s.commit()
    for _ in range(3):
        runners.start()

    def fired() -> bool:
        with db() as s:
            return s.scalar(select(func.count()).select_from(PipelineJob).where(PipelineJob.status == "COMPLETED")) == 1

    wait_for(fired, 60, "the schedule's job to complete")
    time.sleep(1.0)  # three more schedule ticks per runner
    with db() as s:
        made = s.scalars(select(PipelineJob)).all()
        sched = s.get(Schedule, sid)
    assert len(made) == 1 and made[0].created_by == f"schedule:{sid}"
    assert made[0].idempotency_key is not None and made[0].idempotency_key.startswith(f"schedule:{sid}:")
    assert sched is not None and sched.last_job_id == made[0].id
    assert sched.next_run_at is not None and sched.next_run_at.timestamp() > time.time()
