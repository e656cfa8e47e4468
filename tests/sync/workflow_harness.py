"""In-process harness for workflow tests: the sandbox on a real port, a tenant connected to it
through the OAuth flow, and a runner that runs one job at a time in the test's thread.

Nothing is mocked between the workflow and the emulators: every call is real HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from db.engine import make_engine, make_session_factory
from db.models import Connection, JobStep, PipelineJob, RelatedRecord, Tenant
from demo.connect import connect
from sandbox.app import create_sandbox_app
from settings import Settings
from sync.runner import Runner
from tests.servers import serving

SHOP = "acme-outdoor.myshopify.com"
TENANT = "Acme Outdoor Co"


@dataclass
class Env:
    base: str
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    tenant_id: int
    runner: Runner

    # -- sandbox controls -----------------------------------------------------------------
    def control(self, path: str, **body: Any) -> Any:
        response = httpx.post(f"{self.base}/_sandbox/{path}", json=body, trust_env=False, timeout=30)
        response.raise_for_status()
        return response.json()

    def writes(self, vendor: str) -> dict[str, int]:
        found: dict[str, int] = httpx.get(f"{self.base}/_sandbox/writes", trust_env=False).json().get(vendor, {})
        return found

    # -- jobs -----------------------------------------------------------------------------
    def run(self, job_type: str, params: dict[str, Any] | None = None, *, max_attempts: int = 3) -> PipelineJob:
        """Enqueue and run the job to its end (retries included, backoff skipped)."""
        with self.factory() as session, session.begin():
            job_id = jobs.enqueue(
                session, tenant_id=self.tenant_id, job_type=job_type, params=params or {}, max_attempts=max_attempts,
                created_by="test",
            ).id  # fmt: skip
        return self.finish(job_id)

    def finish(self, job_id: int) -> PipelineJob:
        for _ in range(20):
            with self.factory() as session, session.begin():
                session.execute(PipelineJob.__table__.update().where(PipelineJob.id == job_id).values(
                    run_at=jobs._sql.utcnow()))  # fmt: skip
            self.runner.run_once()
            job = self.job(job_id)
            if job.status in ("COMPLETED", "FAILED", "CANCELLED"):
                return job
        raise AssertionError(f"job {job_id} did not finish")

    def job(self, job_id: int) -> PipelineJob:
        with self.factory() as session:
            job = session.get(PipelineJob, job_id)
            assert job is not None
            return job

    def steps(self, job_id: int) -> list[JobStep]:
        with self.factory() as session:
            return list(session.scalars(select(JobStep).where(JobStep.job_id == job_id).order_by(JobStep.id)))

    def records(self, job_id: int) -> set[tuple[str, str, str, str]]:
        with self.factory() as session:
            rows = session.scalars(select(RelatedRecord).where(RelatedRecord.job_id == job_id))
            return {(r.system, r.record_type, r.record_id, r.action) for r in rows}

    def connection(self, system: str) -> Connection:
        with self.factory() as session:
            found = session.scalar(
                select(Connection).where(Connection.tenant_id == self.tenant_id, Connection.system == system)
            )
            assert found is not None
            return found


@contextmanager
def workflow_env(
    db_url: str,
    tmp_path: Path,
    systems: tuple[str, ...] = ("xero", "hubspot"),
    wrap: Callable[[Any], Any] = lambda app: app,
) -> Iterator[Env]:
    """``wrap`` is applied to the sandbox's WSGI app (the fidelity suite records with it)."""
    sandbox_settings = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    with serving(wrap(create_sandbox_app(sandbox_settings))) as base:
        httpx.post(base + "/_sandbox/reset", trust_env=False).raise_for_status()
        settings = Settings(
            env="test", var_dir=tmp_path, database_url=db_url, sandbox_port=int(base.rsplit(":", 1)[1]),
            runner_lease_s=5.0, runner_metrics_port=0, _env_file=None,  # type: ignore[call-arg]
        )  # fmt: skip
        engine = make_engine(settings)
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            tenant = Tenant(name=TENANT)
            session.add(tenant)
            session.flush()
            tenant_id = tenant.id
            for system in systems:
                org = SHOP if system == "shopify" else None
                session.add(Connection(tenant_id=tenant_id, system=system, external_org_id=org))
        for system in systems:
            connect(settings, factory, tenant_id, system, shop=SHOP if system == "shopify" else None,
                    via_listener=False)  # fmt: skip
        runner = Runner(settings, engine, runner_id="test-runner", jitter=lambda _d: 0.0)
        try:
            yield Env(base, settings, engine, factory, tenant_id, runner)
        finally:
            engine.dispose()
