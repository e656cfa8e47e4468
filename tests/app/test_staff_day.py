"""A staff member's day in real headless Chromium, against what ``make run`` starts.

The processes are the Procfile's (listener, runner, dashboard, sandbox with the demo's event
trickle) on a temporary SQLite file seeded by ``python -m demo seed`` (``browser.MakeRun``).
A person logs in with the demo account and does the everyday work, one step after another;
each step saves a screenshot to ``test-artifacts/staff-day/`` (``NN-step.png``, or
``NN-step-FAILED.png`` for the step that failed), and the processes' log is kept beside them.

What the page shows is what is asserted; the database is read only where a person would check
elsewhere (that nothing was queued, which rows an export should hold).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import ARTIFACTS as ALL_ARTIFACTS
from browser import CHROMIUM, DEMO_EMAIL, DEMO_PASSWORD, VIEWPORT, MakeRun, chromium
from playwright.sync_api import Browser, ViewportSize, expect
from sqlalchemy import Engine, func, select, update
from staff_day import WAIT_MS, Day

from db.engine import make_engine
from db.models import PipelineJob

ARTIFACTS = ALL_ARTIFACTS / "staff-day"
VENDORS = ("Xero", "HubSpot", "Shopify", "Asana")
SCREEN = ViewportSize(width=VIEWPORT["width"], height=VIEWPORT["height"])
VIEWER_EMAIL, VIEWER_PASSWORD = "viewer.day@zixly.local", "a-viewer-password-1"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)  # only this run's screenshots
    with MakeRun(tmp_path_factory.mktemp("make-run"), name=ARTIFACTS.name) as run:
        # The sandbox connects the demo tenant through OAuth when it starts (its grants live in
        # memory); the day's own reconnects come after that.
        wait_for(lambda: "demo tenant connections:" in run.log("sandbox"), 90, "the demo tenant's connections")
        yield run


@pytest.fixture(scope="module")
def db(stack: MakeRun) -> Iterator[Engine]:
    engine = make_engine(stack.db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


# -- what a step reads behind the page -------------------------------------------------------


def children(db: Engine, job_id: int) -> list[tuple[int, str]]:
    """The reruns of a job: (id, status)."""
    with db.connect() as c:
        rows = c.execute(select(PipelineJob.id, PipelineJob.status).where(PipelineJob.parent_job_id == job_id))
        return [(r.id, r.status) for r in rows]


def failed_with_error(db: Engine, job_type: str, text: str) -> set[int]:
    """The FAILED jobs of a type whose error mentions ``text``."""
    with db.connect() as c:
        rows = c.execute(
            select(PipelineJob.id).where(
                PipelineJob.job_type == job_type, PipelineJob.status == "FAILED", PipelineJob.error.contains(text)
            )
        )
        return {r.id for r in rows}


def job(db: Engine, job_id: int) -> dict[str, Any]:
    with db.connect() as c:
        row = c.execute(select(PipelineJob).where(PipelineJob.id == job_id)).mappings().one()
        return dict(row)


# -- the grid: Streamlit's dataframe paints on a canvas and mirrors its rows in a DOM table -----


def grid_rows(day: Day, index: int = 0) -> list[list[str]]:
    rows = day.page.get_by_test_id("stDataFrame").nth(index).locator("table[role=grid] tbody tr")
    return [[cell.strip() for cell in row.locator("td").all_text_contents()] for row in rows.all()]


def rows_when(day: Day, check: Callable[[list[list[str]]], bool], what: str) -> list[list[str]]:
    """The grid's rows once ``check`` holds (Streamlit redraws a filtered table after a moment)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        rows = grid_rows(day)
        try:
            ready = bool(rows) and check(rows)
        except IndexError:  # a row read while the live table redrew it, its cells not all there yet
            ready = False
        if ready:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"the table never showed {what}: {rows[:5]}")
        day.page.wait_for_timeout(250)


def click_row(day: Day, row: int, index: int = 0) -> None:
    """Click a row's selection box, as a person does (the first column of the canvas)."""
    canvas = day.page.get_by_test_id("stDataFrame").nth(index).locator("canvas").first
    box = canvas.bounding_box()
    assert box is not None
    day.page.mouse.click(box["x"] + 15, box["y"] + 35 * (row + 1) + 17)  # 35 px header and rows


