"""Reusable parts of the browser tests: the processes ``make run`` starts, Chromium, and logging in.

    with MakeRun(tmp_path) as run:               # db upgrade, demo seed, then every Procfile process
        with chromium() as browser:
            page = browser.new_page(viewport=VIEWPORT)
            log_in(page, run.dashboard, DEMO_EMAIL, DEMO_PASSWORD, "/jobs?job=1")

:class:`MakeRun` runs what ``make run`` runs (the Procfile's four lines, on free loopback ports, the
embedded SQLite database in a temporary folder, the sandbox's trickle of events on). Logs land in
``test-artifacts/<name>/`` when it stops, next to the screenshots.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 1000}
DEMO_EMAIL = "admin@zixly.local"
DEMO_PASSWORD = "zixly-demo"
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile() -> dict[str, list[str]]:
    """The Procfile's processes: name → argv (``python`` is this interpreter)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    procs = {}
    for line in lines:
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            argv = shlex.split(command)
            at = argv.index("python")  # after `env NAME=value …`, if any
            procs[name.strip()] = [*argv[:at], sys.executable, *argv[at + 1 :]]
    return procs


class MakeRun:
    """``make run`` for a test: migrate, seed the demo, start the Procfile's processes; stop them after."""

    def __init__(self, tmp: Path, name: str = "e2e", events_per_min: float = 6, **env: str) -> None:
        self.tmp, self.name = tmp, name
        self.db_path = tmp / "var" / "zixly.db"
        self.db_url = f"sqlite:///{self.db_path}"
        self.dashboard_port, self.webhook_port, self.sandbox_port = free_port(), free_port(), free_port()
        self.dashboard = f"http://127.0.0.1:{self.dashboard_port}"
        self.webhook = f"http://127.0.0.1:{self.webhook_port}"
        self.sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
        self.env.update(
            ZIXLY_ENV="development", ZIXLY_DATABASE_URL=self.db_url, ZIXLY_VAR_DIR=str(tmp / "var"),
            ZIXLY_BLOB_URL=str(tmp / "var" / "blobs"), ZIXLY_PUBLIC_URL=self.webhook,
            ZIXLY_WEBHOOK_BIND=f"127.0.0.1:{self.webhook_port}", ZIXLY_WEBHOOK_WORKERS="1",
            ZIXLY_SANDBOX_PORT=str(self.sandbox_port), ZIXLY_SANDBOX_EVENTS_PER_MIN=str(events_per_min),
            ZIXLY_RUNNER_METRICS_PORT="0", ZIXLY_RUNNER_POLL_S="0.2", ZIXLY_LOG_JSON="false",
        )  # fmt: skip
        self.env.update(env)
        self.logs = tmp / "logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> MakeRun:
        self.logs.mkdir(parents=True, exist_ok=True)
        for step in (["-m", "db", "upgrade"], ["-m", "demo", "seed"]):
            subprocess.run([sys.executable, *step], cwd=ROOT, env=self.env, check=True, capture_output=True)
        for name, argv in procfile().items():
            if name == "dashboard":
                argv = [a if a != "8501" else str(self.dashboard_port) for a in argv]
            log = open(self.logs / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait(f"{self.sandbox}/_sandbox/health", "sandbox")
            self._wait(f"{self.webhook}/health", "webhook")
            self._wait(f"{self.dashboard}/_stcore/health", "dashboard")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait(self, url: str, name: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.log(name)[-2000:]}")
            try:
                if httpx.get(url, timeout=1, trust_env=False).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {url}: {self.log(name)[-2000:]}")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *_exc: object) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:  # gunicorn's quick shutdown; the others drain on SIGTERM
                proc.send_signal(signal.SIGQUIT if name == "webhook" else signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        out = ARTIFACTS / self.name
        out.mkdir(parents=True, exist_ok=True)
        for log in self.logs.glob("*.log"):  # kept next to the screenshots for a failed run
            shutil.copy(log, out / log.name)


@contextmanager
def chromium(**launch: Any) -> Iterator[Browser]:
    """Debian's Chromium under Playwright (``playwright install`` is neither needed nor possible here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **launch)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Page, base: str, email: str, password: str, path: str = "/") -> None:
    """Open ``path`` (the login page steps in when needed), log in, and wait for the dashboard to draw.

    The login returns to ``path``, so a deep link such as ``/jobs?job=12`` opens that job.
    """

    page.goto(base + path, wait_until="domcontentloaded")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    wait_for_app(page)


def wait_for_app(page: Page) -> None:
    """The Streamlit page finished drawing (no script running)."""
    from playwright.sync_api import expect

    # "Log out" is drawn by the router once it knows the actor, after the page list arrived.
    expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Log out")).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)


def shot(page: Page, folder: str, name: str) -> Path:
    """A full-page screenshot under ``test-artifacts/<folder>/<name>.png``."""
    out = ARTIFACTS / folder
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.wait_for_timeout(300)  # the data grid paints on a canvas a moment after the DOM settles
    page.screenshot(path=str(path), full_page=True)
    return path
