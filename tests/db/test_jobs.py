"""The queue's SQL on SQLite and PostgreSQL: enqueue, claim, finish, retry, cancel, rerun."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from db.engine import make_engine
from db.filters import JobFilter
from db.models import JobStep, PipelineJob, RelatedRecord, Tenant
from sync.listen import libpq_url

enqueue_module = importlib.import_module("db.jobs.enqueue")  # db.jobs.enqueue is also a function

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def claim(session: Session, runner_id: str, **kwargs: Any) -> list[jobs.ClaimedJob]:
    """Claim and start each claimed job, as a runner's workers do (an attempt counts from its start)."""
    claimed = jobs.claim(session, runner_id, **kwargs)
    for c in claimed:
        assert jobs.start(session, runner_id, c)
    return claimed


def no_jitter(_delay: float) -> float:
    return 0.0


@pytest.fixture
def tenant_id(session: Session) -> int:
    t = Tenant(name="Acme")
    session.add(t)
    session.commit()
    return t.id


def job(session: Session, job_id: int) -> PipelineJob:
    session.expire_all()
    found = session.get(PipelineJob, job_id)
    assert found is not None
    return found


def test_enqueue_stores_a_queued_job_with_the_lifecycle_defaults(session: Session, tenant_id: int) -> None:
    out = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", params={"a": 1}, created_by="alice", now=T0)
    session.commit()
    assert out.created
    row = job(session, out.id)
    assert (row.status, row.params, row.attempts, row.max_attempts, row.timeout_s) == ("QUEUED", {"a": 1}, 0, 3, 3600)
    assert row.run_at == T0 and row.created_by == "alice"


def test_an_existing_idempotency_key_returns_the_existing_job(session: Session, tenant_id: int) -> None:
    first = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", idempotency_key="xero:evt-1")
    session.commit()
    again = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", idempotency_key="xero:evt-1")
    session.commit()
    assert again == jobs.Enqueued(first.id, False)
    assert session.query(PipelineJob).count() == 1


def test_enqueue_many_keeps_order_and_dedupes_within_and_across_batches(session: Session, tenant_id: int) -> None:
    old = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", idempotency_key="k0").id
    specs = [
        jobs.JobSpec(tenant_id, "noop", {"n": 1}),
        jobs.JobSpec(tenant_id, "noop", {"n": 2}, idempotency_key="k0"),
        jobs.JobSpec(tenant_id, "noop", {"n": 3}, idempotency_key="k1"),
        jobs.JobSpec(tenant_id, "noop", {"n": 4}),
        jobs.JobSpec(tenant_id, "noop", {"n": 5}, idempotency_key="k1"),
    ]
    out = jobs.enqueue_many(session, specs)
    session.commit()
    assert [o.created for o in out] == [True, False, True, True, False]
    assert out[1].id == old and out[4].id == out[2].id
    assert [job(session, out[i].id).params["n"] for i in (0, 2, 3)] == [1, 3, 4]
    assert session.query(PipelineJob).count() == 4


def test_a_batch_of_several_statements_keeps_order_and_keys_across_them_and_fails_whole(
    session: Session, tenant_id: int
) -> None:
    # More specs than one statement takes (pipelined on PostgreSQL): a key repeated in a later
    # statement is the earlier statement's job, and the results follow the specs.
    size = enqueue_module.PG_CHUNK if session.get_bind().dialect.name == "postgresql" else enqueue_module.CHUNK
    n = 2 * size + 7
    specs = [jobs.JobSpec(tenant_id, "noop", {"n": i}, idempotency_key=f"k{i % (size + 3)}") for i in range(n)]
    out = jobs.enqueue_many(session, specs)
    session.commit()
    assert len(out) == n
    assert [o.created for o in out] == [i < size + 3 for i in range(n)]
    assert all(out[i].id == out[i % (size + 3)].id for i in range(n))
    assert [job(session, out[i].id).params["n"] for i in (0, size - 1, size, size + 2)] == [0, size - 1, size, size + 2]
    assert session.query(PipelineJob).count() == size + 3
    # A statement that fails (a tenant that does not exist) fails the whole batch: nothing of it stays.
    bad = [jobs.JobSpec(tenant_id, "noop", {"m": i}) for i in range(size + 1)] + [jobs.JobSpec(999_999, "noop")]
    with pytest.raises(IntegrityError):
        jobs.enqueue_many(session, bad)
    session.rollback()
    assert session.query(PipelineJob).count() == size + 3