def open_row(day: Day, job_id: int) -> None:
    """Open a job by clicking its row. The live list may add a row at the top between reading and
    clicking (a person's click then lands on the row above too): if another job opened, go back, retry."""
    for _ in range(3):
        rows = grid_rows(day)
        click_row(day, next(i for i, r in enumerate(rows) if r[0] == str(job_id)))
        day.expect_heading(re.compile(r"^Job #\d+ · "))
        if day.page.get_by_role("heading", name=re.compile(rf"^Job #{job_id} · ")).count():
            day.settle()
            return
        day.button("← All jobs").click()
        day.expect_heading("Jobs")
        day.settle()
    raise AssertionError(f"clicking job {job_id}'s row kept opening another job")


# -- the steps -------------------------------------------------------------------------------


def overview_to_failed_jobs(day: Day) -> int:
    with day.step("overview-failed-jobs-link") as page:
        link = page.get_by_role("link", name=re.compile(r"^Open the [\d,]+ failed jobs?$"))
        expect(link).to_be_visible(timeout=WAIT_MS)
        failed = int(re.sub(r"\D", "", link.inner_text()))
        assert failed > 0
        link.click()
        day.expect_heading("Jobs")
        day.settle()
        expect(day.widget("stMultiSelect", "Status")).to_contain_text("FAILED")
        expect(page.get_by_text(re.compile(r"^Page 1 · \d+ jobs"))).to_be_visible(timeout=WAIT_MS)
        rows_when(day, lambda rows: {r[3] for r in rows} == {"FAILED"}, "only failed jobs")
    return failed


def rerun_failed_job(day: Day, db: Engine, job_type: str) -> tuple[int, int]:
    """From the failed jobs, open the newest of ``job_type`` that failed for a passing reason (a vendor
    briefly down, not a record deleted since: its error says so) and rerun it; it completes."""

    def passing(r: list[str]) -> bool:
        return r[2] == job_type and not r[-1].startswith("NotFound")

    with day.step("open-failed-job") as page:
        rows = rows_when(day, lambda rows: any(map(passing, rows)), f"a failed {job_type} job worth a rerun")
        row = next(i for i, r in enumerate(rows) if passing(r))
        failed_id = int(rows[row][0])
        open_row(day, failed_id)
        day.expect_heading(f"Job #{failed_id} · FAILED")
    with day.step("rerun-completed") as page:
        day.button("Rerun", exact=True).click()
        expect(day.alert(f"(rerun of #{failed_id})")).to_be_visible(timeout=WAIT_MS)
        new_id = int(re.search(r"job #(\d+)", day.alert("Rerun queued").inner_text()).group(1))  # type: ignore[union-attr]
        day.expect_heading(f"Job #{new_id} · COMPLETED", timeout=60_000)  # the page follows the runner
        expect(page.get_by_text(f"#{failed_id} · FAILED")).to_be_visible()  # the lineage links back
    return failed_id, new_id


def invalid_edited_rerun(day: Day, db: Engine, failed_id: int) -> None:
    with day.step("edited-rerun-refused") as page:
        before = children(db, failed_id)
        day.button("← All jobs").click()
        day.expect_heading("Jobs")
        day.settle()
        day.open_job(failed_id)
        day.expect_heading(f"Job #{failed_id} · FAILED")
        page.get_by_text("Rerun with edited params").click()
        page.get_by_label("Params (JSON)").fill('{"invoice_id": 12345}')
        refused = day.alert("Nothing was saved or queued")
        for _ in range(3):  # a live redraw (the job's rerun just finished) can swallow a click: click again
            day.button("Validate and rerun").click()
            try:
                expect(refused).to_be_visible(timeout=10_000)
                break
            except AssertionError:
                continue
        expect(refused).to_be_visible()
        expect(day.alert("invoice_id must be text")).to_be_visible()  # the field and why, in words
        day.expect_heading(f"Job #{failed_id} · FAILED")  # still on the same job
        assert children(db, failed_id) == before, "an invalid edit queued a rerun"


