"""The Clients board's pause and resume: an EDITOR pauses a client with a reason, sees what is held, resumes."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from conftest import actor
from dashboard_seed import Seeded
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from app import pause_actions
from db import jobs
from db.auth import Forbidden
from db.models import AuditEntry, PipelineJob


def statuses(session: Session, tenant_id: int) -> dict[str, int]:
    session.rollback()  # a fresh snapshot: the dashboard wrote in its own sessions
    rows = session.scalars(select(PipelineJob.status).where(PipelineJob.tenant_id == tenant_id)).all()
    return {s: rows.count(s) for s in set(rows)}


def pause_table(at: AppTest) -> pd.DataFrame:
    [table] = [d.value for d in at.dataframe if "held jobs" in d.value.columns]
    return table


def test_an_editor_pauses_a_client_and_resumes_it_from_the_board(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    queued = statuses(db_session, seeded.acme).get("QUEUED", 0)
    at = app("EDITOR", "pages/clients.py")
    assert any("No client is paused." in c.value for c in at.caption)
    at.selectbox(key="pause_tenant").select(seeded.acme).run()
    at.text_input(key="pause_reason").input("Migrating their books to a new Xero org").run()
    at.button(key="pause_go").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any(f"Paused: {queued} queued jobs held." in s.value for s in at.success)
    table = pause_table(at)
    assert list(table["tenant"]) == ["Acme Outdoor"]
    assert (table["paused"][0], table["held jobs"][0], table["paused by"][0]) == (
        "all workflows", queued, "editor@example.com",
    )  # fmt: skip
    assert table["reason"][0] == "Migrating their books to a new Xero org"
    assert statuses(db_session, seeded.acme).get("QUEUED", 0) == 0
    # A job made while paused is held too, and the board counts it.
    new = jobs.enqueue(db_session, tenant_id=seeded.acme, job_type="noop", created_by="webhook:xero").id
    db_session.commit()
    assert statuses(db_session, seeded.acme)["PAUSED"] == queued + 1
    at.run()
    assert pause_table(at)["held jobs"][0] == queued + 1
    # The Jobs page filters on the state (a shared link names it too).
    listed = app("VIEWER", query={"status": "PAUSED"})
    listed.switch_page("pages/jobs.py").run()
    [table] = [d.value for d in listed.dataframe if "status" in d.value.columns]
    assert set(table["status"]) == {"PAUSED"} and len(table) == queued + 1
    # The held job's page says why it waits.
    page = app("VIEWER", query={"job": str(new)})
    page.switch_page("pages/jobs.py").run()
    assert any("is paused (all workflows) by editor@example.com" in i.value for i in page.info), page.info
    at.button(key=f"resume_{seeded.acme}_all").click().run()
    assert any(f"{queued + 1} held jobs released" in s.value for s in at.success)
    assert "PAUSED" not in statuses(db_session, seeded.acme)
    actions = db_session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"tenant:{seeded.acme}")).all()
    assert actions == ["client.pause", "client.resume"]


def test_a_viewer_can_neither_pause_nor_resume(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    pause_actions.pause_client(db_session, actor("EDITOR"), seeded.bolt, reason="vendor outage", workflow="noop")
    at = app("VIEWER", "pages/clients.py")
    table = pause_table(at)
    assert (table["paused"][0], table["until (UTC)"][0]) == ("noop", "resumed by hand")
    assert at.button(key=f"resume_{seeded.bolt}_noop").disabled
    assert not [b for b in at.button if b.key == "pause_go"]
    with pytest.raises(Forbidden):  # enforced by the action itself, not only by the button
        pause_actions.resume_client(db_session, actor("VIEWER"), seeded.bolt, workflow="noop", per_minute=60)
    refused = db_session.scalars(select(AuditEntry).where(AuditEntry.allowed.is_(False))).all()
    assert [(r.action, r.actor) for r in refused] == [("client.resume", "viewer@example.com")]


def test_a_pause_without_a_reason_is_refused(app: Callable[..., AppTest], seeded: Seeded, db_session: Session) -> None:
    at = app("EDITOR", "pages/clients.py")
    at.selectbox(key="pause_tenant").select(seeded.acme).run()
    at.button(key="pause_go").click().run()
    assert "the reason is shown on the Clients board" in at.error[0].value
    assert "PAUSED" not in statuses(db_session, seeded.acme)


def test_a_pause_is_refused_with_a_reason_too_long_or_an_end_time_past_naive_or_years_ahead(
    seeded: Seeded, db_session: Session
) -> None:
    """Checked in the action itself, so a forged click gets the same answers as the form."""
    import datetime as dt

    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    editor = actor("EDITOR")
    cases = {
        "under 500 characters": dict(reason="x" * 501),
        "already passed": dict(reason="r", until=now - dt.timedelta(minutes=1)),
        "needs a time zone": dict(reason="r", until=dt.datetime(2026, 12, 7, 12)),
        "more than a year ahead": dict(reason="r", until=dt.datetime(9999, 12, 31, tzinfo=dt.UTC)),
    }
    for message, kwargs in cases.items():
        with pytest.raises(ValueError, match=message):
            pause_actions.pause_client(db_session, editor, seeded.acme, now=now, **kwargs)  # type: ignore[arg-type]
    db_session.rollback()
    assert not db_session.scalars(select(AuditEntry).where(AuditEntry.action == "client.pause")).all()
    # A year's pause with a plain reason is fine.
    pause_actions.pause_client(
        db_session, editor, seeded.acme, reason="r" * 500, until=now + dt.timedelta(days=365), now=now
    )
    assert db_session.scalars(select(AuditEntry).where(AuditEntry.action == "client.pause")).one().allowed