def test_claim_takes_higher_priority_first_then_older_run_at(session: Session, tenant_id: int) -> None:
    low = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", priority=0, run_at=T0).id
    high = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", priority=5, run_at=T0).id
    mid_late = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", priority=1, run_at=T0).id
    mid_early = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", priority=1, run_at=T0 - dt.timedelta(1)).id
    future = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", priority=9, run_at=T0 + dt.timedelta(1)).id
    session.commit()
    claimed = claim(session, "r1", limit=10, lease_s=30, now=T0)
    session.commit()
    assert [c.id for c in claimed] == [high, mid_early, mid_late, low]
    assert future not in [c.id for c in claimed]
    row = job(session, high)
    assert (row.status, row.attempts, row.locked_by) == ("RUNNING", 1, "r1")
    assert row.locked_until == T0 + dt.timedelta(seconds=30)
    assert row.started_at == T0 and row.deadline_at == T0 + dt.timedelta(seconds=3600)
    assert claimed[0].attempt == 1 and claimed[0].deadline_at == row.deadline_at


def test_claim_respects_the_limit(session: Session, tenant_id: int) -> None:
    jobs.enqueue_many(session, [jobs.JobSpec(tenant_id, "noop") for _ in range(5)], now=T0)
    assert len(claim(session, "r1", limit=3, lease_s=30, now=T0)) == 3
    assert len(claim(session, "r1", limit=3, lease_s=30, now=T0)) == 2
    assert claim(session, "r1", limit=3, lease_s=30, now=T0) == []


def test_complete_records_the_result_and_ignores_a_runner_that_lost_the_job(session: Session, tenant_id: int) -> None:
    a, b = (e.id for e in jobs.enqueue_many(session, [jobs.JobSpec(tenant_id, "noop")] * 2, now=T0))
    claimed = claim(session, "r1", limit=2, lease_s=30, now=T0)
    done = jobs.complete(
        session, "r1", [jobs.Finished(a, 1, {"ok": True}, {"duration_ms": 3}), jobs.Finished(b, 2, {"x": 1})], now=T0
    )
    assert len(claimed) == 2 and done == [a]  # b: wrong attempt number
    assert jobs.complete(session, "r2", [jobs.Finished(b, 1, {})]) == []  # r2 never held b
    session.commit()
    row = job(session, a)
    assert (row.status, row.result, row.metrics, row.locked_by) == ("COMPLETED", {"ok": True}, {"duration_ms": 3}, None)
    assert row.completed_at == T0 and job(session, b).status == "RUNNING"


def test_a_transient_failure_backs_off_exponentially_then_fails_with_the_error(
    session: Session, tenant_id: int
) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", now=T0).id
    now = T0
    for attempt, delay in ((1, 2), (2, 4)):
        [c] = claim(session, "r1", limit=1, lease_s=30, now=now)
        assert c.attempt == attempt
        status = jobs.fail(
            session,
            jid,
            runner_id="r1",
            attempt=attempt,
            error=f"boom {attempt}",
            permanent=False,
            now=now,
            jitter=no_jitter,
        )
        row = job(session, jid)
        assert (status, row.status, row.error) == ("QUEUED", "QUEUED", f"boom {attempt}")
        assert row.run_at == now + dt.timedelta(seconds=delay)
        assert claim(session, "r1", limit=1, lease_s=30, now=now + dt.timedelta(seconds=delay - 0.1)) == []
        now += dt.timedelta(seconds=delay)
    [c] = claim(session, "r1", limit=1, lease_s=30, now=now)
    assert jobs.fail(session, jid, runner_id="r1", attempt=3, error="boom 3", permanent=False, now=now) == "FAILED"
    session.commit()
    row = job(session, jid)
    assert (row.status, row.attempts, row.error, row.completed_at) == ("FAILED", 3, "boom 3", now)


