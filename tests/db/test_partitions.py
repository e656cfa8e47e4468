"""PostgreSQL's job history in id ranges (migration 0018, ``db.jobs.partitions``): ranges made
ahead, the DEFAULT partition, retention by whole ranges, idempotency keys in their own table."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
from sqlalchemy import Connection, Engine, text

from db import jobs
from db.engine import make_engine
from db.jobs import partitions
from db.jobs.retention import retain
from sync.listen import libpq_url

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=100)
YOUNG = NOW - dt.timedelta(days=10)


def _tenant(conn: Connection, name: str = "Acme") -> int:
    return int(conn.execute(text("INSERT INTO tenants (name) VALUES (:n) RETURNING id"), {"n": name}).scalar_one())


def _jump(conn: Connection, to_id: int) -> None:
    """The next job gets id ``to_id`` (as if that many jobs had come before)."""
    conn.execute(text("SELECT setval('pipeline_jobs_id_seq', :v, false)"), {"v": to_id})


def _finish(conn: Connection, job_id: int, at: dt.datetime) -> None:
    conn.execute(
        text("UPDATE pipeline_jobs SET status = 'COMPLETED', completed_at = :at WHERE id = :id"),
        {"at": at, "id": job_id},
    )


def _partition(conn: Connection, job_id: int) -> str:
    return str(
        conn.execute(
            text("SELECT tableoid::regclass::text FROM pipeline_jobs WHERE id = :id"), {"id": job_id}
        ).scalar_one()
    )


def _tables(conn: Connection) -> set[str]:
    rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
    return set(rows)


def test_the_migration_makes_two_ranges_and_a_default_and_the_tick_keeps_two_ahead(pg: Engine) -> None:
    with pg.connect() as conn:
        assert [(r.lo, r.hi) for r in partitions.ranges(conn)] == [(0, 1_000_000), (1_000_000, 2_000_000)]
        assert {"pipeline_jobs_default", "job_steps_default", "related_records_default"} <= _tables(conn)
    assert partitions.ensure_ahead(pg) == []  # two ranges above id 0 already
    with pg.begin() as conn:
        tenant = _tenant(conn)
        _jump(conn, 1_500_000)
        job = jobs.enqueue(conn, tenant_id=tenant, job_type="noop").id
        assert _partition(conn, job) == "pipeline_jobs_p1000000"
    made = partitions.ensure_ahead(pg)
    assert [(r.lo, r.hi) for r in made] == [(2_000_000, 3_000_000)]
    with pg.connect() as conn:
        assert {"pipeline_jobs_p2000000", "job_steps_p2000000", "related_records_p2000000"} <= _tables(conn)
    assert [(r.lo, r.hi) for r in partitions.ensure_ahead(pg, size=5000, upto=3_000_000)] == [
        (3_000_000, 3_005_000),
        (3_005_000, 3_010_000),
    ]


def test_an_insert_beyond_the_ranges_lands_in_default_and_the_next_range_starts_above_it(pg: Engine) -> None:
    with pg.begin() as conn:
        tenant = _tenant(conn)
        _jump(conn, 5_000_000)
        beyond = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="far").id
        jobs.append_step(conn, beyond, "landed")
        jobs.record_related(conn, beyond, tenant_id=tenant, system="xero", record_type="invoice", record_id="i-1",
                            action="READ")  # fmt: skip
        assert _partition(conn, beyond) == "pipeline_jobs_default"
        steps = conn.execute(text("SELECT count(*) FROM job_steps_default WHERE job_id = :j"), {"j": beyond})
        assert steps.scalar_one() == 1
    made = partitions.ensure_ahead(pg)
    assert made[0].lo == beyond + 1  # PostgreSQL refuses a range owning rows in DEFAULT
    with pg.begin() as conn:
        after = jobs.enqueue(conn, tenant_id=tenant, job_type="noop").id
        assert _partition(conn, after) == made[0].name
        assert jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="far").id == beyond
        _finish(conn, beyond, OLD)
    done = retain(pg, 90, now=NOW)  # the DEFAULT partition is pruned row by row
    assert done.jobs == 1  # and the two empty ranges below, closed since ids passed them
    assert done.ranges == [(0, 1_000_000), (1_000_000, 2_000_000)]
    with pg.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job_steps_default")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM related_records_default")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM job_idempotency_keys")).scalar_one() == 0


def _history(pg: Engine) -> dict[str, int]:
    """Range p0: two jobs finished 100 days ago (steps, records, a wait, an alert link, a key);
    p1000000: one old finished and one QUEUED; p2000000: one finished 10 days ago; p3000000: a
    rerun of a p0 job and a schedule whose last job is in p0."""
    with pg.begin() as conn:
        tenant = _tenant(conn)
        a1, a2 = (e.id for e in jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop", idempotency_key="a1"),
                                                         jobs.JobSpec(tenant, "noop")]))  # fmt: skip
        for j in (a1, a2):
            jobs.append_step(conn, j, "step")
            jobs.record_related(conn, j, tenant_id=tenant, system="xero", record_type="invoice", record_id=f"r{j}",
                                action="READ")  # fmt: skip
            _finish(conn, j, OLD)
        conn.execute(text("INSERT INTO job_waits (job_id, tenant_id, seq, reason, deadline_at) "
                          "VALUES (:j, :t, 1, 'approval', now())"), {"j": a1, "t": tenant})  # fmt: skip
        group = conn.execute(
            text(
                "INSERT INTO alert_groups (event, fingerprint, title, tenants, first_seen, last_seen, opened_at) "
                "VALUES ('job_failed', 'fp', 't', '{}', now(), now(), now()) RETURNING id"
            )
        ).scalar_one()
        conn.execute(text("INSERT INTO alert_group_jobs (job_id, group_id) VALUES (:j, :g)"), {"j": a2, "g": group})
        _jump(conn, 1_000_000)
        b_old = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="b").id
        _finish(conn, b_old, OLD)
        b_queued = jobs.enqueue(conn, tenant_id=tenant, job_type="noop").id
        conn.execute(text("UPDATE pipeline_jobs SET created_at = :at WHERE id = :id"), {"at": OLD, "id": b_queued})
        _jump(conn, 2_000_000)
    partitions.ensure_ahead(pg, upto=3_000_000)
    with pg.begin() as conn:
        c_young = jobs.enqueue(conn, tenant_id=tenant, job_type="noop").id
        _finish(conn, c_young, YOUNG)
        _jump(conn, 3_000_000)
        rerun = jobs.rerun(conn, a1, created_by="ed")
        schedule = conn.execute(text("INSERT INTO schedules (tenant_id, job_type, cron, params, last_job_id) "
                                     "VALUES (:t, 'noop', '0 * * * *', '{}', :j) RETURNING id"),
                                {"t": tenant, "j": a2}).scalar_one()  # fmt: skip
    return {"tenant": tenant, "a1": a1, "a2": a2, "b_old": b_old, "b_queued": b_queued, "c_young": c_young,
            "rerun": rerun, "schedule": schedule}  # fmt: skip


def test_retention_drops_a_whole_finished_old_range_and_keeps_ranges_with_unfinished_or_young_jobs(pg: Engine) -> None:
    h = _history(pg)
    done = retain(pg, 90, now=NOW)
    assert done.ranges == [(0, 1_000_000)] and done.jobs == 2 and done.skipped == 0
    # The keys of p0 and p1000000 share the migration's generation (no tick switched between
    # them): it stays while b_old lives, and a1's key, naming a dropped job, counts no more.
    assert done.keys == 0
    with pg.connect() as conn:
        tables = _tables(conn)
        assert not {"pipeline_jobs_p0", "job_steps_p0", "related_records_p0"} & tables
        assert {"pipeline_jobs_p1000000", "pipeline_jobs_p2000000"} <= tables
        left = set(conn.execute(text("SELECT id FROM pipeline_jobs")).scalars())
        assert left == {h["b_old"], h["b_queued"], h["c_young"], h["rerun"]}
        assert conn.execute(text("SELECT count(*) FROM job_steps")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM related_records")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM job_waits")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM alert_group_jobs")).scalar_one() == 0
        # References into the dropped range are cleared, not left dangling.
        parent = conn.execute(text("SELECT parent_job_id FROM pipeline_jobs WHERE id = :id"), {"id": h["rerun"]})
        assert parent.scalar_one() is None
        last = conn.execute(text("SELECT last_job_id FROM schedules WHERE id = :id"), {"id": h["schedule"]})
        assert last.scalar_one() is None
    with pg.begin() as conn:  # the dropped job's key is free; the kept range's key still dedups
        assert jobs.enqueue(conn, tenant_id=h["tenant"], job_type="noop", idempotency_key="a1").created
        again = jobs.enqueue(conn, tenant_id=h["tenant"], job_type="noop", idempotency_key="b")
        assert (again.id, again.created) == (h["b_old"], False)
    assert retain(pg, 90, now=NOW).ranges == []  # nothing else is droppable: p1000000 has a QUEUED job


def test_retention_gives_up_on_a_range_whose_lock_it_cannot_get_and_drops_it_next_time(pg: Engine) -> None:
    _history(pg)
    reader = psycopg.connect(libpq_url(pg.url.render_as_string(hide_password=False)))
    reader.execute("SELECT count(*) FROM pipeline_jobs")  # a long dashboard read holds its lock
    done = partitions.drop_expired(pg, 90, now=NOW, lock_timeout_ms=100)
    assert done.ranges == [] and done.skipped == 1
    with pg.connect() as conn:
        assert {"pipeline_jobs_p0", "job_steps_p0", "related_records_p0"} <= _tables(conn)
        assert conn.execute(text("SELECT count(*) FROM job_steps_p0")).scalar_one() == 2
    reader.rollback()
    reader.close()
    assert retain(pg, 90, now=NOW).ranges == [(0, 1_000_000)]


def test_a_range_is_not_dropped_while_ids_can_still_land_in_it(pg: Engine) -> None:
    with pg.begin() as conn:
        tenant = _tenant(conn)
        job = jobs.enqueue(conn, tenant_id=tenant, job_type="noop").id
        _finish(conn, job, OLD)
    assert retain(pg, 90, now=NOW).ranges == []  # p0 is the newest range: the next job goes there
    with pg.connect() as conn:
        assert _partition(conn, job) == "pipeline_jobs_p0"


def test_idempotency_keys_dedup_within_a_batch_and_across_concurrent_batches(pg: Engine) -> None:
    with pg.begin() as conn:
        tenant = _tenant(conn)
        other = _tenant(conn, "Other")
        first = jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop", idempotency_key="x"),
                                         jobs.JobSpec(tenant, "noop", idempotency_key="x"),
                                         jobs.JobSpec(other, "noop", idempotency_key="x"),
                                         jobs.JobSpec(tenant, "noop")])  # fmt: skip
    assert [e.created for e in first] == [True, False, True, True]
    assert first[0].id == first[1].id != first[2].id and first[0].id < first[2].id < first[3].id
    barrier = threading.Barrier(4)
    results: list[list[jobs.Enqueued]] = []

    def deliver(n: int) -> None:
        specs = [jobs.JobSpec(tenant, "noop", idempotency_key=f"k{(n + i) % 6}") for i in range(6)]
        with pg.connect() as conn:
            barrier.wait()
            results.append(jobs.enqueue_many(conn, specs))
            conn.commit()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    assert len(results) == 4
    created = [e for batch in results for e in batch if e.created]
    assert len(created) == 6
    ids = {e.id for batch in results for e in batch}
    assert len(ids) == 6
    with pg.connect() as conn:
        sql = (
            "SELECT k.idempotency_key, k.job_id, j.idempotency_key FROM job_idempotency_keys k "
            "JOIN pipeline_jobs j ON j.id = k.job_id WHERE k.idempotency_key LIKE 'k%'"
        )
        keys = conn.execute(text(sql)).all()
    assert len(keys) == 6 and all(r[0] == r[2] for r in keys) and {r[1] for r in keys} == ids


def test_concurrent_batches_sharing_keys_in_different_orders_never_deadlock(pg: Engine) -> None:
    """Four batches of the same six keys, each in its own rotation, sixty times: every one succeeds.

    Inserted in each batch's own order, about one round in fifteen ended ``deadlock detected``.
    """
    with pg.begin() as conn:
        tenant = _tenant(conn)
    errors: list[str] = []
    for round_ in range(60):
        barrier = threading.Barrier(4)

        def deliver(n: int, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            specs = [jobs.JobSpec(tenant, "noop", idempotency_key=f"r{round_}-{(n + i) % 6}") for i in range(6)]
            try:
                with pg.connect() as conn:
                    barrier.wait()
                    jobs.enqueue_many(conn, specs)
                    conn.commit()
            except Exception as exc:  # the test's verdict: collected, not lost in the thread
                errors.append(f"round {round_}: {exc}")

        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(20)
    assert errors == []
    with pg.connect() as conn:
        counted = conn.execute(text("SELECT count(*) FROM pipeline_jobs WHERE tenant_id = :t"), {"t": tenant})
        assert counted.scalar_one() == 60 * 6  # one job per key, none lost, none twice


def test_sqlite_keeps_plain_tables_and_prunes_row_by_row(tmp_path: object, sqlite_template: object) -> None:
    import shutil
    from pathlib import Path

    path = Path(str(tmp_path)) / "z.db"
    shutil.copy(str(sqlite_template), path)
    engine = make_engine(f"sqlite:///{path}")
    assert not partitions.partitioned(engine)
    with engine.begin() as conn:
        tenant = _tenant(conn)
        old, young = (e.id for e in jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop")] * 2))
        conn.execute(text("UPDATE pipeline_jobs SET status = 'COMPLETED', completed_at = :at WHERE id = :id"),
                     {"at": OLD.replace(tzinfo=None).isoformat(sep=" "), "id": old})  # fmt: skip
    done = retain(engine, 90, now=NOW)
    assert (done.jobs, done.ranges, done.row_transactions) == (1, [], 1)
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT id FROM pipeline_jobs")).scalars()) == [young]
    engine.dispose()
