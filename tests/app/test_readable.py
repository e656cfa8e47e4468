"""Readable everywhere: no table prints None or NaN, no glyph a browser may lack, words for
health and signatures, vendor names as the vendors spell them, times where the page says."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest
from conftest import actor
from dashboard_seed import Seeded
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from app.text import plural, vendor_name
from db.auth import audit

PAGES = ["clients", "jobs", "lookup", "schedules", "webhooks", "admin", "audit"]
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff]")


def _cells(frame: pd.DataFrame) -> list[object]:
    return [v for column in frame.columns for v in frame[column].tolist()]


@pytest.mark.parametrize("page", PAGES)
def test_no_table_prints_none_or_a_missing_glyph(
    app: Callable[..., AppTest], page: str, seeded: Seeded, db_session: Session
) -> None:
    audit(db_session, actor("EDITOR"), "job.cancel", None, None)  # no target, no details
    audit(db_session, actor("VIEWER"), "job.rerun", "job:1", {"new_job_id": 2}, allowed=False)
    db_session.commit()
    at = app("ADMIN", f"pages/{page}.py")
    if page == "lookup":
        at.text_input(key="lk_query").input("INV-0042").run()
    if page == "jobs":
        at.multiselect(key="jf_statuses").select("QUEUED").run()  # a job never started: no duration, no error
    assert not at.exception, at.exception
    assert at.dataframe, f"{page} shows no table"
    for table in at.dataframe:
        cells = _cells(table.value)
        assert not [c for c in cells if c is None or (isinstance(c, float) and c != c)], page
        assert not [c for c in cells if isinstance(c, str) and (c == "None" or EMOJI.search(c))], page


def test_health_and_vendor_names_are_words(app: Callable[..., AppTest]) -> None:
    board = app("VIEWER", "pages/clients.py").dataframe[0].value
    assert (board["system"][0], board["health"][0]) == ("Xero", "Reconnect")
    assert set(board["system"]) <= {"Xero", "HubSpot", "Shopify", "Asana"} and "HubSpot" in set(board["system"])
    assert vendor_name("hubspot") == "HubSpot"


def test_schedules_list_their_fire_times_in_the_tenants_timezone(app: Callable[..., AppTest]) -> None:
    table = app("VIEWER", "pages/schedules.py").dataframe[0].value
    row = table[table["timezone"] == "Australia/Sydney"].iloc[0]
    assert row["next_run_at"] == "—" or row["next_run_at"].endswith(("AEDT", "AEST"))


def test_plurals_and_counts_read_right() -> None:
    assert (plural(1, "job"), plural(2, "job"), plural(1204, "job")) == ("1 job", "2 jobs", "1,204 jobs")


def test_lookup_lists_each_job_once_with_what_it_did(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", "pages/lookup.py")
    at.text_input(key="lk_query").input("inv-0042").run()
    table = at.dataframe[0].value
    assert len(table) == len(set(table["job"])) == 2
    assert at.markdown[-1].value.startswith("2 jobs touched") or any(
        m.value.startswith("2 jobs touched") for m in at.markdown
    )
    assert set(table["did"]) == {"read"} and set(table["record"]) == {"Xero invoice INV-0042"}


def test_a_running_job_has_no_duration_yet_rather_than_nan() -> None:
    from app.job_view import browser_frame

    rows = [
        {"id": 1, "tenant": "Acme", "job_type": "noop", "status": "COMPLETED", "created_at": None,
         "duration_s": 2.5, "attempts": 1, "created_by": "webhook", "error": None},
        {"id": 2, "tenant": "Acme", "job_type": "noop", "status": "RUNNING", "created_at": None,
         "duration_s": None, "attempts": 1, "created_by": "webhook", "error": None},
    ]  # fmt: skip
    assert list(browser_frame(rows)["duration"])[1] == ""


def test_text_shown_through_markdown_keeps_its_stars() -> None:
    from app.text import plain

    assert plain("#3 asana-webhook-ensure (*/15 * * * *)") == r"\#3 asana\-webhook\-ensure \(\*/15 \* \* \* \*\)"