def export_failed(day: Day, db: Engine, job_type: str, search: str) -> list[dict[str, str]]:
    """Filter the jobs (one type, FAILED, a word in the error), export them, and read the file."""
    with day.step("export-filtered") as page:
        day.button("← All jobs").click()
        day.expect_heading("Jobs")
        day.settle()
        types, status = day.widget("stMultiSelect", "Job types"), day.widget("stMultiSelect", "Status")
        search_box = page.get_by_label("Search params and errors", exact=True)
        for _ in range(3):  # a filter set while the page redraws from its URL can be dropped: set it again
            if job_type not in types.inner_text():
                day.choose("Job types", job_type, multi=True)
            if "FAILED" not in status.inner_text():
                day.choose("Status", "FAILED", multi=True)
            if search_box.input_value() != search:
                day.type("Search params and errors", search)
            page.wait_for_timeout(1000)
            chosen = types.inner_text() + status.inner_text()
            if job_type in chosen and "FAILED" in chosen and search_box.input_value() == search:
                break
        expect(types).to_contain_text(job_type)
        expect(status).to_contain_text("FAILED")
        expect(search_box).to_have_value(search)
        rows_when(day, lambda rows: all(r[2] == job_type and r[3] == "FAILED" for r in rows), "the filtered jobs")
        day.button("Prepare CSV export").click()
        with page.expect_download(timeout=WAIT_MS) as info:
            day.button("Download CSV").click()
        target = day.artifacts / info.value.suggested_filename
        info.value.save_as(target)
        expected = failed_with_error(db, job_type, search)
    rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
    assert rows, "the export is empty"
    assert all(r["job_type"] == job_type and r["status"] == "FAILED" for r in rows)
    assert all(search in r["error"] + r["params"] for r in rows)
    assert expected <= {int(r["id"]) for r in rows}, "a failed job with that error is missing from the file"
    assert target.name.startswith(f"zixly-jobs-all-tenants-{job_type}-failed-"), target.name
    return rows


def bulk_rerun(day: Day, count: int) -> None:
    """The filter is still on: rerun every job it matches (paced, so some wait in the queue)."""
    with day.step("bulk-rerun"):
        day.button("Rerun matching jobs…").click()
        expect(day.alert(f"Rerun {count:,} matching jobs?")).to_be_visible(timeout=WAIT_MS)
        day.button(re.compile(r"^Yes, rerun [\d,]+ jobs?$")).click()
        expect(day.alert(re.compile(r"^Queued [\d,]+ reruns?"))).to_be_visible(timeout=WAIT_MS)


