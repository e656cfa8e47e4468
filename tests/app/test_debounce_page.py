"""Debounce on the dashboard: the job page lists the events a job absorbed; the window is a workflow option."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from conftest import actor
from dashboard_seed import Seeded
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from app import actions
from db import jobs, workflow_settings
from db.jobs.debounce import Event, enqueue_events
from jobtypes import InvalidOptions


def test_a_debounced_jobs_page_lists_the_events_it_absorbed(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    now = dt.datetime.now(dt.UTC)
    ids = []
    for n, when in enumerate(("10:00:00", "10:00:01")):
        spec = jobs.JobSpec(
            tenant_id=seeded.acme, job_type="xero-invoice-paid", params={"invoice_id": "inv-7", "event": {"at": when}},
            concurrency_key="xero:invoice:inv-7", created_by="webhook:xero", idempotency_key=f"d{n}",
        )  # fmt: skip
        [out] = enqueue_events(db_session, [Event(spec, 30, f"xero invoice.update (delivery d{n})")], now=now)
        db_session.commit()
        ids.append(out.id)
    assert ids[0] == ids[1]
    at = app("VIEWER", query={"job": str(ids[0])})
    at.switch_page("pages/jobs.py").run()
    assert not at.exception, at.exception
    [steps] = [d.value for d in at.dataframe if "message" in d.value.columns]
    [line] = list(steps["message"])
    assert line.startswith("Debounced: xero invoice.update (delivery d1) joined this job")
    assert '"at":"10:00:00"' in line and '"at":"10:00:01"' in line


def test_the_window_is_a_workflow_option_that_zero_turns_off(seeded: Seeded, db_session: Session) -> None:
    actions.save_workflow_setting(
        db_session, actor("ADMIN"), seeded.acme, "xero-invoice-paid", enabled=True, options={"debounce_s": 0}
    )
    assert workflow_settings.load(db_session, seeded.acme, "xero-invoice-paid").options["debounce_s"] == 0
    with pytest.raises(InvalidOptions):
        actions.save_workflow_setting(
            db_session, actor("ADMIN"), seeded.acme, "xero-invoice-paid", enabled=True, options={"debounce_s": -1}
        )