def test_backoff_adds_the_jitter_to_two_seconds_times_two_to_the_attempt() -> None:
    assert [jobs.backoff_s(n, no_jitter) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert jobs.backoff_s(3, lambda d: d / 10) == pytest.approx(8.8)
    assert all(8 <= jobs.backoff_s(3) <= 10 for _ in range(100))


def test_a_permanent_failure_fails_at_once(session: Session, tenant_id: int) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop").id
    claim(session, "r1", limit=1, lease_s=30)
    assert jobs.fail(session, jid, runner_id="r1", attempt=1, error="404 contact gone", permanent=True) == "FAILED"
    session.commit()
    assert (job(session, jid).status, job(session, jid).attempts) == ("FAILED", 1)


def test_cancel_stops_a_queued_job_at_once_and_flags_a_running_one(session: Session, tenant_id: int) -> None:
    queued = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", priority=-1).id
    running = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop").id
    claim(session, "r1", limit=1, lease_s=30)
    assert jobs.cancel(session, queued, by="alice") == "CANCELLED"
    assert jobs.cancel(session, running, by="alice") == "RUNNING"
    assert jobs.heartbeat(session, "r1", [running], lease_s=30) == {running: True}
    session.commit()
    assert job(session, queued).error == "cancelled by alice"
    assert job(session, running).cancel_requested
    # A failing attempt of a job asked to stop is not retried.
    assert jobs.fail(session, running, runner_id="r1", attempt=1, error="x", permanent=False) == "CANCELLED"
    assert jobs.cancel(session, running, by="bob") == "CANCELLED"
    with pytest.raises(LookupError):
        jobs.cancel(session, 10_000, by="alice")


def test_rerun_makes_a_child_job_and_never_touches_the_original(session: Session, tenant_id: int) -> None:
    orig = jobs.enqueue(
        session,
        tenant_id=tenant_id,
        job_type="noop",
        params={"a": 1},
        priority=3,
        idempotency_key="once",
        concurrency_key="k",
    ).id
    claim(session, "r1", limit=1, lease_s=30)
    jobs.fail(session, orig, runner_id="r1", attempt=1, error="bad", permanent=True)
    session.commit()
    before = {c: getattr(job(session, orig), c) for c in ("status", "params", "error", "attempts", "completed_at")}
    same = jobs.rerun(session, orig, created_by="alice")
    edited = jobs.rerun(session, orig, params={"a": 2}, created_by="bob")
    session.commit()
    assert {c: getattr(job(session, orig), c) for c in before} == before
    for child_id, params, by in ((same, {"a": 1}, "alice"), (edited, {"a": 2}, "bob")):
        child = job(session, child_id)
        assert (child.parent_job_id, child.params, child.created_by, child.status) == (orig, params, by, "QUEUED")
        assert (child.priority, child.concurrency_key, child.idempotency_key) == (3, "k", None)


def test_bulk_rerun_reruns_the_failed_jobs_matching_the_filter_once(session: Session, tenant_id: int) -> None:
    other = Tenant(name="Other")
    session.add(other)
    session.flush()
    ids = [
        e.id
        for e in jobs.enqueue_many(
            session,
            [
                jobs.JobSpec(tenant_id, "noop"),
                jobs.JobSpec(tenant_id, "xero_sync"),
                jobs.JobSpec(other.id, "noop"),
                jobs.JobSpec(tenant_id, "noop"),
            ],
        )
    ]
    claim(session, "r1", limit=4, lease_s=30)
    for jid in ids[:3]:
        jobs.fail(session, jid, runner_id="r1", attempt=1, error="x", permanent=True)
    jobs.complete(session, "r1", [jobs.Finished(ids[3], 1)])
    session.commit()
    new = jobs.bulk_rerun(session, JobFilter(tenant_ids=(tenant_id,), job_types=("noop",)), created_by="alice")
    session.commit()
    assert [job(session, n).parent_job_id for n in new] == [ids[0]]
    assert jobs.bulk_rerun(session, JobFilter(tenant_ids=(tenant_id,)), created_by="alice") == [new[0] + 1]
    assert job(session, new[0] + 1).parent_job_id == ids[1]


def test_jobs_sharing_a_concurrency_key_never_run_together(session: Session, tenant_id: int) -> None:
    a, b, c = (
        e.id
        for e in jobs.enqueue_many(
            session,
            [
                jobs.JobSpec(tenant_id, "noop", concurrency_key="shopify:order:1"),
                jobs.JobSpec(tenant_id, "noop", concurrency_key="shopify:order:1"),
                jobs.JobSpec(tenant_id, "noop", concurrency_key="shopify:order:2"),
            ],
            now=T0,
        )
    )
    session.commit()
    assert [j.id for j in claim(session, "r1", limit=10, lease_s=30, now=T0)] == [a, c]
    session.commit()
    assert claim(session, "r2", limit=10, lease_s=30, now=T0) == []
    jobs.complete(session, "r1", [jobs.Finished(a, 1)])
    session.commit()
    assert [j.id for j in claim(session, "r2", limit=10, lease_s=30, now=T0)] == [b]


def test_an_expired_lease_is_reaped_and_a_started_attempt_counts(session: Session, tenant_id: int) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", max_attempts=2, now=T0).id
    claim(session, "dead", limit=1, lease_s=2, now=T0)
    assert jobs.reap_expired(session, now=T0 + dt.timedelta(seconds=1)) == {}
    assert jobs.heartbeat(session, "dead", [jid], lease_s=2, now=T0 + dt.timedelta(seconds=1)) == {jid: False}
    assert jobs.reap_expired(session, now=T0 + dt.timedelta(seconds=3.5)) == {jid: "QUEUED"}
    assert "runner dead" in (job(session, jid).error or "")
    [again] = claim(session, "r2", limit=1, lease_s=2, now=T0 + dt.timedelta(seconds=4))
    assert again.attempt == 2
    assert jobs.heartbeat(session, "dead", [jid], lease_s=2) == {}
    assert jobs.reap_expired(session, now=T0 + dt.timedelta(seconds=9)) == {jid: "FAILED"}


def test_poll_later_requeues_without_spending_an_attempt_and_keeps_the_deadline(
    session: Session, tenant_id: int
) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", timeout_s=60, now=T0).id
    [c] = claim(session, "r1", limit=1, lease_s=30, now=T0)
    assert jobs.poll_later(session, jid, runner_id="r1", attempt=1, after_s=10, now=T0) == "QUEUED"
    row = job(session, jid)
    assert (row.attempts, row.run_at, row.deadline_at) == (0, T0 + dt.timedelta(seconds=10), c.deadline_at)
    [again] = claim(session, "r1", limit=1, lease_s=30, now=T0 + dt.timedelta(seconds=10))
    assert (again.attempt, again.deadline_at) == (1, T0 + dt.timedelta(seconds=60))


def test_a_claim_spends_no_attempt_until_its_handler_starts(session: Session, tenant_id: int) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", now=T0).id
    [c] = jobs.claim(session, "r1", limit=1, lease_s=30, now=T0)
    row = job(session, jid)
    assert (row.status, row.attempts, row.attempt_started, c.attempt) == ("RUNNING", 0, False, 1)
    assert not jobs.start(session, "r2", c)  # only the claiming runner starts it
    assert jobs.start(session, "r1", c)
    assert not jobs.start(session, "r1", c)  # and only once
    session.commit()
    row = job(session, jid)
    assert (row.attempts, row.attempt_started) == (1, True)


def test_a_dead_runners_unstarted_claims_go_back_at_no_cost_however_often(session: Session, tenant_id: int) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", max_attempts=1, now=T0).id
    now = T0
    for _ in range(5):  # five runners die holding it in their prefetch
        [c] = jobs.claim(session, "doomed", limit=1, lease_s=2, now=now)
        now += dt.timedelta(seconds=3)
        assert jobs.reap_expired(session, now=now) == {jid: "QUEUED"}
        assert not jobs.start(session, "doomed", c)  # a late start after the reap changes nothing
    session.commit()
    row = job(session, jid)
    assert (row.status, row.attempts, row.error) == ("QUEUED", 0, None)
    [last] = claim(session, "r1", limit=1, lease_s=30, now=now)
    assert last.attempt == 1
    assert jobs.complete(session, "r1", [jobs.Finished(jid, 1, {"ok": True})], now=now) == [jid]


def test_released_jobs_are_as_if_never_claimed(session: Session, tenant_id: int) -> None:
    jid = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", now=T0).id
    claimed = jobs.claim(session, "r1", limit=1, lease_s=30, now=T0)
    assert jobs.release(session, "r1", claimed) == [jid]
    session.commit()
    row = job(session, jid)
    assert (row.status, row.attempts, row.started_at, row.deadline_at, row.locked_by) == ("QUEUED", 0, None, None, None)


def test_steps_records_and_progress_are_kept_and_pruned_with_their_job(session: Session, tenant_id: int) -> None:
    old, recent, queued = (e.id for e in jobs.enqueue_many(session, [jobs.JobSpec(tenant_id, "noop")] * 3, now=T0))
    claim(session, "r1", limit=2, lease_s=30, now=T0)
    jobs.append_step(
        session,
        old,
        "GET /contacts",
        kind="call",
        system="xero",
        method="GET",
        path="/contacts/{id}",
        status_code=200,
        latency_ms=12.5,
    )
    jobs.record_related(
        session, old, tenant_id=tenant_id, system="xero", record_type="Contact", record_id="c-1", action="READ"
    )
    jobs.set_progress(session, old, 0.5)
    jobs.complete(session, "r1", [jobs.Finished(old, 1)], now=T0 - dt.timedelta(days=91))
    jobs.complete(session, "r1", [jobs.Finished(recent, 1)], now=T0 - dt.timedelta(days=89))
    session.commit()
    assert job(session, old).metrics == {"progress": 0.5}
    step = session.scalars(select(JobStep)).one()
    assert (step.kind, step.system, step.path, step.status_code) == ("call", "xero", "/contacts/{id}", 200)
    assert jobs.prune(session, 90, now=T0) == 1
    session.commit()
    assert {j.id for j in session.scalars(select(PipelineJob))} == {recent, queued}
    assert session.query(JobStep).count() == 0 and session.query(RelatedRecord).count() == 0


def test_pruning_goes_in_chunks_oldest_first_and_never_takes_an_unfinished_job(
    session: Session, tenant_id: int
) -> None:
    old = T0 - dt.timedelta(days=200)
    specs = [jobs.JobSpec(tenant_id, "noop")] * 4
    done_1, done_2, done_3, running = (e.id for e in jobs.enqueue_many(session, specs, now=old))
    claim(session, "r1", limit=4, lease_s=30, now=old)
    for i, jid in enumerate((done_3, done_1, done_2)):  # completed in this order
        jobs.complete(session, "r1", [jobs.Finished(jid, 1)], now=old + dt.timedelta(minutes=i))
    session.commit()
    assert jobs.prune(session, 90, limit=2, now=T0) == 2
    session.commit()
    assert {j.id for j in session.scalars(select(PipelineJob))} == {done_2, running}
    assert jobs.prune(session, 90, limit=2, now=T0) == 1
    assert jobs.prune(session, 90, limit=2, now=T0) == 0
    session.commit()
    assert [(j.id, j.status) for j in session.scalars(select(PipelineJob))] == [(running, "RUNNING")]


def test_runner_rows_and_metric_queries(session: Session, tenant_id: int) -> None:
    jobs.register_runner(session, "h:1", host="h", pid=1, slots=4, now=T0)
    jobs.beat_runner(session, "h:1", busy=2, now=T0)
    jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", run_at=T0 - dt.timedelta(seconds=30))
    done = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop", now=T0 - dt.timedelta(minutes=5)).id
    [c] = jobs.claim(session, "h:1", limit=1, lease_s=30, now=T0 - dt.timedelta(minutes=5))
    assert c.id == done and jobs.start(session, "h:1", c)
    jobs.complete(session, "h:1", [jobs.Finished(done, 1)], now=T0)
    session.commit()
    # Unfinished jobs only: finished ones are history (a full scan at 10 M jobs), counted by the runner's counter.
    assert jobs.job_counts(session) == {"QUEUED": 1, "RUNNING": 0, "WAITING": 0, "PAUSED": 0}
    assert jobs.oldest_queued_age_s(session, now=T0) == pytest.approx(30)
    jobs.stop_runner(session, "h:1", now=T0)
    session.commit()


@pytest.mark.parametrize("start", [0, 1], ids=["prefetch", "started-by-its-claim"])
def test_two_runners_racing_for_one_concurrency_key_get_one_job_between_them(pg_url: str, start: int) -> None:
    engine: Engine = make_engine(pg_url)
    factory = sessionmaker(engine)
    with factory() as s:
        t = Tenant(name="Race")
        s.add(t)
        s.flush()
        a, b = (e.id for e in jobs.enqueue_many(s, [jobs.JobSpec(t.id, "noop", concurrency_key="k")] * 2))
        s.commit()
    first = factory()
    got_a = claim(first, "r1", limit=1, lease_s=30)  # holds a and the key's lock, uncommitted
    result: list[list[jobs.ClaimedJob]] = []

    def second() -> None:
        with factory() as s:
            result.append(claim(s, "r2", limit=1, lease_s=30, start=start))
            s.commit()

    # Force the race: r2 claims b while r1's claim of a is not yet committed.
    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)
    first.commit()
    thread.join(5)
    first.close()
    assert [j.id for j in got_a] == [a]
    assert result == [[]]
    with factory() as s:
        lost = s.get(PipelineJob, b)
        assert lost is not None and (lost.status, lost.attempts, lost.attempt_started) == ("QUEUED", 0, False)
    engine.dispose()


