"""The browser's free-text search over params: every job found, the index written once per job."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from db import jobs
from db.filters import JobFilter
from db.models import PipelineJob, Tenant
from db.models.base import JOB_STATUSES

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
