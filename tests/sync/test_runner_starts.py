"""Group-committed starts, on SQLite and PostgreSQL: one statement for every waiting start.

A worker's handler runs only once its own start is committed; a start that is no longer ours
or that the database refused runs nothing, and the job comes back at no cost.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from sync.runner import Runner
from sync.starts import Starter
from tests.sync.test_runner import ReadJob, enqueue, wait_for


def _start_batches(runner: Runner) -> list[list[int]]:
    """The job ids of every start statement the runner's starter sends from now on.

    Recorded where the starter writes (``jobs.start_many``: one statement per batch), since on
    PostgreSQL the statement goes to psycopg directly, past SQLAlchemy's execution events.
    """
    seen: list[list[int]] = []
    write = runner._starter._write_starts

    def record(batch: Any) -> set[int]:
        seen.append([j.id for j in batch])
        return write(batch)

    runner._starter._write_starts = record
    return seen


def test_waiting_starts_are_committed_in_one_statement_and_a_lost_one_is_skipped(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    ids = [enqueue(session_factory, tenant_id, {}) for _ in range(4)]
    with engine.begin() as conn:
        claimed = jobs.claim(conn, runner.id, limit=4, lease_s=30)
        lost = claimed[-1]
        jobs.release(conn, runner.id, [lost])  # ... and another runner claims it meanwhile
        assert [j.id for j in jobs.claim(conn, "other-runner", limit=1, lease_s=30)] == [lost.id]
    statements = _start_batches(runner)
    starter: Starter = runner._starter
    answers: dict[int, bool] = {}
    workers = [threading.Thread(target=lambda j=j: answers.update({j.id: starter.submit(j)})) for j in claimed]
    for w in workers:
        w.start()
    wait_for(lambda: len(starter._waiting) == 4)  # all four workers wait before the starter runs
    starter.start()
    for w in workers:
        w.join(10)
    starter.close()
    assert answers == {ids[0]: True, ids[1]: True, ids[2]: True, lost.id: False}
    assert len(statements) == 1
    for jid in ids[:3]:
        row = read_job(jid)
        assert (row.status, row.attempts, row.attempt_started, row.locked_by) == ("RUNNING", 1, True, runner.id)
    if engine.dialect.name == "postgresql":  # and the database wrote the three in one transaction
        with engine.connect() as conn:
            writers = conn.execute(text("SELECT DISTINCT xmin::text FROM pipeline_jobs WHERE id = ANY(:ids)"),
                                   {"ids": ids[:3]}).all()  # fmt: skip
        assert len(writers) == 1
    row = read_job(lost.id)
    assert (row.attempts, row.attempt_started, row.locked_by) == (0, False, "other-runner")


def test_a_start_is_spent_once_only_by_the_attempt_its_claim_expects(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int
) -> None:
    enqueue(session_factory, tenant_id, {})
    enqueue(session_factory, tenant_id, {})
    with engine.begin() as conn:
        a, b = jobs.claim(conn, runner.id, limit=2, lease_s=30)
    assert runner._starter.run([a]) == {a.id}
    assert runner._starter.run([a, b]) == {b.id}  # a already started: not again
    assert runner._starter.run([a, b]) == set()


def _refuse_starts(engine: Engine) -> str:
    """A real database error on every start: a constraint (PostgreSQL) or trigger (SQLite)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            refuse = "ALTER TABLE pipeline_jobs ADD CONSTRAINT no_starts CHECK (NOT attempt_started) NOT VALID"
            conn.execute(text(refuse))
            return "ALTER TABLE pipeline_jobs DROP CONSTRAINT no_starts"
        conn.execute(
            text(
                "CREATE TRIGGER no_starts BEFORE UPDATE OF attempt_started ON pipeline_jobs "
                "WHEN NEW.attempt_started BEGIN SELECT RAISE(ABORT, 'starts refused'); END"
            )
        )
        return "DROP TRIGGER no_starts"