def test_a_heartbeat_never_waits_for_a_row_its_runner_is_finishing(pg_url: str) -> None:
    """The heartbeat and a worker's batch lock one runner's rows; waiting in opposite orders deadlocked."""
    engine = make_engine(pg_url)
    factory = sessionmaker(engine)
    with factory() as s:
        t = Tenant(name="Beat")
        s.add(t)
        s.flush()
        a, b = (e.id for e in jobs.enqueue_many(s, [jobs.JobSpec(t.id, "noop")] * 2, now=T0))
        claim(s, "r1", limit=2, lease_s=30, now=T0)
        s.commit()
    worker = factory()  # finishing b: holds b's row lock, uncommitted
    assert jobs.complete(worker, "r1", [jobs.Finished(b, 1)], now=T0) == [b]
    beats: list[dict[int, bool]] = []

    def beat() -> None:
        with factory() as s:
            beats.append(jobs.heartbeat(s, "r1", [a, b], lease_s=60, now=T0))
            s.commit()

    thread = threading.Thread(target=beat)
    thread.start()
    thread.join(5)
    finished_before_worker = not thread.is_alive()
    # The worker's batch goes on to a (the old heartbeat, waiting on b while holding a, deadlocked here).
    assert jobs.complete(worker, "r1", [jobs.Finished(a, 1)], now=T0) == [a]
    worker.commit()
    worker.close()
    thread.join(5)
    assert finished_before_worker
    assert beats == [{a: False, b: False}]  # both still held when it looked: b's completion was not committed
    with factory() as s:
        assert {j.id: j.status for j in s.scalars(select(PipelineJob))} == {a: "COMPLETED", b: "COMPLETED"}
    engine.dispose()


