"""A login that lasts, in real Chromium against the processes ``make run`` starts (SQLite, sandbox, trickle):
a deep link goes through the login and opens the job; a reload and a new tab keep the login; a filtered
list is a URL that round-trips (another tab, ← All jobs); the Jobs list shows an arrival without a
reload; Overview's failed-jobs link opens the filtered list; logout ends the login in every tab (a
live list too, on its next refresh).
Screenshots: test-artifacts/session/."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import httpx
import pytest
from browser import DEMO_EMAIL, DEMO_PASSWORD, VIEWPORT, MakeRun, chromium, log_in, shot, wait_for_app
from sqlalchemy import select

from db.engine import make_engine, make_session_factory
from db.models import LoginFailure, PipelineJob

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
T = 30_000
SHOTS = "session"


def test_login_lasts_across_reloads_tabs_and_links_and_logout_ends_it(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with MakeRun(tmp_path, name=SHOTS) as run:
        engine = make_engine(run.db_url)
        factory = make_session_factory(engine)
        with factory() as s:
            failed = s.scalars(select(PipelineJob).where(PipelineJob.status == "FAILED").limit(1)).one()
            failed_id, tenant_id = failed.id, failed.tenant_id
        with chromium() as browser:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()

            # A shared link to a job, opened without a login: the login page, then the job itself.
            page.goto(f"{run.dashboard}/jobs?job={failed_id}", wait_until="domcontentloaded")
            expect(page.get_by_label("Email")).to_be_visible(timeout=T)
            assert "/session/login?next=" in page.url
            shot(page, SHOTS, "1-login-page")
            log_in(page, run.dashboard, DEMO_EMAIL, DEMO_PASSWORD, f"/jobs?job={failed_id}")
            job_heading = page.get_by_role("heading", name=f"Job #{failed_id} · FAILED")
            expect(job_heading).to_be_visible(timeout=T)
            assert page.url == f"{run.dashboard}/jobs?job={failed_id}"
            assert page.get_by_text("Page not found").count() == 0
            shot(page, SHOTS, "2-deep-link-after-login")

            page.reload(wait_until="domcontentloaded")
            expect(job_heading).to_be_visible(timeout=T)  # no login form on the way
            shot(page, SHOTS, "3-after-reload")

            # A new tab with a filtered list: the filters come from the URL.
            tab = context.new_page()
            tab.goto(f"{run.dashboard}/jobs?status=FAILED", wait_until="domcontentloaded")
            wait_for_app(tab)
            expect(tab.get_by_role("heading", name="Jobs")).to_be_visible(timeout=T)
            status = tab.get_by_test_id("stMultiSelect").filter(has_text="Status")
            expect(status).to_contain_text("FAILED", timeout=T)
            search = tab.get_by_label("Search params and errors", exact=True)
            search.fill("429")
            search.press("Enter")
            tab.wait_for_url(re.compile(r"status=FAILED.*q=429|q=429.*status=FAILED"), timeout=T)
            expect(tab.get_by_text(re.compile(r"^Page 1 · \d+ jobs?"))).to_be_visible(timeout=T)
            shot(tab, SHOTS, "4-filtered-list-in-a-new-tab")
            filtered_url = tab.url

            # The filtered URL round-trips: another tab shows the same filters.
            other = context.new_page()
            other.goto(filtered_url, wait_until="domcontentloaded")
            wait_for_app(other)
            expect(other.get_by_label("Search params and errors", exact=True)).to_have_value("429", timeout=T)
            expect(other.get_by_test_id("stMultiSelect").filter(has_text="Status")).to_contain_text("FAILED")
            shot(other, SHOTS, "5-shared-filtered-url")

            # Open a job from the filtered list, then "← All jobs" returns to the same filters.
            other.get_by_label("Open job #").fill(str(failed_id))
            other.get_by_role("button", name="Go to job").click()
            expect(other.get_by_role("heading", name=f"Job #{failed_id} · FAILED")).to_be_visible(timeout=T)
            assert "status=FAILED" in other.url and "q=429" in other.url
            other.get_by_role("button", name="← All jobs").click()
            expect(other.get_by_role("heading", name="Jobs")).to_be_visible(timeout=T)
            expect(other.get_by_label("Search params and errors", exact=True)).to_have_value("429", timeout=T)
            assert "status=FAILED" in other.url and "q=429" in other.url and "job=" not in other.url
            shot(other, SHOTS, "6-back-to-the-filtered-list")
            other.close()

            # Live: a job that arrives shows up in the open list, no reload.
            marker = f"arrival-{uuid.uuid4().hex[:8]}"
            tab.goto(f"{run.dashboard}/jobs?q={marker}", wait_until="domcontentloaded")
            wait_for_app(tab)
            expect(tab.get_by_text("No jobs match these filters.")).to_be_visible(timeout=T)
            with factory() as s:
                now = dt.datetime.now(dt.UTC)
                arrival = PipelineJob(
                    tenant_id=tenant_id, job_type="noop", status="COMPLETED", params={"note": marker}, attempts=1,
                    created_at=now, run_at=now, started_at=now, completed_at=now,
                )  # fmt: skip
                s.add(arrival)
                s.commit()
            expect(tab.get_by_text(re.compile(r"^Page 1 · 1 job · live"))).to_be_visible(timeout=40_000)
            shot(tab, SHOTS, "7-live-arrival")

            # Overview's failed-jobs link opens the filtered list (it used to crash the Jobs page).
            page.goto(run.dashboard + "/", wait_until="domcontentloaded")
            wait_for_app(page)
            page.get_by_role("link", name=re.compile(r"^Open the \d+ failed jobs$")).click()
            expect(page.get_by_role("heading", name="Jobs")).to_be_visible(timeout=T)
            expect(page.get_by_test_id("stMultiSelect").filter(has_text="Status")).to_contain_text("FAILED", timeout=T)
            assert page.get_by_test_id("stException").count() == 0
            expect(page.get_by_test_id("stDataFrame")).to_be_visible(timeout=T)
            page.wait_for_timeout(1500)  # the grid paints its canvas after the page settles
            shot(page, SHOTS, "8-overview-failed-jobs-link")

            # Logout ends the login everywhere: this tab, a reload, the other tab.
            page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
            expect(page.get_by_text("You logged out")).to_be_visible(timeout=T)
            shot(page, SHOTS, "9-logged-out")
            # The other tab's live list notices on its next refresh, without a click or a reload.
            expect(tab.get_by_text("You logged out")).to_be_visible(timeout=T)
            shot(tab, SHOTS, "9b-other-tab-live-list-after-logout")
            page.goto(f"{run.dashboard}/jobs?job={failed_id}", wait_until="domcontentloaded")
            expect(page.get_by_label("Email")).to_be_visible(timeout=T)
            tab.reload(wait_until="domcontentloaded")
            expect(tab.get_by_label("Email")).to_be_visible(timeout=T)
            shot(tab, SHOTS, "10-other-tab-after-logout")
            cookies = {c["name"]: c for c in context.cookies()}
            assert "zixly_session" not in cookies  # the login page cleared the revoked cookie
        # The per-address throttle counts the connecting address: a local client's (or a pass-through
        # proxy's) X-Forwarded-For is not believed unless FORWARDED_ALLOW_IPS names that proxy.
        with httpx.Client(base_url=run.dashboard, trust_env=False) as http:
            form = http.get("/session/login", headers={"Accept": "text/html"}).text
            token = re.search(r'name="token" value="([^"]+)"', form)
            assert token is not None
            data = {"email": "nobody@example.com", "password": "wrong", "next": "/", "token": token.group(1)}
            http.post("/session/login", data=data, headers={"X-Forwarded-For": "203.0.113.9"})
        with factory() as s:
            keys = s.scalars(select(LoginFailure.key)).all()
        assert any("127.0.0.1" in k for k in keys) and not any("203.0.113.9" in k for k in keys), keys
        engine.dispose()
