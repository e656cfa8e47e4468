"""Real processes for end-to-end tests: the sandbox, the listener under gunicorn, runners.

:class:`Stack` starts ``python -m sandbox``, ``python -m webhook`` and
``python -m sync`` as subprocesses on free ports against one PostgreSQL database, with the
vendor URLs on the sandbox and the signing secrets the sandbox uses, so a signed event goes
sandbox → listener → job row → runner → vendor calls exactly as in production. Tenants are
connected through the real OAuth flow (consent at the sandbox, callback at the listener).

The fixtures live in ``tests/e2e/conftest.py``; other suites (reliability) import
:class:`Stack` from here (``from tests.e2e.e2e_stack import Stack``) to start their own.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from db.models import Connection, JobStep, PipelineJob, RelatedRecord, Tenant, WorkflowSetting
from demo.connect import connect
from integrations.xero.webhooks import DEV_WEBHOOK_KEY
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("ZIXLY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TENANT = "Acme Outdoor Co"
SHOP = "acme-outdoor.myshopify.com"
SECRETS = {
    "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
    "ZIXLY_XERO_WEBHOOK_KEY": DEV_WEBHOOK_KEY,
    "ZIXLY_HUBSPOT_CLIENT_ID": "zixly-e2e-hubspot",
    "ZIXLY_HUBSPOT_CLIENT_SECRET": "hubspot-e2e-secret",
    "ZIXLY_SHOPIFY_CLIENT_ID": "zixly-e2e-shopify",
    "ZIXLY_SHOPIFY_CLIENT_SECRET": "shopify-e2e-secret",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class Stack:
    """The processes of one end-to-end environment, and ways to look inside it."""

    def __init__(self, db_url: str, tmp: Path, **env: str) -> None:
        self.db_url = db_url
        self.tmp = tmp
        self.sandbox_port, self.listener_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.sandbox_port}"
        self.listener = f"http://127.0.0.1:{self.listener_port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
        self.env.update(
            ZIXLY_ENV="test", ZIXLY_DATABASE_URL=db_url, ZIXLY_VAR_DIR=str(tmp / "var"),
            ZIXLY_BLOB_URL=str(tmp / "blobs"), ZIXLY_PUBLIC_URL=self.listener,
            ZIXLY_SANDBOX_PORT=str(self.sandbox_port), ZIXLY_WEBHOOK_BIND=f"127.0.0.1:{self.listener_port}",
            ZIXLY_WEBHOOK_WORKERS="1", ZIXLY_RUNNER_LEASE_S="2", ZIXLY_RUNNER_POLL_S="0.2",
            ZIXLY_RUNNER_METRICS_PORT="0", ZIXLY_RUNNER_GRACE_S="5", ZIXLY_LOG_JSON="false",
            ZIXLY_LOG_LEVEL="WARNING", ZIXLY_SANDBOX_EVENTS_PER_MIN="0", **SECRETS,
        )  # fmt: skip
        self.env.update(env)
        self.settings = Settings(
            _env_file=None, **{k[6:].lower(): v for k, v in self.env.items() if k.startswith("ZIXLY_")}
        )  # type: ignore[arg-type]
        self.engine: Engine = make_engine(db_url)
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._runners = itertools.count()

    # -- processes --------------------------------------------------------------------------
    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def start(self) -> Stack:
        self.spawn("sandbox", "-m", "sandbox")
        self.spawn("webhook", "-m", "webhook")
        self.start_runner()
        wait_for(lambda: self._up(f"{self.base}/_sandbox/health"), 60, "the sandbox")
        wait_for(lambda: self._up(f"{self.listener}/health"), 60, "the listener")
        return self

    def start_runner(self) -> subprocess.Popen[bytes]:
        return self.spawn(f"runner-{next(self._runners)}", "-m", "sync")

    def runner(self) -> subprocess.Popen[bytes]:
        """The newest runner process."""
        name = max((n for n in self.procs if n.startswith("runner-")), key=lambda n: int(n.split("-")[1]))
        return self.procs[name]

    def kill_runner(self) -> None:
        """kill -9: no drain, no goodbye; its leases expire and the reaper requeues its jobs."""
        proc = self.runner()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                # gunicorn's quick shutdown; the others drain on SIGTERM.
                proc.send_signal(signal.SIGQUIT if name == "webhook" else signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.engine.dispose()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.tmp.glob("*.log"))
        )

    @staticmethod
    def _up(url: str) -> bool:
        try:
            return httpx.get(url, timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    # -- the sandbox ------------------------------------------------------------------------
    def control(self, path: str, **body: Any) -> Any:
        response = httpx.post(f"{self.base}/_sandbox/{path}", json=body, trust_env=False, timeout=60)
        response.raise_for_status()
        return response.json()

    def sandbox_post(self, path: str, **body: Any) -> Any:
        response = httpx.post(f"{self.base}{path}", json=body, trust_env=False, timeout=60)
        response.raise_for_status()
        return response.json()

    def writes(self, vendor: str) -> dict[str, int]:
        found: dict[str, int] = httpx.get(f"{self.base}/_sandbox/writes", trust_env=False).json().get(vendor, {})
        return found

    def hubspot(self, method: str, path: str, **kwargs: Any) -> Any:
        """The sandbox's HubSpot API with a private-app token (what a person would look at)."""
        headers = {"Authorization": "Bearer pat-e2e-inspector"}
        response = httpx.request(method, f"{self.base}/hubspot{path}", headers=headers, trust_env=False, **kwargs)
        response.raise_for_status()
        return response.json()

    def hubspot_contact(self, email: str, *properties: str) -> dict[str, Any] | None:
        body = {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
            "properties": ["email", *properties],
            "limit": 1,
        }
        results = self.hubspot("POST", "/crm/objects/2026-09/contacts/search", json=body)["results"]
        return results[0] if results else None

    # -- tenants and jobs -------------------------------------------------------------------
    def create_tenant(self, name: str = TENANT, systems: tuple[str, ...] = ("xero", "hubspot", "shopify")) -> int:
        with self.factory() as session, session.begin():
            tenant = Tenant(name=name)
            session.add(tenant)
            session.flush()
            for system in systems:
                session.add(
                    Connection(
                        tenant_id=tenant.id, system=system, external_org_id=SHOP if system == "shopify" else None
                    )
                )
            tenant_id = tenant.id
        for system in systems:
            self.connect(tenant_id, system)
        return tenant_id

    def without_debounce(self, tenant_id: int) -> None:
        """Every event its own job: for runs that count one job per delivery (not debounce's tests)."""
        from jobtypes import CATALOGUE

        with self.factory() as session, session.begin():
            for entry in CATALOGUE:
                if entry.options is not None and "debounce_s" in entry.options.model_fields:
                    session.add(WorkflowSetting(tenant_id=tenant_id, workflow=entry.name, options={"debounce_s": 0}))

    def connect(self, tenant_id: int, system: str) -> None:
        """The OAuth flow: consent at the sandbox, the callback at the listener."""
        connect(self.settings, self.factory, tenant_id, system, shop=SHOP if system == "shopify" else None)

    def connection(self, tenant_id: int, system: str) -> Connection:
        with self.factory() as session:
            found = session.scalar(
                select(Connection).where(Connection.tenant_id == tenant_id, Connection.system == system)
            )
            assert found is not None
            return found

    def jobs(self, job_type: str, **params: str) -> list[PipelineJob]:
        with self.factory() as session:
            rows = session.scalars(select(PipelineJob).where(PipelineJob.job_type == job_type).order_by(PipelineJob.id))
            return [j for j in rows if all(j.params.get(k) == v for k, v in params.items())]

    def job(self, job_id: int) -> PipelineJob:
        with self.factory() as session:
            found = session.get(PipelineJob, job_id)
            assert found is not None
            return found

    def wait_job(self, job_type: str, timeout: float = 20, **params: str) -> PipelineJob:
        """The first job of this type and params, once it has finished."""
        found = wait_for(lambda: self.jobs(job_type, **params), timeout, f"a {job_type} job for {params}")
        job_id = found[0].id

        def finished() -> PipelineJob | None:
            job = self.job(job_id)
            return job if job.status in ("COMPLETED", "FAILED", "CANCELLED") else None

        result: PipelineJob = wait_for(finished, timeout, f"{job_type} job {job_id} to finish")
        return result

    def steps(self, job_id: int) -> list[JobStep]:
        with self.factory() as session:
            return list(session.scalars(select(JobStep).where(JobStep.job_id == job_id).order_by(JobStep.id)))

    def records(self, job_id: int) -> set[tuple[str, str, str, str]]:
        with self.factory() as session:
            rows = session.scalars(select(RelatedRecord).where(RelatedRecord.job_id == job_id))
            return {(r.system, r.record_type, r.record_id, r.action) for r in rows}