def test_a_start_the_database_refuses_runs_nothing_and_the_lease_gives_the_job_back_at_no_cost(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ids = [enqueue(session_factory, tenant_id, {}) for _ in range(3)]
    undo = _refuse_starts(engine)
    monkeypatch.setattr(runner._work, "idle", lambda: 0)  # no start in the claim: the starter's path
    runner.start()
    try:
        runner.wake()
        wait_for(lambda: caplog.text.count("could not start jobs") >= 1 and all(
            read_job(j).status == "RUNNING" for j in ids))  # fmt: skip
        time.sleep(0.3)  # were a handler to run regardless, it would have finished by now
        for jid in ids:
            row = read_job(jid)
            assert (row.status, row.attempts, row.attempt_started, row.result) == ("RUNNING", 0, False, None)
    finally:
        runner.stop(grace_s=1)
    with engine.begin() as conn:
        conn.execute(text(undo))
    runner.clock = lambda: jobs._sql.utcnow() + dt.timedelta(seconds=runner.lease_s + 1)
    runner.reap()  # the leases end: back in the queue without having spent an attempt
    assert {read_job(j).status for j in ids} == {"QUEUED"}
    assert runner.run_until_empty() == 3
    for jid in ids:
        row = read_job(jid)
        assert (row.status, row.attempts) == ("COMPLETED", 1)


def _job(job_id: int) -> jobs.ClaimedJob:
    now = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    return jobs.ClaimedJob(
        id=job_id, tenant_id=1, job_type="noop", params={}, attempt=1, max_attempts=3, timeout_s=60,
        deadline_at=now, claimed_at=now, priority=0, run_at=now, concurrency_key=None, cancel_requested=False,
    )  # fmt: skip


def test_closing_the_starter_refuses_waiting_starts_at_once_and_never_hangs_a_worker() -> None:
    gate = threading.Event()
    batches: list[list[int]] = []

    def write(batch: Any) -> set[int]:
        batches.append([j.id for j in batch])
        gate.wait(10)  # the database is slow to answer the first batch
        return {j.id for j in batch}

    starter = Starter(write)
    starter.start()
    answers: dict[int, bool] = {}
    first = threading.Thread(target=lambda: answers.update({1: starter.submit(_job(1))}))
    first.start()
    wait_for(lambda: batches == [[1]])
    second = threading.Thread(target=lambda: answers.update({2: starter.submit(_job(2))}))
    second.start()
    wait_for(lambda: len(starter._waiting) == 1)
    t0 = time.monotonic()
    starter.close(timeout_s=0.2)  # the runner stopping while the first batch is still out
    second.join(2)
    assert time.monotonic() - t0 < 2 and answers == {2: False}  # refused, nothing written for it
    assert starter.submit(_job(3)) is False  # a start after the close is refused at once
    gate.set()
    first.join(10)
    assert answers == {1: True, 2: False}  # the batch already out gets its real answer
    assert batches == [[1]]


def test_jobs_claimed_for_idle_workers_start_with_their_claim_and_need_no_start_statement(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    ids = [enqueue(session_factory, tenant_id, {}) for _ in range(3)]
    statements = _start_batches(runner)
    runner.start()
    try:
        wait_for(lambda: runner._work.idle() == runner.slots)  # every worker waits with nothing to do
        runner.wake()
        wait_for(lambda: all(read_job(j).status == "COMPLETED" for j in ids))
    finally:
        runner.stop(grace_s=1)
    assert statements == []  # the claim spent the attempts: one row version fewer per job
    for jid in ids:
        row = read_job(jid)
        assert (row.status, row.attempts, row.attempt_started) == ("COMPLETED", 1, True)


def test_a_claim_that_starts_jobs_the_database_refuses_runs_nothing_and_spends_nothing(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    ids = [enqueue(session_factory, tenant_id, {}) for _ in range(3)]
    undo = _refuse_starts(engine)
    runner.start()
    try:
        wait_for(lambda: runner._work.idle() == runner.slots)
        runner.wake()
        wait_for(lambda: "dispatch failed" in caplog.text)
        time.sleep(0.3)
        for jid in ids:
            row = read_job(jid)
            assert (row.status, row.attempts, row.attempt_started, row.result) == ("QUEUED", 0, False, None)
    finally:
        runner.stop(grace_s=1)
        with engine.begin() as conn:
            conn.execute(text(undo))


def test_claim_starts_only_its_first_jobs_and_release_gives_back_only_the_unstarted(
    engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    ids = [enqueue(session_factory, tenant_id, {}, priority=p) for p in (0, 5, 1)]
    with engine.begin() as conn:
        claimed = jobs.claim(conn, "r1", limit=3, lease_s=30, start=2)
    assert [(j.id, j.started, j.attempt) for j in claimed] == [(ids[1], True, 1), (ids[2], True, 1), (ids[0], False, 1)]
    with engine.begin() as conn:
        assert jobs.release(conn, "r1", claimed) == [ids[0]]  # a started attempt is never given back
        assert jobs.start_many(conn, "r1", claimed) == set()  # nor started twice
    assert [(read_job(j).status, read_job(j).attempts, read_job(j).attempt_started) for j in ids] == [
        ("QUEUED", 0, False), ("RUNNING", 1, True), ("RUNNING", 1, True)]  # fmt: skip
