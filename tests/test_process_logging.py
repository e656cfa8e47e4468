"""Every process logs through :mod:`logconfig`: JSON lines with the expected fields, job lines
with the job's context, and never a secret from its environment.

Each process is started as its entry point runs it (``python -m db``, ``python -m webhook``,
``python -m sync``, ``python -m sandbox``, ``streamlit run app/main.py``) with a database URL
holding a password, a Fernet key and a client secret in its environment. ``tests/test_logconfig.py``
covers the formatter and redaction rules in process; tests/reliability/test_security_secrets.py
searches a full OAuth-and-webhooks run for secrets.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from db import jobs
from db.engine import make_engine, make_session_factory
from db.models import PipelineJob, Tenant
from tests.servers import stop, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"time", "level", "logger", "message", "process"}
DB_PASSWORD = f"dbpw-{uuid.uuid4().hex[:12]}"
CLIENT_SECRET = f"xero-secret-{uuid.uuid4().hex[:12]}"
FERNET_KEY = "Xq7Wd3pQyR2uN8aHkLm0ZcVb4sTfGj6eYiOx1rPnK5E="
SECRETS = (DB_PASSWORD, CLIENT_SECRET, FERNET_KEY)

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def env(pg_url: str, tmp_path: Path) -> dict[str, str]:
    # Trust authentication ignores the password, so the URL works and still carries a secret.
    url = make_url(pg_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    return {
        **os.environ,
        "ZIXLY_ENV": "test",
        "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_DATABASE_URL": url,
        "ZIXLY_SECRET_KEY": FERNET_KEY,
        "ZIXLY_XERO_CLIENT_SECRET": CLIENT_SECRET,
        "ZIXLY_LOG_JSON": "true",
        "ZIXLY_LOG_LEVEL": "INFO",
    }


@contextmanager
def _running(args: list[str], env: dict[str, str], tmp: Path, ready_url: str | None) -> Iterator[Callable[[], str]]:
    """Run ``python <args>``; yields a reader of everything it wrote (stdout and stderr)."""
    name = args[1] if args[0] == "-m" else args[0]
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        try:
            if ready_url is not None:
                wait_until_ready(proc, ready_url, err, timeout_s=60)
            yield lambda: err.read_text(errors="replace")
        finally:
            stop(proc)
    assert not any(s in out.read_text() + err.read_text() for s in SECRETS), f"a secret in {name}'s output"


def _records(stderr: str, process: str) -> list[dict[str, Any]]:
    """Every line as JSON with the standard fields (a line that is not JSON fails, naming itself)."""
    records = []
    for line in filter(None, stderr.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"{process}: not a JSON log line: {line!r}")
        assert record.keys() >= FIELDS, record
        assert record["process"] == process, record
        records.append(record)
    return records


def _clean(text: str) -> None:
    assert not any(s in text for s in SECRETS)


def test_python_m_db_logs_json_and_no_secret(env: dict[str, str]) -> None:
    run = subprocess.run([sys.executable, "-m", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = _records(run.stderr, "db")
    assert any(r["message"] == "database is up to date" for r in records)
    _clean(run.stdout + run.stderr)


def test_the_listener_logs_json_gunicorn_lines_included(env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    env |= {"ZIXLY_WEBHOOK_BIND": f"127.0.0.1:{port}", "ZIXLY_WEBHOOK_WORKERS": "1"}
    base = f"http://127.0.0.1:{port}"
    with _running(["-m", "webhook"], env, tmp_path, base + "/health") as output:
        # A credential the listener refuses: it must not echo it anywhere.
        refused = httpx.get(base + "/webhook/jobs/1", headers={"Authorization": f"Bearer {CLIENT_SECRET}"})
        assert refused.status_code == 401
    records = _records(output(), "webhook")
    assert any(r["logger"].startswith("gunicorn") for r in records), records


def test_the_runner_logs_json_and_each_job_line_carries_the_job(env: dict[str, str], tmp_path: Path) -> None:
    engine = make_engine(env["ZIXLY_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
        job_id = jobs.enqueue(session, tenant_id=tenant_id, job_type="noop",
                              params={"fail_times": 1, "permanent": True}).id  # fmt: skip
        session.commit()
    env |= {"ZIXLY_LOG_LEVEL": "DEBUG", "ZIXLY_RUNNER_METRICS_PORT": "0", "ZIXLY_RUNNER_POLL_S": "0.2"}
    try:
        with _running(["-m", "sync"], env, tmp_path, None) as output:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with make_session_factory(engine)() as session:
                    if session.scalar(select(PipelineJob.status).where(PipelineJob.id == job_id)) == "FAILED":
                        break
                time.sleep(0.2)
            else:
                pytest.fail(f"the runner did not fail job {job_id}: {output()[-2000:]}")
            time.sleep(0.5)  # the finisher logs the failure after writing it
    finally:
        engine.dispose()
    records = _records(output(), "runner")
    job_lines = [r for r in records if r.get("job_id") == job_id]
    assert len(job_lines) >= 2, records  # the attempt's start (in the worker) and its failure (in the finisher)
    assert all((r["tenant"], r["job_type"]) == (tenant_id, "noop") for r in job_lines)
    assert not [r for r in records if "job_id" in r and r["job_id"] != job_id]


def test_the_sandbox_logs_json(env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    with _running(["-m", "sandbox", "--port", str(port)], env, tmp_path,
                  f"http://127.0.0.1:{port}/_sandbox/health") as output:  # fmt: skip
        pass
    records = _records(output(), "sandbox")
    assert any("sandbox listening" in r["message"] for r in records)


def test_the_dashboard_logs_json_once_a_session_runs_the_app(env: dict[str, str], tmp_path: Path) -> None:
    websockets = pytest.importorskip("websockets.sync.client")
    from streamlit.proto.BackMsg_pb2 import BackMsg

    port = _free_port()
    args = ["-m", "streamlit", "run", "app/main.py", "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    with _running(args, env, tmp_path, f"http://127.0.0.1:{port}/_stcore/health") as output:
        # `streamlit run` runs app/main.py per session: open one, as a browser would.
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"]) as ws:
            ws.send(rerun.SerializeToString())
            deadline = time.monotonic() + 30
            while "dashboard logging configured" not in output() and time.monotonic() < deadline:
                with suppress(TimeoutError):
                    ws.recv(timeout=0.5)
    stderr = output()
    # Streamlit's own start-up line comes before any session has run our setup; every line after is ours.
    start = stderr.find('{"')
    assert start >= 0, stderr
    records = _records(stderr[start:], "dashboard")
    assert any(r["message"] == "dashboard logging configured" for r in records)
