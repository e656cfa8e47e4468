"""A paused client with real ``python -m sync`` processes: held while paused, released paced at the end time.

On SQLite (one runner) and PostgreSQL (two): a running job finishes; queued and new jobs wait
PAUSED; an overdue schedule does not fire; when the end time passes a runner resumes the client,
the held jobs run in the order they came, no faster than the release rate, and the schedule fires once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db import jobs, schedules
from db.engine import make_engine
from db.jobs import pauses
from db.models import AuditEntry, PipelineJob, Schedule, Tenant

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PER_MINUTE = 120  # one held job every 0.5 s


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def start_runner(db_url: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
        env.update(
            ZIXLY_ENV="test", ZIXLY_DATABASE_URL=db_url, ZIXLY_VAR_DIR=str(tmp_path / "var"),
            ZIXLY_RUNNER_POLL_S="0.2", ZIXLY_RUNNER_METRICS_PORT="0", ZIXLY_LOG_JSON="false",
            ZIXLY_RESUME_PER_MINUTE=str(PER_MINUTE),
        )  # fmt: skip
        log = open(tmp_path / f"runner-{len(procs)}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen([sys.executable, "-m", "sync"], cwd=ROOT, env=env, stdout=log, stderr=log)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_paused_client_is_held_then_released_in_order_paced_by_the_runner(
    db: sessionmaker[Session], db_url: str, start_runner: Callable[[], subprocess.Popen[bytes]]
) -> None:
    with db() as s:
        tenant = Tenant(name="Acme")
        s.add(tenant)
        s.flush()
        long = jobs.enqueue(s, tenant_id=tenant.id, job_type="noop", params={"sleep_ms": 2500}).id
        sid = schedules.create_schedule(s, tenant_id=tenant.id, job_type="noop", cron="*/5 * * * *")
        s.commit()
        tenant_id = tenant.id

    def status(job_id: int) -> str:
        with db() as s:
            return str(s.scalar(select(PipelineJob.status).where(PipelineJob.id == job_id)))

    for _ in range(2 if db_url.startswith("postgresql") else 1):
        start_runner()
    wait_for(lambda: status(long) == "RUNNING", 30, "the long job to start")
    with db() as s:
        pauses.pause(s, tenant_id=tenant_id, reason="migrating", by="ed@zixly.test",
                     until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))  # fmt: skip
        held = [jobs.enqueue(s, tenant_id=tenant_id, job_type="noop").id for _ in range(6)]
        # The schedule missed several fire times while paused.
        s.execute(update(Schedule).where(Schedule.id == sid).values(
            next_run_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)))  # fmt: skip
        s.commit()
    wait_for(lambda: status(long) == "COMPLETED", 30, "the running job to finish")
    assert {status(j) for j in held} == {"PAUSED"}

    resumed_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)

    def scheduled() -> list[PipelineJob]:
        """The schedule's jobs for fire times up to the resume: the missed ones (a */5 boundary
        passing during the test may fire the schedule again, on time, which is not a missed tick)."""
        with db() as s:
            made = s.scalars(select(PipelineJob).where(PipelineJob.created_by == f"schedule:{sid}"))
            return [j for j in made if dt.datetime.fromisoformat(str(j.idempotency_key).split(":", 2)[2]) <= resumed_at]

    assert scheduled() == []  # not fired while paused
    with db() as s:  # pausing again replaces the end time: it passes now, however slow the machine was
        pauses.pause(s, tenant_id=tenant_id, reason="migrating", by="ed@zixly.test", until=resumed_at)
        s.commit()
    wait_for(lambda: all(status(j) == "COMPLETED" for j in held), 60, "the held jobs to run after the end time")
    wait_for(lambda: len(scheduled()) == 1, 30, "the schedule to fire on resume")
    with db() as s:
        rows = s.execute(select(PipelineJob.id, PipelineJob.run_at, PipelineJob.started_at)
                         .where(PipelineJob.id.in_(held)).order_by(PipelineJob.id)).all()  # fmt: skip
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.resume")).one()
    # Released in the order they came, one every 60/PER_MINUTE seconds, none before its turn.
    run_ats = [r.run_at for r in rows]
    assert run_ats == sorted(run_ats)
    assert [round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(run_ats)] == [0.5] * 5
    assert all(r.started_at >= r.run_at for r in rows)
    assert (entry.actor, entry.details["released"]) == ("runner", 6)
    time.sleep(1.0)
    assert len(scheduled()) == 1  # once, not once per missed tick
