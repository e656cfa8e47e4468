"""A newcomer's first rerun: every seeded failed job, rerun from the dashboard's action, runs
against the sandbox with a real runner and completes — or fails again for its deliberate,
readable reason (the record was deleted at the vendor), never on its params."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from app import actions
from db import jobs, queries
from db.auth import Actor
from db.blobs import make_blob_store
from db.engine import make_engine, make_session_factory
from db.models import PipelineJob, RelatedRecord, Tenant
from demo import history
from demo.connect import connect_tenant
from demo.seed import DEMO_TENANT, seed_demo
from sandbox.app import create_sandbox_app
from sandbox.xero.data import seeded_invoices as xero_invoices
from settings import Settings
from sync.runner import Runner
from tests.servers import serving

ADMIN = Actor(email="admin@zixly.local", role="ADMIN", user_id=1)
FINAL = ("COMPLETED", "FAILED", "CANCELLED")


def test_every_seeded_failure_reruns_against_the_sandbox(db_url: str, tmp_path: Path) -> None:
    sandbox = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    with serving(create_sandbox_app(sandbox)) as base:
        httpx.post(base + "/_sandbox/reset", trust_env=False).raise_for_status()
        settings = Settings(
            env="test", var_dir=tmp_path, database_url=db_url, blob_url=str(tmp_path / "blobs"),
            sandbox_port=int(base.rsplit(":", 1)[1]), runner_lease_s=10.0, runner_metrics_port=0,
            _env_file=None,  # type: ignore[call-arg]
        )  # fmt: skip
        engine = make_engine(settings)
        factory = make_session_factory(engine)
        try:
            with factory() as s:
                assert seed_demo(s, days=2, jobs_per_day=120, seed=11)
                s.commit()
                tenant_id = s.scalar(select(Tenant.id).where(Tenant.name == DEMO_TENANT))
                failed = list(s.scalars(select(PipelineJob).where(PipelineJob.status == "FAILED")))
                queued_sweeps = list(s.scalars(select(PipelineJob.id).where(PipelineJob.status == "QUEUED")))
            assert tenant_id is not None
            assert connect_tenant(settings, factory, tenant_id, via_listener=False) == dict.fromkeys(
                ("xero", "hubspot", "shopify", "asana"), "connected"
            )
            kinds = {(j.job_type, "gone" if "deleted" in (j.error or "") or "has no" in (j.error or "") else "down")
                     for j in failed}  # fmt: skip
            assert len(failed) >= 8 and ("xero-invoice-paid", "gone") in kinds and ("trading-sweep", "down") in kinds
            reruns: dict[int, int] = {}
            for job in failed:
                with factory() as s:
                    reruns[job.id] = actions.rerun(s, ADMIN, job.id)  # the catalogue's check passes for each
            runner = Runner(settings, engine, runner_id="demo-rerun", jitter=lambda _d: 0.0)
            outcome = _run_all(factory, runner, [*reruns.values(), *queued_sweeps])
        except BaseException:
            engine.dispose()
            raise
    for job in failed:
        status, error = outcome[reruns[job.id]]
        deleted = job.params in (
            {"invoice_id": history.DELETED_INVOICE},
            {"order_id": history.DELETED_ORDER, "shop": history.SHOP},
            {"deal_id": history.DELETED_DEAL},
        )
        if deleted:  # fails again, for the reason the seeded job gave: the record is gone
            assert (status, error) == ("FAILED", job.error), (job.job_type, job.params)
        else:
            assert (status, error) == ("COMPLETED", None), (job.job_type, job.params, error)
    # Every seeded record is found by the name people know it by and by its vendor id, each job once.
    with factory() as s:
        for record in s.scalars(select(RelatedRecord).where(RelatedRecord.record_label.is_not(None)).limit(400)):
            by_label = {j["job_id"] for j in queries.lookup_jobs(s, record.record_label.upper())}
            assert record.job_id in by_label, record.record_label
            assert record.job_id in {j["job_id"] for j in queries.lookup_jobs(s, record.record_id)}
        order = queries.lookup_jobs(s, "1002")  # an order name without its '#'
        assert order and {j["job_type"] for j in order} >= {"shopify-order-to-xero"}
    # The live reruns recorded the names people know (not only the vendor ids): lookup finds them.
    paid_checked: list[str] = []
    with factory() as s:
        for job in failed:
            if job.job_type != "xero-invoice-paid" or outcome[reruns[job.id]][0] != "COMPLETED":
                continue
            number = next(i["number"] for i in xero_invoices() if i["invoice_id"] == job.params["invoice_id"])
            found = queries.lookup_jobs(s, number.lower())
            assert reruns[job.id] in [j["job_id"] for j in found], number
            assert len({j["job_id"] for j in found}) == len(found)  # each job once
            invoice = next(i for i in xero_invoices() if i["invoice_id"] == job.params["invoice_id"])
            if invoice["status"] == "PAID":  # a paid invoice's job updates the HubSpot contact with that email
                paid_checked.append(invoice["number"])
                assert reruns[job.id] in [j["job_id"] for j in queries.lookup_jobs(s, invoice["email"].upper())]
    # The queued sweeps completed, and their result blobs are there for the Trading sweeps page.
    store = make_blob_store(settings.blob_url)
    for sweep_id in queued_sweeps:
        status, _error = outcome[sweep_id]
        assert status == "COMPLETED"
        with factory() as s:
            result = s.get(PipelineJob, sweep_id).result  # type: ignore[union-attr]
        assert store.get(result["csv_key"]) and store.get(result["equity_key"])
    engine.dispose()


def _run_all(factory, runner: Runner, ids: list[int]) -> dict[int, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """Run the jobs to their end (retries without their backoff); their final status and error."""
    for _ in range(400):
        with factory() as s, s.begin():
            s.execute(update(PipelineJob).where(PipelineJob.id.in_(ids), PipelineJob.status == "QUEUED")
                      .values(run_at=jobs._sql.utcnow() - dt.timedelta(seconds=1)))  # fmt: skip
        runner.run_once()
        with factory() as s:
            rows = {j.id: (j.status, j.error) for j in s.scalars(select(PipelineJob).where(PipelineJob.id.in_(ids)))}
        if all(status in FINAL for status, _ in rows.values()):
            return rows
    raise AssertionError(f"not finished: {[i for i, (st, _) in rows.items() if st not in FINAL]}")


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
