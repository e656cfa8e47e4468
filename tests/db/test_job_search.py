"""The browser's free-text search over params: every job found, the index written once per job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from db import jobs, queries
from db.engine import make_engine
from db.filters import JobFilter
from db.migrate import upgrade
from db.models import PipelineJob, Tenant
from db.models.base import JOB_STATUSES
from db.queries.jobs import FEW_MATCHES, PAGE_SIZE
from db.search_text import search_text

# A webhook job's params, as db.jobs gets them from webhook.routing.job_params.
PARAMS = {
    "shop": "acme-outdoor.myshopify.com",
    "order_id": "4477123",
    "event": {"source": "shopify", "type": "orders/paid", "dedup_key": "9f1c2e7a55d04b6e"},
}


@pytest.mark.parametrize("status", JOB_STATUSES)
def test_a_search_finds_a_job_by_its_params_whatever_its_status(session: Session, status: str) -> None:
    tenant = Tenant(name="Acme")
    session.add(tenant)
    session.flush()
    job = PipelineJob(tenant_id=tenant.id, job_type="noop", status=status, params=PARAMS)
    other = PipelineJob(tenant_id=tenant.id, job_type="noop", status=status, params={"order_id": "1"})
    session.add_all([job, other])
    session.flush()
    for needle in ("4477123", "ORDERS/PAID", "acme-outdoor", "9f1c2e7a55d04b6e"):
        hits = set(session.scalars(select(PipelineJob.id).where(JobFilter(text=needle).where())))
        assert hits == {job.id}, needle
    only = JobFilter(text="4477123", statuses=(status,))
    assert list(session.scalars(select(PipelineJob.id).where(only.where()))) == [job.id]
    session.rollback()


SHOPIFY_DIGEST = "5417cb5c01dbfe17508f25de75cfd9eb408ae0e0ba39fe56"  # a Shopify dedup key's body digest


def test_a_search_reads_values_not_key_names_or_digests(session: Session) -> None:
    # What a user types is a value (an order number, a shop, an event type); key names are in
    # every job, and digests no one types cost the index more trigrams than the rest (db/search_text.py).
    tenant = Tenant(name="Acme")
    session.add(tenant)
    session.flush()
    params = {
        "shop": "acme-outdoor.myshopify.com",
        "order_id": "4477123",
        "total": 129.5,
        "lines": [{"sku": "TENT-2P"}],
        "ref": "9f1c2e7a55d04b6e",  # hexadecimal, but shorter than a digest
        "contact": "Zoë Müller",
        "event": {"type": "orders/paid", "dedup_key": f"shopify:orders/paid:{SHOPIFY_DIGEST}"},
    }
    for status in ("QUEUED", "COMPLETED"):  # the queue's branch and the trigram index's
        job = PipelineJob(tenant_id=tenant.id, job_type="noop", status=status, params=params)
        session.add(job)
        session.flush()
        for needle in ("4477123", "129.5", "tent-2p", "shopify:orders/paid:", "9f1c2e7a", "Zoë M"):
            hits = set(session.scalars(select(PipelineJob.id).where(JobFilter(text=needle).where())))
            assert hits == {job.id}, (status, needle)
        for needle in ("order_id", "dedup_key", SHOPIFY_DIGEST, SHOPIFY_DIGEST[:16]):
            hits = set(session.scalars(select(PipelineJob.id).where(JobFilter(text=needle).where())))
            assert hits == set(), (status, needle)
        session.delete(job)
        session.flush()
    session.rollback()


def test_sqlite_reads_the_search_text_only_of_jobs_whose_json_holds_the_text(tmp_path: Path) -> None:
    # SQLite's search text is a Python function (~11 µs a job): a LIKE on the stored JSON goes first.
    engine = make_engine(f"sqlite:///{tmp_path / 'zixly.db'}")
    upgrade(engine)
    read: list[str] = []

    def counting(params: str | None) -> str | None:
        read.append(params or "")
        return search_text(params)

    with Session(engine) as session:
        tenant = Tenant(name="Acme")
        session.add(tenant)
        session.flush()
        session.add_all(
            PipelineJob(tenant_id=tenant.id, job_type="noop", status="COMPLETED", params={**PARAMS, "order_id": str(n)})
            for n in range(40)
        )
        session.flush()
        session.connection().connection.driver_connection.create_function(  # type: ignore[union-attr]
            "zixly_search_text", 1, counting, deterministic=True
        )
        found = session.scalars(select(PipelineJob.params).where(JobFilter(text="Order_ID-less 17").where())).all()
        assert found == [] and read == []  # no job's JSON holds it: the function never ran
        found = session.scalars(select(PipelineJob.params).where(JobFilter(text="17").where())).all()
        assert [p["order_id"] for p in found] == ["17"] and len(read) == 1
        read.clear()
        assert session.scalars(select(PipelineJob.id).where(JobFilter(text="order_id").where())).all() == []
        assert len(read) == 40  # every JSON holds the key name; the search text of none does
    engine.dispose()


def test_sqlite_and_postgresql_search_the_same_text(pg: Engine) -> None:
    samples = [
        PARAMS,
        {"a": [1, 2.25, True, None, {"b": 'Zoë\'s "quote"'}], "digest": "x" + "ab" * 20 + "y", "n": -7},
        {},
    ]
    with pg.connect() as conn:
        for params in samples:
            in_pg = conn.scalar(text("SELECT zixly_search_text(CAST(:p AS jsonb))"), {"p": json.dumps(params)})
            in_sqlite = search_text(json.dumps(params))
            assert in_sqlite is not None
            # the same values, each as often (jsonb keeps an object's keys in its own order)
            assert sorted(map(repr, json.loads(in_pg))) == sorted(map(repr, json.loads(in_sqlite))), params


def _pending(conn: object, index: str) -> int:
    return int(
        conn.execute(text("SELECT pending_tuples FROM pgstatginindex(CAST(:i AS regclass))"), {"i": index}).scalar_one()
    )  # type: ignore[attr-defined]


def test_a_jobs_params_enter_the_search_index_once_when_it_finishes(pg: Engine) -> None:
    # The trigrams of a webhook's params cost more than the rest of a job's writes together; a
    # job's enqueue, claim and start write none of them (docs/benchmarks.md, "params search index").
    with pg.begin() as conn:
        if conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgstattuple'")) == 0:
            pytest.skip("pgstattuple (PostgreSQL's contrib) is not installed: it reads the index's pending list")
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))
        tenant_id = conn.scalar(text("INSERT INTO tenants (name) VALUES ('Acme') RETURNING id"))
        specs = [jobs.JobSpec(tenant_id, "noop", {**PARAMS, "order_id": str(n)}) for n in range(20)]
        ids = [e.id for e in jobs.enqueue_many(conn, specs)]
        index = conn.scalar(
            text(
                "SELECT i.indexrelid::regclass::text FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid "
                "JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE h.inhparent = CAST('ix_pipeline_jobs_params_trgm' AS regclass) "
                "AND t.oid = (SELECT tableoid FROM pipeline_jobs WHERE id = :id)"
            ),
            {"id": ids[0]},
        )
        assert index is not None
    with pg.begin() as conn:
        claimed = jobs.claim(conn, "r1", limit=20, lease_s=60, start=10)
        assert jobs.start_many(conn, "r1", [c for c in claimed if not c.started])
    with pg.begin() as conn:
        assert _pending(conn, index) == 0  # queued, claimed, started: nothing written
        done = jobs.complete(conn, "r1", [jobs.Finished(c.id, c.attempt) for c in claimed[:5]])
        assert len(done) == 5
    with pg.begin() as conn:
        assert _pending(conn, index) == 5  # the five finished jobs, once each
        hits = conn.scalars(select(PipelineJob.id).where(JobFilter(text="orders/paid").where())).all()
        assert sorted(hits) == sorted(ids)  # finished or not


def test_a_rare_string_is_fetched_by_index_and_a_common_one_by_walking_the_newest(session: Session) -> None:
    # The planner expects thousands of matches for any ILIKE; the browser counts them first
    # (db.queries.jobs.FEW_MATCHES) and takes the index for a few, else walks the newest jobs.
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the plans are PostgreSQL's")
    tenant = Tenant(name="Acme")
    session.add(tenant)
    session.flush()
    session.execute(
        text(
            "INSERT INTO pipeline_jobs (tenant_id, job_type, status, params, completed_at, created_at) "
            "SELECT :t, 'noop', 'COMPLETED', jsonb_build_object('invoice_number', 'INV-' || lpad(g::text, 5, '0'), "
            "'shop', 'shop-' || g % 2), now(), now() - g * interval '1 minute' FROM generate_series(1, :n) AS g"
        ),
        {"t": tenant.id, "n": 2 * FEW_MATCHES + 2000},
    )
    session.execute(text("ANALYZE pipeline_jobs"))
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        statements.append(f"{statement} {parameters}")

    def page(needle: str) -> list[str]:
        statements.clear()
        rows = queries.browse_jobs(session, JobFilter(text=needle)).rows
        assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
        return [r["id"] for r in rows]

    settings = "SELECT current_setting('enable_indexscan'), current_setting('max_parallel_workers_per_gather')"
    before = session.execute(text(settings)).one()
    event.listen(session.connection(), "before_cursor_execute", record)
    try:
        rare = page("INV-04242")
        assert rare == list(
            session.scalars(
                select(PipelineJob.id).where(PipelineJob.params["invoice_number"].as_string() == "INV-04242")
            )
        )
        assert any("enable_indexscan" in s for s in statements), statements  # by index: a few matches
        common = page("shop-1")  # FEW_MATCHES + 1,000 matches
        assert len(common) == PAGE_SIZE
        assert not any("enable_indexscan" in s for s in statements), statements  # the walk
    finally:
        event.remove(session.connection(), "before_cursor_execute", record)
    assert session.execute(text(settings)).one() == before  # put back for the rest of the transaction
    session.rollback()
