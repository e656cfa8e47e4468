"""The staff-day test's person at a browser: one screenshot per step, and the few gestures
Streamlit's widgets need (pick an option, open a page from the sidebar, read or click a table row).
The processes, Chromium and the login itself come from ``browser.py``.

Selectors are what a person sees: headings, labels, button and link names, messages.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from browser import TIMEOUT_MS, log_in, wait_for_app
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

WAIT_MS = TIMEOUT_MS  # a page's first paint on a busy two-core machine
expect.set_options(timeout=WAIT_MS)  # every check waits as long (Playwright's default is 5 s)


class Day:
    """One person's browser tab, numbering the screenshots of the steps it goes through."""

    def __init__(self, page: Page, base: str, artifacts: Path, prefix: str = "") -> None:
        self.page, self.base, self.artifacts, self.prefix = page, base, artifacts, prefix
        self.count = 0
        artifacts.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def step(self, name: str) -> Iterator[Page]:
        """A step of the day; its screenshot is saved when it ends, marked FAILED if it failed."""
        self.count += 1
        stem = f"{self.prefix}{self.count:02d}-{name}"
        try:
            yield self.page
        except BaseException:
            self.shot(f"{stem}-FAILED")
            raise
        self.shot(stem)

    def show(self, target: Locator) -> None:
        """Scroll ``target`` into the screenshot, if the page lets it (a redraw may replace it)."""
        with contextlib.suppress(PlaywrightError):
            target.scroll_into_view_if_needed(timeout=5_000)

    def shot_of(self, target: Locator, name: str) -> None:
        """A screenshot of one element (a chart below the fold), beside the step's own."""
        with contextlib.suppress(PlaywrightError):
            target.screenshot(path=str(self.artifacts / f"{self.prefix}{self.count:02d}-{name}.png"), timeout=10_000)

    def shot(self, stem: str) -> None:
        self.page.wait_for_timeout(400)  # charts and grids paint on a canvas after the DOM settles
        self.page.screenshot(path=str(self.artifacts / f"{stem}.png"), full_page=True)

    # -- gestures --------------------------------------------------------------------------
    def log_in(self, email: str, password: str, path: str = "/") -> None:
        log_in(self.page, self.base, email, password, path)

    def settle(self) -> None:
        """Wait until the page's script finished its run."""
        wait_for_app(self.page)

    def open(self, title: str, heading: str | None = None) -> None:
        """Open a page from the sidebar and wait for its title."""
        self.page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=title, exact=True).click()
        self.expect_heading(heading or title)
        self.settle()

    def expect_heading(self, name: str | re.Pattern[str], timeout: int = WAIT_MS) -> None:
        expect(self.page.get_by_role("heading", name=name).first).to_be_visible(timeout=timeout)

    def widget(self, test_id: str, label: str, within: Locator | None = None) -> Locator:
        """The Streamlit widget of this kind whose label is ``label`` (inside ``within``, e.g. a form)."""
        scope = within if within is not None else self.page
        return scope.get_by_test_id(test_id).filter(has=self.page.get_by_text(label, exact=True))

    def choose(
        self, label: str, option: str | re.Pattern[str], *, multi: bool = False, within: Locator | None = None
    ) -> None:
        """Pick ``option`` in the selectbox (or multiselect) labelled ``label``."""
        box = self.widget("stMultiSelect" if multi else "stSelectbox", label, within)
        box.click()
        self.page.get_by_role("option", name=option).first.click()
        if multi:
            self.page.keyboard.press("Escape")
        self.settle()  # as a person waits for the page before the next change

    def type(self, label: str, text: str) -> None:
        """Type into the text box labelled ``label`` and press Enter."""
        box = self.page.get_by_label(label, exact=True)
        box.fill(text)
        box.press("Enter")
        self.settle()

    def button(self, name: str | re.Pattern[str], **kwargs: Any) -> Locator:
        return self.page.get_by_role("button", name=name, **kwargs)

    def alert(self, text: str | re.Pattern[str]) -> Locator:
        """A success, info, warning or error message containing ``text``."""
        return self.page.get_by_test_id("stAlert").filter(has_text=text)

    def open_job(self, job_id: int) -> None:
        """The Jobs page's "Open job #" box, as a person types a number someone sent them."""
        self.page.get_by_label("Open job #").fill(str(job_id))
        self.button("Go to job").click()
        self.expect_heading(re.compile(rf"^Job #{job_id} · "))
        self.settle()
