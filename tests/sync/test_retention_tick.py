"""The runner's retention and partition ticks (``sync.scheduler``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, text

from db import jobs
from db.jobs import idempotency_keys
from db.jobs._sql import ts
from sync import scheduler
from sync.runner import Runner


def test_the_prune_tick_removes_finished_jobs_past_the_retention_and_keeps_the_rest(
    runner: Runner, engine: Engine, tenant_id: int
) -> None:
    now = runner.clock()
    with engine.begin() as conn:
        old = jobs.enqueue(conn, tenant_id=tenant_id, job_type="noop").id
        if jobs.partitions.partitioned(engine):  # later ids pass range p0: it is closed, hence droppable
            conn.execute(text("SELECT setval('pipeline_jobs_id_seq', 1500000)"))
    if jobs.partitions.partitioned(engine):
        jobs.partitions.ensure_ahead(engine)
    with engine.begin() as conn:
        young, queued = (e.id for e in jobs.enqueue_many(conn, [jobs.JobSpec(tenant_id, "noop")] * 2))
        days = runner.settings.job_retention_days
        for jid, at in ((old, now - dt.timedelta(days=days + 5)), (young, now - dt.timedelta(days=1))):
            conn.execute(text("UPDATE pipeline_jobs SET status = 'COMPLETED', completed_at = :at WHERE id = :id"),
                         {"at": ts(at, engine.dialect.name), "id": jid})  # fmt: skip
    assert scheduler.prune(runner) == 1
    with engine.connect() as conn:
        assert set(conn.execute(text("SELECT id FROM pipeline_jobs")).scalars()) == {young, queued}


def test_the_partitions_tick_keeps_ranges_ahead_on_postgresql_only(runner: Runner, engine: Engine) -> None:
    names = {j.id for j in scheduler.build_scheduler(runner).get_jobs()}
    assert ("partitions" in names) == jobs.partitions.partitioned(engine)
    if jobs.partitions.partitioned(engine):
        with engine.begin() as conn:
            conn.execute(text("SELECT setval('pipeline_jobs_id_seq', 1500000)"))
        assert scheduler.partitions_tick(runner) == 1
        assert scheduler.partitions_tick(runner) == 0
        with engine.connect() as conn:  # and the idempotency keys' generation followed the newest id
            assert idempotency_keys.generations(conn)[-1].lo == 1_000_000