def test_a_heartbeat_extends_the_leases_it_holds_and_drops_the_reaped(session: Session, tenant_id: int) -> None:
    held, reaped = (e.id for e in jobs.enqueue_many(session, [jobs.JobSpec(tenant_id, "noop")] * 2, now=T0))
    claim(session, "r1", limit=2, lease_s=2, now=T0)
    session.commit()
    assert jobs.reap_expired(session, now=T0 + dt.timedelta(seconds=3)) == {held: "QUEUED", reaped: "QUEUED"}
    claim(session, "r1", limit=1, lease_s=2, now=T0 + dt.timedelta(seconds=3))
    session.commit()
    assert jobs.heartbeat(session, "r1", [held, reaped], lease_s=60, now=T0 + dt.timedelta(seconds=4)) == {held: False}
    session.commit()
    assert job(session, held).locked_until == T0 + dt.timedelta(seconds=64)


def test_concurrent_enqueues_of_one_idempotency_key_make_one_job(pg_url: str) -> None:
    engine = make_engine(pg_url)
    factory = sessionmaker(engine)
    with factory() as s:
        t = Tenant(name="Dup")
        s.add(t)
        s.commit()
        tenant = t.id
    barrier = threading.Barrier(6)
    results: list[jobs.Enqueued] = []

    def deliver() -> None:
        with factory() as s:
            barrier.wait()
            results.append(jobs.enqueue(s, tenant_id=tenant, job_type="noop", idempotency_key="evt-9"))
            s.commit()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert len({r.id for r in results}) == 1 and sorted(r.created for r in results) == [False] * 5 + [True]
    with factory() as s:
        assert s.query(PipelineJob).count() == 1
    engine.dispose()


