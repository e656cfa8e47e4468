"""Starts, on SQLite and PostgreSQL: one statement for every worker free, and short jobs in turn.

A handler runs only once its job's start is committed; a start that is no longer ours or that
the database refused runs nothing, and the job comes back at no cost. No more jobs are started
than there are workers free to run them, and one worker runs short started jobs one after
another while the others sleep; started jobs a slow handler holds up are taken by others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from sync.handoff import STALL_S, Handoff
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


def test_prefetched_jobs_are_started_in_one_statement_for_the_free_workers_and_a_lost_one_is_skipped(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    ids = [enqueue(session_factory, tenant_id, {}) for _ in range(6)]
    with engine.begin() as conn:
        claimed = jobs.claim(conn, runner.id, limit=6, lease_s=30)
        lost = claimed[2]
        jobs.release(conn, runner.id, [lost])  # ... and another runner claims it meanwhile
        assert [j.id for j in jobs.claim(conn, "other-runner", limit=1, lease_s=30)] == [lost.id]
    statements = _start_batches(runner)
    work = Handoff(slots=4)  # four workers free: four of the six are started, two stay prefetched
    dropped: list[jobs.ClaimedJob] = []
    starter = Starter(work, runner._starter._write_starts, dropped=dropped.extend)
    work.put(claimed)
    starter.start()
    taken = [work.take() for _ in range(3)]  # the test's thread is the workers
    starter.close()
    assert [j.id for j in taken if j] == [claimed[0].id, claimed[1].id, claimed[3].id]
    assert statements == [[j.id for j in claimed[:4]]] and dropped == [lost]
    assert [j.id for j in work.drain_unstarted()] == [j.id for j in claimed[4:]]
    for jid in (claimed[0].id, claimed[1].id, claimed[3].id):
        row = read_job(jid)
        assert (row.status, row.attempts, row.attempt_started, row.locked_by) == ("RUNNING", 1, True, runner.id)
    if engine.dialect.name == "postgresql":  # and the database wrote the three in one transaction
        with engine.connect() as conn:
            writers = conn.execute(text("SELECT DISTINCT xmin::text FROM pipeline_jobs WHERE id = ANY(:ids)"),
                                   {"ids": [claimed[0].id, claimed[1].id, claimed[3].id]}).all()  # fmt: skip
        assert len(writers) == 1
    for jid in (lost.id, claimed[4].id, claimed[5].id):
        row = read_job(jid)
        assert (row.attempts, row.attempt_started) == (0, False)
    assert sorted(ids) == sorted(j.id for j in claimed)


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
    monkeypatch.setattr(runner._work, "reserve", lambda most: 0)  # no start in the claim: the starter's
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


def test_closing_the_starter_starts_nothing_more_and_the_batch_being_written_still_runs() -> None:
    gate = threading.Event()
    batches: list[list[int]] = []

    def write(batch: Any) -> set[int]:
        batches.append([j.id for j in batch])
        gate.wait(10)  # the database is slow to answer the first batch
        return {j.id for j in batch}

    work = Handoff(slots=1)
    starter = Starter(work, write)
    starter.start()
    work.put([_job(1), _job(2)])  # one worker free: one start
    wait_for(lambda: batches == [[1]])
    starter.close(timeout_s=0.2)  # the runner stopping while the batch is still out
    assert [j.id for j in work.drain_unstarted()] == [2]  # given back, never started
    work.stop_workers(1)
    worker: list[int | None] = []
    thread = threading.Thread(target=lambda: worker.extend([getattr(work.take(), "id", None), work.take()]))
    thread.start()  # it waits for the batch being written rather than exiting before it
    time.sleep(0.1)
    assert worker == [] and thread.is_alive()
    gate.set()
    thread.join(10)
    assert worker == [1, None]  # the batch already out runs, then the worker exits
    assert batches == [[1]]


def test_jobs_claimed_for_idle_workers_start_with_their_claim_and_need_no_start_statement(
    runner: Runner, engine: Engine, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    ids = [enqueue(session_factory, tenant_id, {}) for _ in range(3)]
    statements = _start_batches(runner)
    runner.start()
    try:
        runner.wake()  # every worker is free: the claim starts all three
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


def test_no_more_jobs_are_started_than_there_are_workers_free() -> None:
    work = Handoff(slots=3)
    assert work.reserve(10) == 3  # a claim may start three
    assert work.reserve(10) == 0  # a second claim meanwhile may start none
    started = [dataclasses.replace(_job(i), started=True) for i in (1, 2)]
    work.put([*started, _job(3)], reserved=3)  # the claim found two to start and one to prefetch
    assert work.reserve(10) == 1  # the third worker is still free
    work.put([], reserved=1)
    assert work.take() == started[0]  # a worker in a handler is not free: still one
    assert work.reserve(10) == 1
    work.put([], reserved=1)
    work.done()
    assert work.reserve(10) == 2


def test_started_jobs_a_slow_handler_holds_up_are_taken_by_a_sleeping_worker() -> None:
    """One worker is woken per batch; when it stays in its handler, the starter's watch wakes another."""
    work = Handoff(slots=2)
    starter = Starter(work, lambda batch: {j.id for j in batch})
    starter.start()
    taken: list[int] = []
    workers = [threading.Thread(target=lambda: taken.append(getattr(work.take(), "id", 0))) for _ in range(2)]
    for w in workers:
        w.start()  # both wait in take(); each takes one job and never calls done(): a slow handler
    wait_for(lambda: len(work._ready._waiters) == 2)  # type: ignore[attr-defined]
    work.put([dataclasses.replace(_job(1), started=True), dataclasses.replace(_job(2), started=True)])
    for w in workers:
        w.join(10)
    starter.close()
    assert sorted(taken) == [1, 2]


def test_a_slow_job_does_not_hold_up_the_short_ones_started_with_it(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    slow = enqueue(session_factory, tenant_id, {"sleep_ms": 30_000}, priority=9)  # taken first
    short = [enqueue(session_factory, tenant_id, {}) for _ in range(3)]
    runner.start()
    try:
        runner.wake()
        wait_for(lambda: all(read_job(j).status == "COMPLETED" for j in short))
        assert read_job(slow).status == "RUNNING"
    finally:
        runner.stop(grace_s=0.2)
    assert STALL_S < 0.01


def test_a_batch_of_started_jobs_wakes_one_worker_not_one_per_job() -> None:
    work = Handoff(slots=4)
    workers = [threading.Thread(target=work.take) for _ in range(4)]
    for w in workers:
        w.start()
    wait_for(lambda: len(work._ready._waiters) == 4)  # type: ignore[attr-defined]
    work.put([dataclasses.replace(_job(i), started=True) for i in (1, 2, 3)])
    assert len(work._ready._waiters) == 3  # type: ignore[attr-defined]  # notified: one
    for _ in workers:  # let them all go (each takes one or exits)
        work.stop_workers(1)
    for w in workers:
        w.join(10)
