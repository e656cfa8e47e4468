"""PostgreSQL's idempotency keys in generations (migration 0020, ``db.jobs.idempotency_keys``):
one key one job across generations and under concurrent switches, generations dropped whole."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time

from sqlalchemy import Connection, Engine, text

from db import jobs
from db.jobs import idempotency_keys, partitions
from db.jobs.retention import retain

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=100)


def _tenant(conn: Connection) -> int:
    return int(conn.execute(text("INSERT INTO tenants (name) VALUES ('Acme') RETURNING id")).scalar_one())


def _jump(conn: Connection, to_id: int) -> None:
    conn.execute(text("SELECT setval('pipeline_jobs_id_seq', :v, false)"), {"v": to_id})


def _generation_of(conn: Connection, key: str) -> list[int]:
    sql = "SELECT generation FROM job_idempotency_keys WHERE idempotency_key = :k ORDER BY generation"
    return list(conn.execute(text(sql), {"k": key}).scalars())


def _waiting(pg: Engine, count: int) -> None:
    """Until ``count`` backends wait for a lock on the keys table (or 10 s)."""
    sql = (
        "SELECT count(*) FROM pg_locks WHERE NOT granted "
        "AND relation = 'job_idempotency_keys'::regclass AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())"
    )
    deadline = time.monotonic() + 10
    with pg.connect() as conn:
        while conn.execute(text(sql)).scalar_one() < count:
            conn.rollback()
            assert time.monotonic() < deadline, "nobody waited"
            time.sleep(0.02)


def test_the_generation_follows_the_newest_range_and_keys_dedup_across_generations(pg: Engine) -> None:
    with pg.begin() as conn:
        assert [(g.lo, g.closed_below) for g in idempotency_keys.generations(conn)] == [(0, None)]
        tenant = _tenant(conn)
        first = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="a").id
    assert idempotency_keys.rotate(pg) is None  # the newest id is still in range p0
    with pg.begin() as conn:
        _jump(conn, 1_000_005)
        jobs.enqueue(conn, tenant_id=tenant, job_type="noop")
    made = idempotency_keys.rotate(pg)
    assert made is not None and made.lo == 1_000_000
    assert idempotency_keys.rotate(pg) is None
    with pg.begin() as conn:
        gens = idempotency_keys.generations(conn)
        assert [(g.lo, g.closed_below) for g in gens] == [(0, 1_000_006), (1_000_000, None)]
        again = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="a")
        assert (again.id, again.created) == (first, False)  # found in the closed generation
        fresh = jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop", idempotency_key="b")] * 2)
        assert fresh[0].created and not fresh[1].created and fresh[0].id == fresh[1].id
        assert _generation_of(conn, "a") == [0] and _generation_of(conn, "b") == [1_000_000]


def test_a_switch_waits_for_enqueues_in_flight_and_a_key_enqueued_across_it_stays_one_job(pg: Engine) -> None:
    with pg.begin() as conn:
        tenant = _tenant(conn)
        _jump(conn, 999_999)  # the first delivery takes the last id of p0, the second one in p1000000
    first = pg.connect()
    one = jobs.enqueue(first, tenant_id=tenant, job_type="noop", idempotency_key="k")  # not committed yet
    assert one.id == 999_999
    with pg.begin() as conn:
        jobs.enqueue(conn, tenant_id=tenant, job_type="noop")  # the newest id is now in p1000000
    results: dict[str, object] = {}

    def switch() -> None:
        results["made"] = idempotency_keys.rotate(pg, lock_timeout_ms=10_000)

    def second() -> None:
        with pg.begin() as conn:
            results["second"] = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="k")

    switching = threading.Thread(target=switch)
    switching.start()
    _waiting(pg, 1)  # the switch waits for the first delivery's transaction
    delivering = threading.Thread(target=second)
    delivering.start()
    _waiting(pg, 2)  # the second delivery queues behind the switch
    first.commit()
    first.close()
    switching.join(20)
    delivering.join(20)
    made = results["made"]
    assert isinstance(made, idempotency_keys.Generation) and made.lo == 1_000_000
    assert results["second"] == jobs.Enqueued(999_999, False)
    with pg.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM pipeline_jobs WHERE idempotency_key = 'k'")).scalar_one()
        assert count == 1 and _generation_of(conn, "k") == [0]


def test_retention_drops_a_generation_whole_once_its_jobs_are_gone(pg: Engine) -> None:
    with pg.begin() as conn:
        tenant = _tenant(conn)
        for n in range(3):
            jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key=f"old-{n}")
        conn.execute(text("UPDATE pipeline_jobs SET status = 'COMPLETED', completed_at = :at"), {"at": OLD})
        _jump(conn, 1_000_000)
        jobs.enqueue(conn, tenant_id=tenant, job_type="noop")
    made = idempotency_keys.rotate(pg)  # as the partitions tick does: generation 0 closes at 1,000,001
    assert made is not None and made.lo == 1_000_000
    with pg.begin() as conn:
        young = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="young").id
        _jump(conn, 2_000_000)
    partitions.ensure_ahead(pg, upto=2_000_000)
    with pg.begin() as conn:
        jobs.enqueue(conn, tenant_id=tenant, job_type="noop")
    done = retain(pg, 90, now=NOW)
    assert done.ranges == [(0, 1_000_000)] and done.jobs == 3 and done.keys == 3
    with pg.connect() as conn:  # its highest key named job 3: closed below 4, under the lowest live id
        assert conn.execute(text("SELECT to_regclass('job_idempotency_keys_g0')")).scalar() is None
        lo = [g.lo for g in idempotency_keys.generations(conn)]
        assert lo == [1_000_000, 2_000_000]  # retention switched first; p1000000's generation lives on
        assert list(conn.execute(text("SELECT job_id FROM job_idempotency_keys")).scalars()) == [young]
        # p0's record as a dropped range goes with the last generation that could name its ids.
        assert conn.execute(text("SELECT count(*) FROM job_ranges_dropped")).scalar_one() == 0
    with pg.begin() as conn:  # the dropped generation's keys are free again
        assert jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="old-1").created


def test_a_range_the_current_generation_names_is_not_dropped(pg: Engine) -> None:
    with pg.begin() as conn:
        tenant = _tenant(conn)
        job = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="kept").id
        conn.execute(text("UPDATE pipeline_jobs SET status = 'COMPLETED', completed_at = :at"), {"at": OLD})
        _jump(conn, 1_000_000)
        jobs.enqueue(conn, tenant_id=tenant, job_type="noop")
    # Retention's own switch cannot get the lock (an enqueue is in flight): p0 waits with it.
    busy = pg.connect()
    jobs.enqueue(busy, tenant_id=tenant, job_type="noop", idempotency_key="busy")
    assert partitions.drop_expired(pg, 90, now=NOW, keep_from=0).ranges == []
    done = retain(pg, 90, now=NOW)
    assert done.ranges == [] and done.keys == 0
    busy.rollback()
    busy.close()
    with pg.begin() as conn:
        again = jobs.enqueue(conn, tenant_id=tenant, job_type="noop", idempotency_key="kept")
        assert (again.id, again.created) == (job, False)
    assert retain(pg, 90, now=NOW).ranges == [(0, 1_000_000)]


def test_a_new_key_is_looked_up_by_its_index_however_many_keys_the_generation_holds(pg: Engine) -> None:
    """The enqueue asks each closed generation for the key; it must not read the current one.

    As an anti-join, the generic plan (the one a prepared statement settles on: the listener's
    committer runs every statement so) built a hash of the whole current generation, filtered
    out to nothing, for every batch: 19,000 keys read per batch in a 10 s benchmark.
    """
    from db.jobs.enqueue import _PG_INSERT_QUIET

    with pg.begin() as conn:
        tenant = _tenant(conn)
        jobs.enqueue_many(conn, [jobs.JobSpec(tenant, "noop", idempotency_key=f"k{n}") for n in range(3000)])
    with pg.begin() as conn:
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        sql = _PG_INSERT_QUIET.text.replace(":rows", "$1").replace(":now", "$2")
        conn.exec_driver_sql(f"PREPARE enqueue(text, timestamptz) AS {sql}")
        row = {"i": 0, "tenant_id": tenant, "job_type": "noop", "params": {}, "priority": 0,
               "run_at": NOW.isoformat(), "max_attempts": 3, "timeout_s": 60, "idempotency_key": "new"}  # fmt: skip
        args = f"'{json.dumps([row])}', '{NOW.isoformat()}'"
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE enqueue({args})"))
        assert _generation_of(conn, "new") == [0]  # made in the current generation
        conn.rollback()
    read = [
        int(n)
        for n in re.findall(r"(?:job_idempotency_keys_g0 o \(actual time=\S+ rows=|Removed by Filter: )(\d+)", plan)
    ]
    assert read and max(read) <= 1, plan  # the key's own probe, not the 3,000 others
