"""Debounce by record on SQLite and PostgreSQL: one job per burst, the latest params, the log."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from db.engine import make_engine, make_session_factory
from db.jobs import pauses
from db.jobs.debounce import Event, enqueue_events
from db.models import JobStep, PipelineJob, Tenant

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
KEY = "hubspot:deal:42"


@pytest.fixture
def tenant_id(session: Session) -> int:
    t = Tenant(name="Acme")
    session.add(t)
    session.commit()
    return t.id


@pytest.fixture
def acme_on_pg(pg_url: str) -> Iterator[tuple[sessionmaker[Session], int]]:
    """Sessions on a real PostgreSQL (for real concurrency) and the id of a tenant in it."""
    engine: Engine = make_engine(pg_url)
    factory: sessionmaker[Session] = make_session_factory(engine)
    with factory() as s:
        t = Tenant(name="Acme")
        s.add(t)
        s.commit()
        tenant = t.id
    yield factory, tenant
    engine.dispose()


def event(tenant_id: int, stage: str, window_s: float = 5, key: str = KEY, **kw: object) -> Event:
    spec = jobs.JobSpec(
        tenant_id=tenant_id, job_type="hubspot-deal-won-to-asana", params={"deal_id": "42", "property_value": stage},
        concurrency_key=key, created_by="webhook:hubspot", idempotency_key=f"evt-{stage}-{key}", **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return Event(spec, window_s, f"hubspot deal.propertyChange {stage}")


def send(session: Session, ev: Event, at: dt.datetime) -> jobs.Enqueued:
    [out] = enqueue_events(session, [ev], now=at)
    session.commit()
    return out


def all_jobs(session: Session) -> list[PipelineJob]:
    session.expire_all()
    return list(session.scalars(select(PipelineJob).order_by(PipelineJob.id)))


def test_a_burst_about_one_record_makes_one_job_with_the_latest_state(session: Session, tenant_id: int) -> None:
    first = send(session, event(tenant_id, "appointment"), T0)
    second = send(session, event(tenant_id, "contract"), T0 + dt.timedelta(seconds=1))
    third = send(session, event(tenant_id, "closedwon"), T0 + dt.timedelta(seconds=4))
    assert first.created and (second, third) == (
        jobs.Enqueued(first.id, False, joined=True),
        jobs.Enqueued(first.id, False, joined=True),
    )
    [job] = all_jobs(session)
    assert job.params["property_value"] == "closedwon"
    assert job.run_at == T0 + dt.timedelta(seconds=5)  # the window, from the first event
    steps = session.scalars(select(JobStep.message).where(JobStep.job_id == job.id).order_by(JobStep.id)).all()
    assert len(steps) == 2 and all(s.startswith("Debounced: hubspot deal.propertyChange") for s in steps)
    assert '"property_value":"appointment"' in steps[0] and '"property_value":"contract"' in steps[0]
    # Not claimable before its window ends; then it runs once.
    assert jobs.claim(session, "r1", limit=5, lease_s=30, now=T0 + dt.timedelta(seconds=4.9)) == []
    assert [c.id for c in jobs.claim(session, "r1", limit=5, lease_s=30, now=T0 + dt.timedelta(seconds=5))] == [job.id]


def test_after_the_window_or_once_running_an_event_makes_a_new_job(session: Session, tenant_id: int) -> None:
    first = send(session, event(tenant_id, "a"), T0)
    late = send(session, event(tenant_id, "b"), T0 + dt.timedelta(seconds=5))
    assert late.created and late.id != first.id
    [claimed] = jobs.claim(session, "r1", limit=1, lease_s=30, now=T0 + dt.timedelta(seconds=5))
    session.commit()
    assert claimed.id == first.id
    # ``late`` is still inside its window and absorbs; a running job never does.
    assert send(session, event(tenant_id, "c"), T0 + dt.timedelta(seconds=6)) == jobs.Enqueued(
        late.id, False, joined=True
    )


def test_other_records_tenants_workflows_and_a_zero_window_make_their_own_jobs(
    session: Session, tenant_id: int
) -> None:
    other_tenant = Tenant(name="Globex")
    session.add(other_tenant)
    session.commit()
    send(session, event(tenant_id, "a"), T0)
    send(session, event(tenant_id, "a", key="hubspot:deal:43"), T0)
    send(session, event(other_tenant.id, "a"), T0)
    ev = event(tenant_id, "a")
    send(session, Event(replace(ev.spec, job_type="noop", idempotency_key="other-workflow"), 5), T0)
    send(session, event(tenant_id, "b", window_s=0), T0)
    send(session, event(tenant_id, "c", window_s=0), T0)
    rows = all_jobs(session)
    assert len(rows) == 6
    assert [r.run_at for r in rows[4:]] == [T0, T0]  # no window: due at once


def test_a_job_retrying_after_a_failure_does_not_take_in_new_events(session: Session, tenant_id: int) -> None:
    first = send(session, event(tenant_id, "a"), T0)
    [claimed] = jobs.claim(session, "r1", limit=1, lease_s=30, now=T0 + dt.timedelta(seconds=5))
    assert jobs.start(session, "r1", claimed)
    jobs.fail(session, first.id, runner_id="r1", attempt=1, error="503", permanent=False,
              now=T0 + dt.timedelta(seconds=6), jitter=lambda _d: 0.0)  # fmt: skip
    session.commit()
    # Back in the queue with a run_at in the future (its backoff), but it has run: not joinable.
    again = send(session, event(tenant_id, "b"), T0 + dt.timedelta(seconds=6.5))
    assert again.created and again.id != first.id


def test_a_paused_clients_held_job_absorbs_every_event_about_its_record(session: Session, tenant_id: int) -> None:
    pauses.pause(session, tenant_id=tenant_id, reason="r", by="ed", now=T0)
    first = send(session, event(tenant_id, "a"), T0)
    later = send(session, event(tenant_id, "b"), T0 + dt.timedelta(hours=2))
    assert later == jobs.Enqueued(first.id, False, joined=True)
    [job] = all_jobs(session)
    assert (job.status, job.params["property_value"]) == ("PAUSED", "b")


def test_concurrent_listeners_make_one_job_for_one_record(acme_on_pg: tuple[sessionmaker[Session], int]) -> None:
    """Eight transactions at once (PostgreSQL, real concurrency) about one record: one job."""
    factory, tenant = acme_on_pg
    barrier = threading.Barrier(8)
    results: list[int] = []
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            with factory() as s:
                barrier.wait()
                [out] = enqueue_events(s, [event(tenant, f"s{n}")], now=T0)
                s.commit()
                results.append(out.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    with factory() as s:
        assert s.query(PipelineJob).count() == 1
        assert s.query(JobStep).count() == 7
    assert len(set(results)) == 1


def test_an_event_that_waited_for_the_records_lock_joins_the_job_its_holder_committed(
    acme_on_pg: tuple[sessionmaker[Session], int],
) -> None:
    """A racing pair on PostgreSQL: the second listener's look-up runs after the lock is granted.

    The lock and the look-up are sent together (psycopg's pipeline); the look-up must still read
    a snapshot taken once the first transaction committed its job, or the pair makes two jobs.
    """
    factory, tenant = acme_on_pg
    with factory() as first, factory() as second:
        [made] = enqueue_events(first, [event(tenant, "a")], now=T0)  # holds the record's lock
        out: list[jobs.Enqueued] = []

        def racing() -> None:
            out.extend(enqueue_events(second, [event(tenant, "b")], now=T0))
            second.commit()

        waiting = threading.Thread(target=racing)
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive()  # waiting for the lock
        first.commit()
        waiting.join(30)
    assert out == [jobs.Enqueued(made.id, False, joined=True)]
    with factory() as s:
        [job] = s.scalars(select(PipelineJob)).all()
        assert job.params["property_value"] == "b"


def test_many_events_in_one_call_join_or_make_jobs_as_one_by_one_would(session: Session, tenant_id: int) -> None:
    """The listener's group commit enqueues many deliveries' events in one call (webhook/group.py)."""
    waiting = send(session, event(tenant_id, "a"), T0)  # record 42 has a job to join
    out = enqueue_events(
        session,
        [
            event(tenant_id, "b"),
            event(tenant_id, "x", key="hubspot:deal:7"),  # a record without one: a new job
            event(tenant_id, "c"),
            event(tenant_id, "y", key="hubspot:deal:7"),  # joins the job the event before made
            event(tenant_id, "p", window_s=0, key="hubspot:deal:7"),  # not debounced: its own job
        ],
        now=T0 + dt.timedelta(seconds=1),
    )
    session.commit()
    assert out[0] == out[2] == jobs.Enqueued(waiting.id, False, joined=True)
    assert out[1].created and out[3] == jobs.Enqueued(out[1].id, False, joined=True)
    assert out[4].created and out[4].id not in (waiting.id, out[1].id)
    by_id = {j.id: j for j in all_jobs(session)}
    assert len(by_id) == 3
    assert by_id[waiting.id].params["property_value"] == "c"
    assert by_id[out[1].id].params["property_value"] == "y"
    assert by_id[out[1].id].run_at == T0 + dt.timedelta(seconds=6)  # its window, from its first event


def test_the_look_up_for_jobs_to_join_probes_each_records_key_however_many_jobs_wait(
    acme_on_pg: tuple[sessionmaker[Session], int],
) -> None:
    """A backlog of queued jobs (runners down, a burst) must not make every delivery read all of it.

    As a join, PostgreSQL's generic plan (the one a prepared statement settles on) read every
    queued job; each record is now one probe of the pending-key index.
    """
    from sqlalchemy import text

    from db.jobs._sql import driver_sql
    from db.jobs.debounce import _PG_TARGETS

    factory, tenant = acme_on_pg
    with factory() as s:
        later = T0 + dt.timedelta(seconds=5)  # each within its window: joinable
        waiting = [replace(event(tenant, f"s{n}", key=f"hubspot:deal:{n}").spec, run_at=later) for n in range(3000)]
        jobs.enqueue_many(s, waiting, now=T0)
        s.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        sql = driver_sql(_PG_TARGETS)  # as a prepared statement: %(name)s becomes $n
        for n, name in enumerate(("keys", "tenants", "types", "bys", "now"), 1):
            sql = sql.replace(f"%({name})s", f"${n}")
        s.connection().exec_driver_sql(f"PREPARE targets(text[], int[], text[], text[], timestamptz) AS {sql}")
        key = f"'{{hubspot:deal:7}}', '{{{tenant}}}', '{{hubspot-deal-won-to-asana}}', '{{webhook:hubspot}}'"
        plan = "\n".join(r[0] for r in s.connection().exec_driver_sql(
            f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE targets({key}, '{T0.isoformat()}')"))  # fmt: skip
        found = s.connection().exec_driver_sql(f"EXECUTE targets({key}, '{T0.isoformat()}')").all()
        s.rollback()
    assert found == [(tenant, "hubspot-deal-won-to-asana", "hubspot:deal:7")]
    assert "ix_pipeline_jobs_pending_concurrency_key" in plan, plan
    read = [int(n) for n in re.findall(r"(?:Scan .*rows=|Rows Removed by Filter: )(\d+)", plan)]
    assert read and max(read) <= 1, plan  # the record's own job, not the 3,000 others
