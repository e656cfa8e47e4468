"""Fixtures for the runner's tests: a tenant, fast runner settings, a helper to read jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.models import PipelineJob, Tenant
from settings import Settings
from sync.runner import Runner


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """Short leases and polls so lifecycle tests take seconds, not minutes."""
    return settings.model_copy(
        update={"runner_lease_s": 2.0, "runner_poll_s": 0.1, "runner_grace_s": 5.0, "runner_metrics_port": 0}
    )


@pytest.fixture
def tenant_id(session: Session) -> int:
    tenant = Tenant(name="Acme")
    session.add(tenant)
    session.commit()
    return tenant.id


@pytest.fixture
def runner(fast_settings: Settings, engine: Engine) -> Iterator[Runner]:
    yield Runner(fast_settings, engine, runner_id="test-runner", jitter=lambda _d: 0.0)


@pytest.fixture
def read_job(session_factory: sessionmaker[Session]) -> Callable[[int], PipelineJob]:
    def read(job_id: int) -> PipelineJob:
        with session_factory() as s:
            found = s.get(PipelineJob, job_id)
            assert found is not None
            return found

    return read


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    return {"ZIXLY_VAR_DIR": str(tmp_path / "var")}
