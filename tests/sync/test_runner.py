"""The runner in-process, on SQLite and PostgreSQL: one job at a time and with its threads."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

import jobtypes
from db import jobs
from db.models import JobStep, PipelineJob, RelatedRecord
from jobtypes import NOOP
from settings import Settings
from sync import workflows
from sync.context import JobContext
from sync.runner import Runner

ReadJob = Callable[[int], PipelineJob]


def enqueue(session_factory: sessionmaker[Session], tenant_id: int, params: dict[str, object], **kw: object) -> int:
    with session_factory() as s:
        jid = jobs.enqueue(s, tenant_id=tenant_id, job_type=str(kw.pop("job_type", "noop")), params=params, **kw).id  # type: ignore[arg-type]
        s.commit()
    return jid


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def run_burst(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, n: int, *,
    timeout: float = 10.0, then: Callable[[], None] = lambda: None,
) -> None:  # fmt: skip
    """Queue ``n`` noop jobs, run the threaded runner until all are COMPLETED, call ``then``, stop it."""
    with session_factory() as s:
        jobs.enqueue_many(s, [jobs.JobSpec(tenant_id, "noop") for _ in range(n)])
        s.commit()
    runner.start()
    try:
        runner.wake()

        def all_done() -> bool:
            with session_factory() as s:
                return s.query(PipelineJob).filter_by(status="COMPLETED").count() == n

        wait_for(all_done, timeout)
        then()
    finally:
        runner.stop(grace_s=5)


def test_the_registry_handles_noop_and_refuses_uncatalogued_names() -> None:
    assert NOOP in workflows.load()
    assert workflows.get(NOOP).entry is jobtypes.job_type(NOOP)
    with pytest.raises(jobtypes.UnknownJobType, match="unknown job_type"):
        workflows.get("no-such-type")
    with pytest.raises(jobtypes.UnknownJobType, match="unknown job_type"):
        workflows.register("no-such-type")


def test_run_once_completes_a_job_with_its_result_and_duration(runner: Runner, session_factory: sessionmaker[Session],
                                                                tenant_id: int, read_job: ReadJob) -> None:  # fmt: skip
    jid = enqueue(session_factory, tenant_id, {})
    assert runner.run_once() is True
    assert runner.run_once() is False
    row = read_job(jid)
    assert (row.status, row.attempts, row.locked_by) == ("COMPLETED", 1, None)
    assert row.result == {"ok": True, "attempt": 1, "polls": 0}
    assert row.metrics is not None and row.metrics["duration_ms"] >= 0


def test_a_failing_job_is_retried_after_the_backoff_and_then_fails_with_the_error(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    now = [dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)]
    runner.clock = lambda: now[0]
    jid = enqueue(session_factory, tenant_id, {"fail_times": 9}, run_at=now[0])
    assert runner.run_once()
    row = read_job(jid)
    assert (row.status, row.error) == ("QUEUED", "TransientJobError: noop failure 1 of 9")
    assert row.run_at == now[0] + dt.timedelta(seconds=2)
    now[0] += dt.timedelta(seconds=1.9)
    assert not runner.run_once()  # still backing off
    now[0] += dt.timedelta(seconds=0.1)
    assert runner.run_once()
    assert read_job(jid).run_at == now[0] + dt.timedelta(seconds=4)
    now[0] += dt.timedelta(seconds=4)
    assert runner.run_once()
    row = read_job(jid)
    assert (row.status, row.attempts, row.error) == ("FAILED", 3, "TransientJobError: noop failure 3 of 9")
    with session_factory() as s:
        steps = [st.message for st in s.query(JobStep).filter_by(job_id=jid).order_by(JobStep.id)]
    assert steps[-1] == "attempt 3 failed (giving up): TransientJobError: noop failure 3 of 9"


def test_a_transient_failure_then_success_completes_on_the_second_attempt(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    jid = enqueue(session_factory, tenant_id, {"fail_times": 1})
    runner.run_once()
    runner.clock = lambda: jobs._sql.utcnow() + dt.timedelta(seconds=3)
    runner.run_once()
    row = read_job(jid)
    assert (row.status, row.attempts, row.error) == ("COMPLETED", 2, None)


@pytest.mark.parametrize(
    ("job_type", "params", "error"),
    [
        ("noop", {"fail_times": 1, "permanent": True}, "PermanentJobError: noop failure 1 of 1"),
        ("noop", {"sleep_ms": "soon"}, "invalid params"),
        ("no-such-type", {}, "unknown job_type 'no-such-type'"),
    ],
)
def test_permanent_failures_fail_at_once(runner: Runner, session_factory: sessionmaker[Session], tenant_id: int,
                                         read_job: ReadJob, job_type: str, params: dict[str, object],
                                         error: str) -> None:  # fmt: skip
    jid = enqueue(session_factory, tenant_id, params, job_type=job_type)
    runner.run_once()
    row = read_job(jid)
    assert (row.status, row.attempts) == ("FAILED", 1)
    assert row.error is not None and row.error.startswith(error)


def test_an_attempt_past_its_timeout_fails_and_is_retried(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    jid = enqueue(session_factory, tenant_id, {"sleep_ms": 60_000}, timeout_s=1)
    started = time.monotonic()
    runner.run_once()
    assert time.monotonic() - started < 5
    row = read_job(jid)
    assert (row.status, row.attempts, row.deadline_at) == ("QUEUED", 1, None)
    assert row.error is not None and row.error.startswith("JobTimedOut: timed out")


def test_poll_again_requeues_without_spending_attempts(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    jid = enqueue(session_factory, tenant_id, {"poll_times": 2, "poll_after_s": 0})
    assert runner.run_until_empty() == 3
    row = read_job(jid)
    assert (row.status, row.attempts, row.result) == ("COMPLETED", 1, {"ok": True, "attempt": 1, "polls": 2})


def test_polling_past_the_deadline_fails_the_attempt(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    jid = enqueue(session_factory, tenant_id, {"poll_times": 1, "poll_after_s": 120}, timeout_s=60)
    runner.run_once()
    row = read_job(jid)
    assert row.status == "QUEUED" and row.error is not None and "polling would pass the deadline" in row.error


def test_the_context_writes_steps_calls_records_and_progress(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    jid = enqueue(session_factory, tenant_id, {})
    deadline = jobs._sql.utcnow() + dt.timedelta(minutes=1)
    ctx = JobContext(engine=runner.engine, settings=runner.settings, job_id=jid, tenant_id=tenant_id,
                     job_type="noop", attempt=1, max_attempts=3, deadline=deadline)  # fmt: skip
    ctx.step("fetched the invoice")
    ctx.recorder("xero", "GET", "/api.xro/2.0/Invoices/{id}", 200, 41.5)
    ctx.record("xero", "Invoice", "inv-1", "READ", url="https://go.xero.com/inv-1")
    ctx.progress(0.25)
    with session_factory() as s:
        steps = s.query(JobStep).filter_by(job_id=jid).order_by(JobStep.id).all()
        assert [(st.kind, st.message) for st in steps] == [
            ("info", "fetched the invoice"),
            ("call", "GET /api.xro/2.0/Invoices/{id} → 200"),
        ]
        assert (steps[1].system, steps[1].status_code, steps[1].latency_ms) == ("xero", 200, 41.5)
        rec = s.query(RelatedRecord).one()
        assert (rec.tenant_id, rec.record_id, rec.action) == (tenant_id, "inv-1", "READ")
    assert read_job(jid).metrics == {"progress": 0.25}


def test_the_threaded_runner_runs_a_burst_and_records_itself(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int
) -> None:
    run_burst(runner, session_factory, tenant_id, 50, then=runner.heartbeat)
    with session_factory() as s:
        row = s.execute(jobs._sql.RUNNERS.select()).one()
        assert (row.id, row.slots, row.stopped_at is not None) == ("test-runner", 4, True)


def test_cancelling_a_running_job_stops_it_at_its_next_check(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    jid = enqueue(session_factory, tenant_id, {"sleep_ms": 30_000})
    runner.start()
    try:
        runner.wake()
        wait_for(lambda: read_job(jid).status == "RUNNING")
        with session_factory() as s:
            assert jobs.cancel(s, jid, by="alice") == "RUNNING"
            s.commit()
        runner.heartbeat()  # the APScheduler tick, by hand
        wait_for(lambda: read_job(jid).status == "CANCELLED", timeout=5)
    finally:
        runner.stop(grace_s=1)
    assert read_job(jid).error == "cancelled by alice"


def test_stopping_gives_back_unstarted_jobs_and_lets_running_ones_finish(
    fast_settings: object, engine: object, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob
) -> None:
    settings = fast_settings.model_copy(update={"runner_concurrency": 1, "runner_prefetch": 3})  # type: ignore[attr-defined]
    runner = Runner(settings, engine, runner_id="r-stop")  # type: ignore[arg-type]
    first = enqueue(session_factory, tenant_id, {"sleep_ms": 700}, priority=1)
    rest = [enqueue(session_factory, tenant_id, {"sleep_ms": 700}) for _ in range(3)]
    runner.start()
    runner.wake()
    # ``first`` started (its worker took it; RUNNING alone is only claimed), the rest claimed.
    wait_for(lambda: read_job(first).attempt_started and read_job(rest[-1]).status == "RUNNING")
    runner.stop(grace_s=5)
    assert (read_job(first).status, read_job(first).attempts) == ("COMPLETED", 1)
    for jid in rest:
        row = read_job(jid)
        assert (row.status, row.attempts, row.locked_by, row.started_at) == ("QUEUED", 0, None, None)


def test_a_runner_started_while_the_database_is_down_waits_for_it_and_can_be_stopped(
    fast_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on this port: the database "is down" (tests/reliability/test_faults_postgres.py
    # starts one during a real outage and sees it register and work once PostgreSQL is back).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://zixly:not-a-real-secret@127.0.0.1:{port}/zixly"
    down = Runner(fast_settings.model_copy(update={"database_url": url}), runner_id="r-down")
    until = threading.Event()
    threading.Timer(1.2, until.set).start()
    caplog.set_level(logging.WARNING, logger="zixly.runner")
    started = time.monotonic()
    assert down.start(until=until) is False  # gave up only because it was told to stop
    assert 1.1 < time.monotonic() - started < 3.0
    waits = [r.getMessage() for r in caplog.records if "database unreachable" in r.getMessage()]
    assert len(waits) >= 2, waits  # it tried more than once: it waited instead of exiting
    assert all("not-a-real-secret" not in m for m in caplog.messages)
    assert down._threads == []  # no worker, dispatcher or finisher started
    down.engine.dispose()


def test_under_load_completions_are_written_many_per_statement(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each statement costs about as much as a batch of completions (sync/runner.py, FINISH_GATHER):
    # while other jobs are in flight, the finisher waits a few ms for their outcomes.
    statements: list[int] = []
    complete = jobs.complete

    def counted(conn: object, runner_id: str, finished: list[jobs.Finished], **kw: object) -> list[int]:
        statements.append(len(finished))
        return complete(conn, runner_id, finished, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "complete", counted)
    run_burst(runner, session_factory, tenant_id, 400, timeout=60)
    assert sum(statements) == 400
    assert len(statements) <= 400 / 8, statements  # drained as they came: 1–4 per statement


def test_an_idle_runner_writes_a_lone_completion_without_gathering(
    runner: Runner, session_factory: sessionmaker[Session], tenant_id: int, read_job: ReadJob,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # A gather window far longer than the wait below: had the finisher waited for more outcomes
    # with nothing else in flight, this job would still be RUNNING when the wait gives up.
    monkeypatch.setattr("sync.runner.FINISH_GATHER_S", 120.0)
    runner.start()
    try:
        runner.wake()
        wait_for(lambda: runner._more is False, timeout=10)  # the first claim found the queue empty
        jid = enqueue(session_factory, tenant_id, {})
        runner.wake()
        wait_for(lambda: read_job(jid).status == "COMPLETED", timeout=20)
    finally:
        runner.stop(grace_s=5)


def test_many_workers_share_a_bounded_pool_of_connections(
    fast_settings: Settings, session_factory: sessionmaker[Session], tenant_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A runner tuned for many tiny jobs has far more workers than PostgreSQL has connections to
    # spare (max_connections is 100 by default, shared by every runner): its workers share at
    # most WORKER_CONNECTIONS; a worker past them waits for one.
    from sqlalchemy import text

    from db.engine import make_engine
    from sync.connections import WORKER_CONNECTIONS

    if fast_settings.is_sqlite:
        pytest.skip("SQLite has one writer and no connection limit")

    def query_for_a_while(ctx: JobContext, params: dict[str, object]) -> dict[str, object]:
        with ctx.engine.connect() as conn:  # all 64 at once: more than the pool holds
            conn.execute(text("SELECT pg_sleep(0.2)"))
        ctx.step("queried")
        return {}

    noop = workflows.get(NOOP)
    monkeypatch.setitem(workflows._registry, NOOP, workflows.Workflow(noop.entry, query_for_a_while))
    url = fast_settings.database_url + "?application_name=zixly-bounded-pool"
    runner = Runner(
        fast_settings.model_copy(update={"database_url": url, "runner_concurrency": 64}), runner_id="r-many"
    )
    watch = make_engine(fast_settings.database_url)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        with watch.connect() as conn:
            while not stop.wait(0.005):
                sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'zixly-bounded-pool'"
                peak = max(peak, int(conn.execute(text(sql)).scalar_one()))
                conn.rollback()  # pg_stat_activity is read once per transaction

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run_burst(runner, session_factory, tenant_id, 64, timeout=30)
    finally:
        stop.set()
        sampler.join()
        watch.dispose()
        runner.engine.dispose()
    with session_factory() as s:
        assert s.query(JobStep).filter_by(message="queried").count() == 64
    # The shared pool (the workers' connections + 3 for ticks, 4 overflow) and the three hot
    # statements' own (one each, one overflow).
    assert 0 < peak <= WORKER_CONNECTIONS + 3 + 4 + 3 * 2, peak
