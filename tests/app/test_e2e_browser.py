"""End to end in real headless Chromium: log in, filter failed jobs, rerun one and watch it
complete (a real runner process runs it), download a CSV. Screenshots go to test-artifacts/e2e/."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import log_in
from dashboard_seed import PASSWORD, seed

from db.engine import make_engine, make_session_factory
from db.models import PipelineJob

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (a fixed http URL)
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def stack(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, int]]:
    """A seeded database, a runner and the dashboard; yields (dashboard URL, id of a failed noop job)."""
    db = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        seeded = seed(s)
        now = dt.datetime.now(dt.UTC)
        failed = PipelineJob(tenant_id=seeded.acme, job_type="noop", status="FAILED", params={"note": True},
                             error="boom (e2e)", attempts=3, created_at=now, run_at=now, started_at=now,
                             completed_at=now)  # fmt: skip
        s.add(failed)
        s.commit()
        failed_id = failed.id
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
    env.update(ZIXLY_ENV="test", ZIXLY_DATABASE_URL=url, ZIXLY_VAR_DIR=str(tmp_path / "var"),
               ZIXLY_BLOB_URL=str(tmp_path / "blobs"), ZIXLY_RUNNER_METRICS_PORT="0", ZIXLY_RUNNER_POLL_S="0.2",
               ZIXLY_LOG_JSON="false")  # fmt: skip
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    runner_log, dashboard_log = open(logs / "runner.log", "wb"), open(logs / "dashboard.log", "wb")  # noqa: SIM115
    runner = subprocess.Popen([sys.executable, "-m", "sync"], cwd=ROOT, env=env,
                              stdout=runner_log, stderr=subprocess.STDOUT)  # fmt: skip
    dashboard = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/server.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=dashboard_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/_stcore/health", dashboard)
        yield f"http://127.0.0.1:{port}", failed_id
    finally:
        _stop(dashboard)
        _stop(runner)
        runner_log.close()
        dashboard_log.close()
        for log in logs.iterdir():  # kept next to the screenshots for a failed run
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / log.name)


def test_staff_log_in_rerun_a_failed_job_see_it_complete_and_export(stack: tuple[str, int]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, failed_id = stack
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        log_in(page, base, "editor@example.com", PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "1-overview.png"), full_page=True)

        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Jobs").click()
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible(timeout=30_000)
        status = page.get_by_test_id("stMultiSelect").filter(has_text="Status")
        status.click()
        page.get_by_role("option", name="FAILED").click()
        page.keyboard.press("Escape")
        # 6 seeded failures + the noop one (+ the seeded queued job of an unknown type, once the runner fails it)
        expect(page.get_by_text(re.compile(r"^Page 1 · [78] jobs"))).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)  # the grid paints on a canvas
        page.screenshot(path=str(ARTIFACTS / "2-failed-jobs.png"), full_page=True)

        page.get_by_label("Open job #").fill(str(failed_id))
        page.get_by_role("button", name="Go to job").click()
        expect(page.get_by_role("heading", name=f"Job #{failed_id} · FAILED")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Rerun", exact=True).click()
        expect(page.get_by_text(f"(rerun of #{failed_id})")).to_be_visible(timeout=30_000)
        # .first: while the page refreshes itself, Streamlit briefly holds the old heading beside the new one.
        done = page.get_by_role("heading", name="· COMPLETED").first
        expect(done).to_be_visible(timeout=60_000)  # the runner ran it; the page refreshed itself
        page.screenshot(path=str(ARTIFACTS / "3-rerun-completed.png"), full_page=True)

        page.get_by_role("button", name="← All jobs").click()
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Prepare CSV export").click()
        with page.expect_download(timeout=30_000) as info:
            page.get_by_role("button", name="Download CSV").click()
        target = ARTIFACTS / info.value.suggested_filename
        info.value.save_as(target)
        page.screenshot(path=str(ARTIFACTS / "4-export.png"), full_page=True)
        browser.close()
    body = target.read_bytes()
    assert body.startswith(b"\xef\xbb\xbfid,tenant,job_type,status")
    assert target.name.startswith("zixly-jobs-all-tenants-")
    assert f"{failed_id},Acme Outdoor,noop,FAILED".encode() in body