def cancel_queued_job(day: Day, db: Engine, job_type: str) -> int:
    """Switch the filter to the queued jobs, open one, cancel it."""
    with db.begin() as c:
        # The pacing puts the newest rerun a few seconds back only; a busy machine can take longer
        # to reach it in the browser, so it is held back further, as a longer rerun would have it.
        held: int | None = c.scalar(
            update(PipelineJob)
            .where(
                PipelineJob.id == select(func.max(PipelineJob.id)).where(
                    PipelineJob.job_type == job_type, PipelineJob.parent_job_id.is_not(None),
                    PipelineJob.status == "QUEUED",
                ).scalar_subquery()
            )
            .values(run_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
            .returning(PipelineJob.id)
        )  # fmt: skip
    assert held is not None, "no rerun is left waiting"
    with day.step("cancel-queued-job"):
        status = day.widget("stMultiSelect", "Status")
        failed_chip = status.get_by_label("Remove FAILED")
        for _ in range(3):  # a click landing while the widget redraws is lost: a person clicks again
            failed_chip.click()  # the chip's ×
            day.settle()
            if failed_chip.count() == 0:
                break
        expect(failed_chip).to_have_count(0)
        queued_chip = status.get_by_label("Remove QUEUED")
        search = day.page.get_by_label("Search params and errors", exact=True)
        for _ in range(3):  # as above: a change made while the live table redraws can be lost
            if queued_chip.count() == 0:
                day.choose("Status", "QUEUED", multi=True)
            if search.input_value() != "":
                day.type("Search params and errors", "")  # a rerun has no error yet
            day.settle()
            if queued_chip.count() == 1 and search.input_value() == "":
                break
        expect(queued_chip).to_have_count(1)
        expect(search).to_have_value("")
        rows = rows_when(day, lambda rows: {(r[2], r[3]) for r in rows} == {(job_type, "QUEUED")}, "queued reruns")
        assert held in {int(r[0]) for r in rows}, "the waiting rerun is not listed"
        queued_id = held
        open_row(day, queued_id)
        day.expect_heading(f"Job #{queued_id} · QUEUED")
        day.button("Cancel", exact=True).click()
        expect(day.alert(f"Job #{queued_id} is cancelled.")).to_be_visible(timeout=WAIT_MS)
        day.expect_heading(f"Job #{queued_id} · CANCELLED")
    assert job(db, queued_id)["status"] == "CANCELLED"
    return queued_id


def look_up_invoice(day: Day, number: str, job_ids: tuple[int, ...]) -> None:
    """By the number people know the invoice by: the seeded job and today's rerun, each listed once."""
    with day.step("lookup-invoice") as page:
        day.open("Record lookup")
        day.type("Invoice number, order name, deal, email or id", number)
        summary = page.get_by_text(re.compile(rf"^(\d+) jobs? touched {re.escape(number)}"))
        expect(summary).to_be_visible()
        links = page.get_by_role("link", name=re.compile(r"^Job #\d+ · "))
        expect(links).to_have_count(min(int(summary.inner_text().split()[0]), 20))  # the page links the newest 20
        labels = links.all_inner_texts()
        assert len(labels) == len(set(labels)), labels
        for job_id in job_ids:
            expect(page.get_by_role("link", name=re.compile(rf"^Job #{job_id} · "))).to_be_visible()


def connect_and_test_vendors(day: Day) -> None:
    day.open("Connections")
    for name in VENDORS:
        with day.step(f"connect-{name.lower()}") as page:
            # The vendor's bordered card: the innermost block holding its name and its buttons.
            card = (
                page.get_by_test_id("stVerticalBlock")
                .filter(has=page.get_by_role("heading", name=name, exact=True))
                .filter(has=page.get_by_role("button", name="Test connection"))
                .last
            )
            card.get_by_role("button", name=re.compile("^(Re)?connect$")).click()
            approve = page.get_by_role("link", name=f"Continue to {name} to approve ↗")
            with page.context.expect_page(timeout=WAIT_MS) as popup_info:
                approve.click()
            popup = popup_info.value  # the vendor's consent, which redirects to our callback
            popup.wait_for_load_state()
            # One try: finishing a consent while the runner writes must not meet a busy SQLite.
            expect(popup.get_by_role("heading", name=f"Connected {name}")).to_be_visible()
            popup.close()
            healthy = day.alert(re.compile(rf"^{name}: connected"))
            for _ in range(4):  # the trickle's outage drills make a vendor briefly "unreachable right now"
                card.get_by_role("button", name="Test connection").click()
                # .first: the previous try's "unreachable" may still show beside this try's answer.
                expect(healthy.or_(day.alert(f"{name}: unreachable right now")).first).to_be_visible()
                if healthy.count():
                    break
                page.wait_for_timeout(3000)
            expect(healthy).to_be_visible()


def replay_delivery(day: Day) -> None:
    with day.step("replay-delivery"):
        day.open("Webhooks")
        day.button("Replay").click()
        expect(day.alert(re.compile(r"^Replayed delivery #\d+ as jobs #\d+"))).to_be_visible(timeout=WAIT_MS)


def create_schedule(day: Day) -> None:
    with day.step("create-schedule") as page:
        day.open("Schedules")
        day.type("Cron", "30 6 * * 1-5")
        expect(page.get_by_text(re.compile(r"^Next: .* 06:30"))).to_be_visible(timeout=WAIT_MS)
        day.button("Create schedule").click()
        expect(day.alert(re.compile(r"^Schedule #\d+ created\."))).to_be_visible(timeout=WAIT_MS)
        rows_when(day, lambda rows: any("30 6 * * 1-5" in r for r in rows), "the new schedule")
        day.show(day.alert(re.compile(r"^Schedule #\d+ created\.")))


def sweep_heatmap(day: Day) -> None:
    with day.step("queue-sweep") as page:
        day.open("Trading sweeps")
        day.button("Queue sweep").click()
        flash = day.alert(re.compile(r"^Queued sweep #\d+\."))
        expect(flash).to_be_visible(timeout=WAIT_MS)
        sweep_id = int(re.sub(r"\D", "", flash.inner_text()))
    with day.step("sweep-heatmap") as page:
        expect(page.get_by_text("No sweep is queued or running.")).to_be_visible(timeout=120_000)
        day.open("Trading sweeps")  # the finished list is read when the page opens
        day.choose("Sweep", re.compile(rf"^#{sweep_id} · "))
        day.expect_heading("Sharpe over (fast, slow)")
        chart = page.get_by_test_id("stPlotlyChart").first
        expect(chart).to_be_visible()
        day.show(chart)
        day.shot_of(chart, "heatmap")


def reload_and_deep_link(day: Day, job_id: int) -> None:
    with day.step("reload-and-deep-link") as page:
        page.reload(wait_until="domcontentloaded")
        day.expect_heading("Trading sweeps")
        page.goto(f"{day.base}/jobs?job={job_id}", wait_until="domcontentloaded")
        day.expect_heading(re.compile(rf"^Job #{job_id} · "))


def create_viewer(day: Day) -> None:
    with day.step("create-viewer") as page:
        day.open("Admin")
        page.get_by_role("tab", name="Users").click()
        form = page.get_by_test_id("stForm").filter(has_text="New user")
        form.get_by_label("Email").fill(VIEWER_EMAIL)
        day.choose("Role", "VIEWER", within=form)
        form.get_by_label("Initial password (12+ characters)").fill(VIEWER_PASSWORD)
        form.get_by_role("button", name="Create user").click()
        expect(day.alert(f"User {VIEWER_EMAIL} created as VIEWER.")).to_be_visible(timeout=WAIT_MS)


def viewer_is_refused(viewer: Day, failed_id: int) -> None:
    """Every action a VIEWER could reach is refused: disabled, with the role it needs."""
    with viewer.step("viewer-overview") as page:
        viewer.log_in(VIEWER_EMAIL, VIEWER_PASSWORD)
        nav = page.get_by_test_id("stSidebarNavItems")
        expect(nav.get_by_role("link", name="Jobs", exact=True)).to_be_visible()
        expect(nav.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
        expect(nav.get_by_role("link", name="Audit log", exact=True)).to_have_count(0)
    with viewer.step("viewer-jobs") as page:
        viewer.open("Jobs")
        expect(viewer.button("Rerun matching jobs…")).to_be_disabled()
        expect(viewer.button("Cancel matching jobs…")).to_be_disabled()
        expect(viewer.button("Prepare CSV export")).to_be_disabled()
        viewer.open_job(failed_id)
        expect(viewer.button("Rerun", exact=True)).to_be_disabled()
        expect(viewer.button("Cancel", exact=True)).to_be_disabled()
        expect(page.get_by_text("Rerun with edited params")).to_have_count(0)
    with viewer.step("viewer-sweeps") as page:
        viewer.open("Trading sweeps")
        expect(viewer.button("Queue sweep")).to_be_disabled()
    with viewer.step("viewer-schedules") as page:
        viewer.open("Schedules")
        for name in ("Save", "Run now", "Create schedule"):
            expect(viewer.button(name, exact=True)).to_be_disabled()
    with viewer.step("viewer-webhooks") as page:
        viewer.open("Webhooks")
        expect(viewer.button("Replay")).to_be_disabled()
    with viewer.step("viewer-connections") as page:
        viewer.open("Connections")
        for name in ("Reconnect", "Test connection", "Disconnect"):
            buttons = viewer.button(name, exact=True)
            expect(buttons).to_have_count(len(VENDORS))
            for i in range(len(VENDORS)):
                expect(buttons.nth(i)).to_be_disabled()


# -- the day ---------------------------------------------------------------------------------

JOB_TYPE = "xero-invoice-paid"


def test_a_staff_members_day(stack: MakeRun, db: Engine, browser: Browser) -> None:
    staff = Day(browser.new_context(viewport=SCREEN, accept_downloads=True).new_page(), stack.dashboard, ARTIFACTS)
    with staff.step("log-in"):
        staff.log_in(DEMO_EMAIL, DEMO_PASSWORD)
    overview_to_failed_jobs(staff)
    failed_id, rerun_id = rerun_failed_job(staff, db, JOB_TYPE)
    invalid_edited_rerun(staff, db, failed_id)
    rows = export_failed(staff, db, JOB_TYPE, "429")  # HubSpot's rate limit: worth a rerun
    bulk_rerun(staff, len(rows))
    cancel_queued_job(staff, db, JOB_TYPE)
    number = job(db, rerun_id)["result"]["invoice"]  # the rerun's Result names the invoice: INV-…
    look_up_invoice(staff, number, (failed_id, rerun_id))
    connect_and_test_vendors(staff)
    replay_delivery(staff)
    create_schedule(staff)
    sweep_heatmap(staff)
    reload_and_deep_link(staff, rerun_id)
    create_viewer(staff)
    viewer = Day(browser.new_context(viewport=SCREEN).new_page(), stack.dashboard, ARTIFACTS, prefix="viewer-")
    viewer_is_refused(viewer, failed_id)