def _listener(pg_url: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(libpq_url(pg_url), autocommit=True)
    conn.execute(f"LISTEN {jobs.CHANNEL}")
    return conn


def _woken(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    return sum(1 for _ in conn.notifies(timeout=0.3))


def test_enqueue_wakes_the_runners_when_its_transaction_commits_not_before(pg_url: str) -> None:
    engine = make_engine(pg_url)
    listen = _listener(pg_url)
    with engine.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('N') RETURNING id")).scalar_one()
    with engine.connect() as conn:
        jobs.enqueue(conn, tenant_id=tenant, job_type="noop")
        assert _woken(listen) == 0
        conn.commit()
    assert _woken(listen) == 1
    listen.close()
    engine.dispose()


def test_a_quiet_enqueue_wakes_no_one_until_notify_runners_after_the_commit(pg_url: str) -> None:
    engine = make_engine(pg_url)
    listen = _listener(pg_url)
    with engine.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('Q') RETURNING id")).scalar_one()
    with engine.begin() as conn:
        created = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", notify=False)
        jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop")] * 3, notify=False)
    assert _woken(listen) == 0
    with engine.begin() as conn:
        jobs.notify_runners(conn)
    assert _woken(listen) == 1
    with engine.connect() as conn:  # the job was committed durably before the wake-up
        assert conn.execute(select(PipelineJob.status).where(PipelineJob.id == created.id)).scalar_one() == "QUEUED"
    listen.close()
    engine.dispose()


def _generic_plan(conn: Any, stmt: Any, args: dict[str, tuple[str, str]]) -> str:
    """EXPLAIN ANALYZE of ``stmt`` as a prepared statement settles on it: the generic plan.

    ``args``: each parameter's type and SQL literal, in ``$n`` order.
    """
    from db.jobs._sql import driver_sql

    sql = driver_sql(stmt)
    for n, name in enumerate(args, 1):
        sql = sql.replace(f"%({name})s", f"${n}")
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql(f"PREPARE probe({', '.join(t for t, _ in args.values())}) AS {sql}")
    values = ", ".join(v for _, v in args.values())
    return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE probe({values})"))


def test_a_completion_finds_its_jobs_by_id_however_many_jobs_run(pg: Engine) -> None:
    """The runners' prefetch keeps thousands of jobs RUNNING: completing a batch must not read them.

    As ``status = 'RUNNING'``, the generic plan walked the RUNNING jobs' partial index (28,172
    entries, live and dead, and 732 heap pages, for a batch of 17 in a 20,000-job benchmark).
    """
    import json
    import re

    from db.jobs.finish import _COMPLETE

    with pg.begin() as conn:
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('Acme') RETURNING id")).scalar_one()
        jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop")] * 3000, now=T0)
        claimed = jobs.claim(conn, "r1", limit=3000, lease_s=600, now=T0, start=3000)
    assert len(claimed) == 3000
    one = claimed[1234]
    rows = json.dumps([{"id": one.id, "attempt": 1, "result": {"ok": True}, "metrics": None}])
    with pg.begin() as conn:
        plan = _generic_plan(
            conn,
            _COMPLETE["postgresql"],
            {
                "now": ("timestamptz", f"'{T0.isoformat()}'"),
                "rows": ("text", f"'{rows}'"),
                "runner": ("text", "'r1'"),
                "ids": ("bigint[]", f"'{{{one.id}}}'"),
            },
        )
        done = conn.execute(text("SELECT status FROM pipeline_jobs WHERE id = :id"), {"id": one.id}).scalar_one()
        conn.rollback()
    assert done == "COMPLETED", plan
    found = r"(?:on pipeline_jobs_p0 j\S* \(actual time=\S+ rows=|Removed by \w+: )(\d+)"
    read = [int(n) for n in re.findall(found, plan)]
    assert read and max(read) <= 1, plan  # the job's own row, not the 2,999 others running


def test_the_runners_statements_probe_by_key_however_many_ranges_exist(pg: Engine) -> None:
    """On the runner's own connections (``hot_statement_engine``) a start finds its job by id.

    A generic plan is kept until the statistics change: made while the newest range looked
    small, the starts' plan scanned it whole for every batch once older ranges existed (46 →
    350 µs per start with ten of them in the benchmark).
    """
    import re

    from db.engine import hot_statement_engine
    from db.jobs.claim import _START
    from db.jobs.partitions import create_range

    with pg.begin() as conn:
        for lo in range(2_000_000, 12_000_000, 1_000_000):  # ten older ranges, as 90 days of history make
            create_range(conn, lo, lo + 1_000_000)
        tenant = conn.execute(text("INSERT INTO tenants (name) VALUES ('Acme') RETURNING id")).scalar_one()
        jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop")] * 3000, now=T0)
        claimed = jobs.claim(conn, "r1", limit=3000, lease_s=600, now=T0)
    one = claimed[1234]
    hot = hot_statement_engine(pg, durable=False)
    try:
        with hot.begin() as conn:
            plan = _generic_plan(
                conn,
                _START["postgresql"],
                {"ids": ("bigint[]", f"'{{{one.id}}}'"), "attempts": ("int[]", "'{1}'"), "runner": ("text", "'r1'")},
            )
            started = conn.execute(text("SELECT attempts FROM pipeline_jobs WHERE id = :id"), {"id": one.id})
            assert started.scalar_one() == 1, plan
            conn.rollback()
    finally:
        hot.dispose()
    read = [
        int(n) for n in re.findall(r"(?:on pipeline_jobs_p0 \S+ \(actual time=\S+ rows=|Removed by \w+: )(\d+)", plan)
    ]
    assert read and max(read) <= 1, plan  # the job's own row, not the 2,999 others


def test_the_runners_statements_are_never_jit_compiled(pg: Engine) -> None:
    """At 10,000,000 jobs the estimates of the runner's statements passed ``jit_above_cost``, and a
    generic plan is compiled again at every execution: LLVM took 61 % of the backends' CPU."""
    from db.engine import hot_statement_engine

    hot = hot_statement_engine(pg, durable=False)
    try:
        with hot.begin() as conn:
            conn.exec_driver_sql("SET LOCAL jit_above_cost = 0")  # every plan would be compiled
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE) SELECT count(*) FROM pipeline_jobs"))
    finally:
        hot.dispose()
    with pg.begin() as conn:  # a connection of the shared pool, for contrast
        available = conn.exec_driver_sql("SELECT pg_jit_available()").scalar_one()
        conn.exec_driver_sql("SET LOCAL jit_above_cost = 0")
        shared = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE) SELECT count(*) FROM pipeline_jobs"))
    assert "JIT:" not in plan, plan
    if available:  # a server built with LLVM compiles it on other connections: the test would see it
        assert "JIT:" in shared, shared
