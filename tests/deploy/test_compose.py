"""docker-compose.yml is a valid Compose project wiring one image into every Zixly process."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from deploytools import ROOT, docker_compose, run

APP_SERVICES = {"migrate", "webhook", "runner", "dashboard", "sandbox"}
ALL_SERVICES = APP_SERVICES | {"postgres", "prometheus", "grafana", "localstack"}
COMMANDS = {
    "migrate": ["python", "-m", "db", "upgrade"],
    "webhook": ["python", "-m", "webhook"],
    "runner": ["python", "-m", "sync"],
    "sandbox": ["python", "-m", "sandbox"],
}


def _clean_env() -> dict[str, str]:
    # The developer's shell must not change what the file resolves to.
    keep = ("PATH", "HOME", "LANG")
    return {k: v for k, v in os.environ.items() if k in keep}


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    result = run([docker_compose(), "-f", "docker-compose.yml", "config", "--format", "json"], env=_clean_env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_compose_validates_the_file():
    result = run([docker_compose(), "-f", "docker-compose.yml", "config", "-q"], env=_clean_env())
    assert result.returncode == 0, result.stderr


def test_it_has_every_service(project: dict[str, Any]):
    assert set(project["services"]) == ALL_SERVICES


def test_one_image_runs_every_process_and_the_command_picks_it(project: dict[str, Any]):
    services = project["services"]
    assert {services[s]["image"] for s in APP_SERVICES} == {"zixly:latest"}
    assert all(services[s]["build"]["context"] == str(ROOT) for s in APP_SERVICES)
    for name, command in COMMANDS.items():
        assert services[name]["command"] == command
    dashboard = services["dashboard"]["command"]
    assert dashboard[:3] == ["streamlit", "run", "app/server.py"]
    assert dashboard[dashboard.index("--server.address") + 1] == "0.0.0.0"  # noqa: S104 - inside its container


def test_migrations_run_once_before_the_app_starts(project: dict[str, Any]):
    services = project["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("webhook", "runner", "dashboard"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_there_are_two_runners(project: dict[str, Any]):
    assert project["services"]["runner"]["deploy"]["replicas"] == 2


def test_every_long_running_service_has_a_healthcheck(project: dict[str, Any]):
    missing = [name for name in ALL_SERVICES - {"migrate"} if not project["services"][name].get("healthcheck")]
    assert missing == []


def test_settings_come_from_the_env_file(tmp_path: Path):
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    (tmp_path / ".env").write_text("ZIXLY_RUNNER_CONCURRENCY=7\nPOSTGRES_PASSWORD=s3cret\n")
    result = run([docker_compose(), "config", "--format", "json"], cwd=tmp_path, env=_clean_env())
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name in APP_SERVICES:
        assert services[name]["environment"]["ZIXLY_RUNNER_CONCURRENCY"] == "7"
        assert ":s3cret@postgres:5432/" in services[name]["environment"]["ZIXLY_DATABASE_URL"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"


def test_the_wiring_points_at_the_other_containers(project: dict[str, Any]):
    env = project["services"]["runner"]["environment"]
    assert env["ZIXLY_DATABASE_URL"].startswith("postgresql+psycopg://zixly:")
    assert "@postgres:5432/zixly" in env["ZIXLY_DATABASE_URL"]
    assert env["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert env["ZIXLY_BLOB_URL"].startswith("s3://")
    webhook = project["services"]["webhook"]
    assert webhook["environment"]["ZIXLY_WEBHOOK_BIND"] == "0.0.0.0:3000"
    assert webhook["environment"]["PROMETHEUS_MULTIPROC_DIR"] in webhook["tmpfs"]


def test_prometheus_and_grafana_get_the_repository_configuration(project: dict[str, Any]):
    def sources(name: str) -> set[str]:
        return {v["source"] for v in project["services"][name]["volumes"] if v["type"] == "bind"}

    assert sources("prometheus") == {str(ROOT / "prometheus")}
    assert sources("grafana") == {str(ROOT / "grafana/provisioning"), str(ROOT / "grafana/dashboards")}


def test_the_image_runs_unprivileged_and_keeps_secrets_out():
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    assert dockerfile[[line.startswith("FROM") for line in dockerfile].index(True)] == "FROM python:3.11-slim"
    assert "USER zixly" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".git", ".venv*", "var", "tests"} <= set(ignored)
