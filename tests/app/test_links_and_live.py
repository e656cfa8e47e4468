"""Links between pages carry what their target needs, filters live in the URL, live pages notice
changes, and a failing action says what happened (AppTest, seeded SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dashboard_seed import Seeded
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from app import widgets
from db.auth import Actor
from db.models import AuditEntry, Connection, PipelineJob


def _table_ids(at: AppTest) -> list[int]:
    return [int(i) for i in at.dataframe[0].value["id"]]


def _query(at: AppTest) -> dict[str, str]:
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def test_filters_are_written_to_the_url_and_read_back(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", "pages/jobs.py")
    at.multiselect(key="jf_statuses").select("FAILED").run()
    at.multiselect(key="jf_tenants").select(seeded.bolt).run()
    at.text_input(key="jf_text").input("Bolt").run()
    assert _query(at) == {"status": "FAILED", "tenant": str(seeded.bolt), "q": "Bolt"}

    shared = app("VIEWER", None, query=_query(at))  # the URL opened in another tab (a new session)
    shared.switch_page("pages/jobs.py").run()
    assert not shared.exception, shared.exception
    assert shared.multiselect(key="jf_statuses").value == ["FAILED"]
    assert shared.multiselect(key="jf_tenants").value == [seeded.bolt]
    assert shared.text_input(key="jf_text").value == "Bolt"
    assert [e.value for e in shared.info] == [e.value for e in at.info]
    assert [d.value.to_dict() for d in shared.dataframe] == [d.value.to_dict() for d in at.dataframe]


def test_the_overview_failed_jobs_link_opens_the_filtered_list(app: Callable[..., AppTest], seeded: Seeded) -> None:
    overview = app("VIEWER")
    link = overview.get("page_link")[0].proto
    assert link.label == "Open the 4 failed jobs" and "status=FAILED" in link.page + link.query_string
    # Issue 17: a link with only some of the filter parameters crashed the Jobs page (KeyError 'tenant'),
    # and kept crashing, when the tab had used the filters before.
    at = app("VIEWER", "pages/jobs.py")
    at.multiselect(key="jf_tenants").select(seeded.acme).run()
    at.query_params.clear()
    at.query_params["status"] = "FAILED"
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="jf_statuses").value == ["FAILED"] and at.multiselect(key="jf_tenants").value == []
    assert sorted(_table_ids(at)) == sorted(seeded.failed_ids)
    at.run()  # and again: no crash on the next run either
    assert not at.exception


def test_the_overview_link_carries_its_tenant_choice(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER")
    at.multiselect(key="ov_tenants").select(seeded.bolt).run()
    links = at.get("page_link")
    assert links, "Bolt has failed jobs needing attention"
    assert f"tenant={seeded.bolt}" in links[0].proto.query_string


def test_all_jobs_returns_to_the_filtered_list(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", None, query={"status": "FAILED", "tenant": str(seeded.acme)})
    at.switch_page("pages/jobs.py").run()
    listed = _table_ids(at)
    at.query_params["job"] = str(listed[0])  # what choosing a row does: the filters stay in the URL
    at.run()
    assert at.title[0].value.startswith(f"Job #{listed[0]}")
    at.button(key="job_back").click().run()
    assert _query(at) == {"status": "FAILED", "tenant": str(seeded.acme)}
    assert at.multiselect(key="jf_statuses").value == ["FAILED"]
    assert _table_ids(at) == listed


def test_a_bare_jobs_link_keeps_the_tabs_filters(app: Callable[..., AppTest]) -> None:
    at = app("VIEWER", "pages/jobs.py")
    at.multiselect(key="jf_statuses").select("FAILED").run()
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/jobs.py").run()  # the sidebar link: no parameters
    assert at.multiselect(key="jf_statuses").value == ["FAILED"] and _query(at)["status"] == "FAILED"


@pytest.mark.parametrize("query", [{"job": "abc"}, {"job": "999999"}, {"tenant": "x,9999", "status": "NOPE"},
                                   {"from": "2026-13-45", "types": "no-such-type"}])  # fmt: skip
def test_a_hand_edited_link_reads_as_a_sentence_not_a_crash(app: Callable[..., AppTest], query: dict[str, str]) -> None:
    at = app("VIEWER", None, query=query)
    at.switch_page("pages/jobs.py").run()
    assert not at.exception, at.exception
    if "job" in query:
        assert at.error[0].value in ("“abc” is not a job number.", "There is no job #999999.")


def test_the_jobs_list_is_live_by_default(app: Callable[..., AppTest], seeded: Seeded, db_session: Session) -> None:
    at = app("VIEWER", None, query={"q": "arrived-just-now"})
    at.switch_page("pages/jobs.py").run()
    assert at.toggle(key="jobs_live").value is True
    assert at.info[0].value == "No jobs match these filters."
    job = PipelineJob(tenant_id=seeded.acme, job_type="noop", status="QUEUED", params={"note": "arrived-just-now"})
    db_session.add(job)
    db_session.commit()
    import time

    time.sleep(3.2)  # the live read's shared cache lasts 3 s
    at.run()
    assert _table_ids(at) == [job.id]
    assert "live, updated" in at.caption[-1].value or any("live, updated" in c.value for c in at.caption)


def test_overview_refreshes_by_default(app: Callable[..., AppTest]) -> None:
    at = app("VIEWER")
    assert at.selectbox(key="ov_refresh").value == "30 s"


def test_connections_redraw_when_a_connection_changes_elsewhere(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("ADMIN", "pages/connections.py")
    before = [m.value for m in at.markdown if m.value.startswith("**")]
    db_session.execute(
        update(Connection)
        .where(Connection.tenant_id == seeded.acme, Connection.system == "asana")
        .values(status="connected", external_org_id="ws-1", org_name="Acme workspace")
    )
    if (
        db_session.execute(
            select(Connection.id).where(Connection.tenant_id == seeded.acme, Connection.system == "asana")
        ).first()
        is None
    ):
        db_session.add(Connection(tenant_id=seeded.acme, system="asana", status="connected", external_org_id="ws-1",
                                  org_name="Acme workspace"))  # fmt: skip
    db_session.commit()
    import time

    time.sleep(3.2)  # the probe's shared cache lasts 3 s; the page's own reads are cached 30 s
    at.run()
    after = [m.value for m in at.markdown if m.value.startswith("**")]
    assert after != before and after[3] == "**connected**"
    assert any("Acme workspace" in c.value for c in at.caption)


def _busy(*_: Any) -> None:
    raise OperationalError("INSERT INTO audit_log …", {}, Exception("database is locked"))


def test_a_busy_database_is_retried_then_told_as_a_sentence_and_audited(
    app_db: tuple[str, Seeded], db_session: Session
) -> None:
    calls: list[int] = []

    def flaky(session: Session, actor: Actor) -> str:
        calls.append(1)
        if len(calls) < 3:
            _busy()
        return "done"

    editor = Actor(email="editor@example.com", role="EDITOR", user_id=2)
    assert widgets.run_action(flaky, editor) == "done" and len(calls) == 3

    def test_connection(session: Session, actor: Actor) -> str:
        _busy()
        return "never"

    assert widgets.run_action(test_connection, editor) is None
    assert widgets.failure_message(test_connection, OperationalError("x", {}, Exception("database is locked"))) == (
        "Test connection did not go through: the database stayed busy (another process was writing). "
        "Nothing was changed; try again in a moment."
    )
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "test.connection")).one()
    assert entry.actor == "editor@example.com" and "database is locked" in entry.details["failed"]
