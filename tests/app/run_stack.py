"""What ``make run`` starts, started for a test: migrate and seed the demo into a temporary SQLite
file, then the Procfile's processes (listener, runner, dashboard, sandbox with the demo's event
trickle) under honcho, on free loopback ports.

The Procfile is used as written except for the dashboard's port (8501 there, a free one here);
every other port and path comes from the ``ZIXLY_*`` variables the processes read (settings.py),
so the test runs beside a developer's own ``make run`` and leaves nothing in the work tree.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from servers import wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PROCESSES = ("webhook", "runner", "dashboard", "sandbox")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_for(dashboard_port: int) -> str:
    """The repository's Procfile with the dashboard on ``dashboard_port`` instead of 8501."""
    text = (ROOT / "Procfile").read_text()
    assert "--server.port 8501" in text, "the Procfile's dashboard line changed; update run_stack.py"
    return text.replace("--server.port 8501", f"--server.port {dashboard_port}")


@dataclass
class RunStack:
    """``make run`` in ``tmp``: :meth:`start`, use :attr:`dashboard` and friends, :meth:`stop`."""

    tmp: Path
    events_per_min: float = 6.0  # make run's default trickle
    dashboard_port: int = field(default_factory=free_port)
    webhook_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def listener(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.tmp / 'var' / 'zixly.db'}"

    @property
    def log_path(self) -> Path:
        return self.tmp / "honcho.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
        var = self.tmp / "var"
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # as make run: the venv's python first
            ZIXLY_DATABASE_URL=self.database_url, ZIXLY_VAR_DIR=str(var), ZIXLY_BLOB_URL=str(var / "blobs"),
            ZIXLY_WEBHOOK_BIND=f"127.0.0.1:{self.webhook_port}", ZIXLY_PUBLIC_URL=self.listener,
            ZIXLY_SANDBOX_PORT=str(self.sandbox_port), ZIXLY_RUNNER_METRICS_PORT=str(self.metrics_port),
            ZIXLY_SANDBOX_EVENTS_PER_MIN=f"{self.events_per_min:g}", ZIXLY_LOG_JSON="false",
            ZIXLY_WEBHOOK_WORKERS="1",  # two cores shared with the browser and the test
        )  # fmt: skip
        return env

    def start(self) -> RunStack:
        env = self.env()
        with open(self.tmp / "setup.log", "wb") as log:
            for step in (["-m", "db", "upgrade"], ["-m", "demo", "seed"]):
                subprocess.run([sys.executable, *step], cwd=ROOT, env=env, stdout=log, stderr=log, check=True)
        procfile = self.tmp / "Procfile"
        procfile.write_text(procfile_for(self.dashboard_port))
        empty_env = self.tmp / "empty.env"  # honcho would otherwise read a developer's .env over ours
        empty_env.write_text("")
        log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as honcho
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "honcho"), "start", "--no-colour", "-f", str(procfile), "-e", str(empty_env)],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        for url in (f"{self.sandbox}/_sandbox/health", f"{self.listener}/health", f"{self.dashboard}/_stcore/health"):
            wait_until_ready(self.proc, url, self.log_path, timeout_s=90, ready=lambda status: status == 200)
        self.wait_for_log("demo tenant connections:", timeout_s=90)  # the trickle connected the demo tenant
        return self

    def wait_for_log(self, text: str, timeout_s: float = 30) -> str:
        """The first honcho log line containing ``text``, once it is written."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if text in line:
                    return line
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no {text!r} in the log: {self.log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """honcho passes SIGTERM on to every process and waits for them."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: honcho and the processes it started
            self.proc.wait()
