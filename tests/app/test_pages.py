"""Every page renders for its roles and its buttons do what they say (AppTest, seeded SQLite)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import login_http
import pytest
from conftest import MAIN, actor
from dashboard_seed import PASSWORD, Seeded
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from db.models import AuditEntry, Connection, PipelineJob, Schedule, Tenant, User, WorkflowSetting

PAGES = ["overview", "clients", "jobs", "approvals", "lookup", "schedules", "webhooks", "connections"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_a_viewer(app: Callable[..., AppTest], page: str) -> None:
    at = app("VIEWER", f"pages/{page}.py")
    assert not at.exception, at.exception
    assert at.title and not at.error


def test_login_with_the_right_password_only(app: Callable[..., AppTest], db_session: Session) -> None:
    at = app(None)  # without a login the tab says so and links to the login page, back to this page
    assert at.info[0].value == "Please log in."
    assert "/session/login?next=" in at.markdown[0].value
    c = login_http.client()
    assert login_http.log_in(c, "editor@example.com", "wrong") == (200, "Wrong email or password.")
    assert login_http.log_in(c, "editor@example.com", PASSWORD, "/jobs?job=1") == (303, "/jobs?job=1")
    assert c.get("/jobs?job=1", headers=login_http.HTML).text == "dashboard"
    logins = [(e.actor, e.allowed) for e in db_session.scalars(select(AuditEntry).where(AuditEntry.action == "login"))]
    assert logins == [("editor@example.com", False), ("editor@example.com", True)]


def test_an_idle_session_times_out(app: Callable[..., AppTest]) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.session_state["last_seen"] = time.time() - 61 * 60  # the default timeout is 60 minutes
    at.run()
    assert at.info[0].value == "Your session timed out; please log in again."
    assert "actor" not in at.session_state


def test_admin_pages_are_not_offered_to_editors_and_refuse_them(app: Callable[..., AppTest]) -> None:
    at = app("EDITOR")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/admin.py")
    for page in ("admin.py", "audit.py"):  # opened directly, the page itself refuses
        direct = AppTest.from_file(str(Path(MAIN).parent / "pages" / page), default_timeout=30)
        direct.session_state["actor"] = actor("EDITOR")
        direct.run()
        assert direct.error[0].value == "This page needs the ADMIN role; you are EDITOR."


def test_the_clients_board_puts_the_expired_connection_first(app: Callable[..., AppTest]) -> None:
    at = app("VIEWER", "pages/clients.py")
    board = at.dataframe[0].value
    assert (board["tenant"][0], board["system"][0], board["health"][0]) == ("Bolt Bikes", "Xero", "Reconnect")
    assert board["jobs"][0].startswith("/jobs?tenant=2&types=")


def test_record_lookup_lists_every_job_that_touched_the_record(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", "pages/lookup.py")
    at.text_input(key="lk_query").input("INV-0042").run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 2
    assert at.get("page_link")[1].proto.label.startswith(f"Job #{seeded.invoice_job} ")


def test_schedules_edit_shows_fire_times_and_saves(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/schedules.py")
    sid = seeded.schedule_id
    at.text_input(key=f"sc_cron_{sid}").input("not a cron").run()
    assert "invalid cron" in at.error[0].value and at.button(key="sc_save").disabled
    at.text_input(key=f"sc_cron_{sid}").input("30 9 * * 1-5").run()
    assert at.caption[-3].value.startswith("Next: ") or any(c.value.startswith("Next: ") for c in at.caption)
    at.button(key="sc_save").click().run()
    assert not at.exception, at.exception
    assert db_session.scalar(select(Schedule.cron).where(Schedule.id == sid)) == "30 9 * * 1-5"
    at.button(key="sc_run").click().run()
    assert at.success[0].value.startswith(f"Schedule #{sid} queued job #")


def test_a_new_schedule_is_created(app: Callable[..., AppTest], db_session: Session) -> None:
    at = app("EDITOR", "pages/schedules.py")
    at.text_input(key="sc_new_cron").input("0 6 * * *").run()
    at.button(key="sc_create").click().run()
    assert not at.exception, at.exception
    assert db_session.scalar(select(Schedule.cron).order_by(Schedule.id.desc()).limit(1)) == "0 6 * * *"


def test_webhooks_show_verdicts_and_replay(app: Callable[..., AppTest], seeded: Seeded, db_session: Session) -> None:
    at = app("EDITOR", "pages/webhooks.py")
    table = at.dataframe[0].value
    assert list(table["signature"]) == ["INVALID", "valid"]
    at.selectbox(key="wh_pick").set_value(seeded.delivery_id).run()
    at.button(key="wh_replay").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value.startswith(f"Replayed delivery #{seeded.delivery_id} as jobs #")
    replay = db_session.scalar(select(PipelineJob).where(PipelineJob.parent_job_id == seeded.invoice_job))
    assert replay is not None


def test_connections_list_four_systems_and_gate_buttons(app: Callable[..., AppTest]) -> None:
    at = app("EDITOR", "pages/connections.py")
    assert [s.value for s in at.subheader] == ["Xero", "HubSpot", "Shopify", "Asana"]
    assert at.button(key="cn_disconnect_xero").disabled and at.button(key="cn_connect_asana").disabled


def test_an_admin_disconnects_after_confirming(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("ADMIN", "pages/connections.py")
    at.button(key="cn_disconnect_xero").click().run()
    at.button(key="cn_confirm_xero").click().run()
    assert not at.exception, at.exception
    status = db_session.scalar(
        select(Connection.status).where(Connection.tenant_id == seeded.acme, Connection.system == "xero")
    )
    assert status == "disconnected"


def test_admin_creates_a_tenant_a_user_and_a_token_shown_once(app: Callable[..., AppTest], db_session: Session) -> None:
    at = app("ADMIN", "pages/admin.py")
    assert not at.exception, at.exception
    at.text_input(key="ad_tenant_name").input("Cobalt Cafe")
    at.text_input(key="ad_tenant_tz").input("Europe/Berlin")
    at.button[[b.label for b in at.button].index("Create tenant")].click().run()
    assert db_session.scalar(select(Tenant.timezone).where(Tenant.name == "Cobalt Cafe")) == "Europe/Berlin"
    at.text_input(key="ad_user_email").input("Ann@Example.com")
    at.text_input(key="ad_user_pw").input("a long password")
    at.button[[b.label for b in at.button].index("Create user")].click().run()
    db_session.rollback()  # a fresh snapshot
    assert db_session.scalar(select(User.role).where(User.email == "ann@example.com")) == "VIEWER"
    at.button[[b.label for b in at.button].index("Create token")].click().run()
    assert not at.exception, at.exception
    token = at.code[0].value
    assert token.startswith("zx_")
    at.run()
    assert not any(c.value == token for c in at.code)  # shown once


def test_admin_saves_a_workflow_setting(app: Callable[..., AppTest], seeded: Seeded, db_session: Session) -> None:
    at = app("ADMIN", "pages/admin.py")
    at.selectbox(key="ad_wf_pick").set_value("xero-invoice-paid").run()
    at.toggle(key=f"ad_wf_on_{seeded.acme}_xero-invoice-paid").set_value(False).run()
    at.button(key="ad_wf_save").click().run()
    assert not at.exception, at.exception
    assert db_session.scalar(select(WorkflowSetting.enabled).where(WorkflowSetting.tenant_id == seeded.acme)) is False


def test_the_audit_log_shows_refusals_to_admins(app: Callable[..., AppTest], seeded: Seeded) -> None:
    from app import actions
    from db.engine import make_engine, make_session_factory
    from settings import load_settings

    with make_session_factory(make_engine(load_settings().database_url))() as s, pytest.raises(PermissionError):
        actions.rerun(s, actor("VIEWER"), seeded.invoice_job)
    at = app("ADMIN", "pages/audit.py")
    at.toggle(key="au_refused").set_value(True).run()
    rows = at.dataframe[0].value
    assert list(rows["action"]) == ["job.rerun"] and list(rows["actor"]) == ["viewer@example.com"]


def test_guessing_passwords_is_throttled_and_an_admin_unlocks_from_the_admin_page(
    app: Callable[..., AppTest], db_session: Session
) -> None:
    c = login_http.client()

    def log_in(password: str) -> str:
        status, said = login_http.log_in(c, "editor@example.com", password)
        return "" if status == 303 else said

    messages = [log_in("wrong") for _ in range(4)]  # three free failures, then the wait
    assert messages[:3] == ["Wrong email or password."] * 3
    assert messages[3].startswith("Too many failed logins. Try again in")
    assert log_in(PASSWORD).startswith("Too many failed logins")  # even the right password waits

    # Lock the account outright, then lift the lockout as an admin.
    from db.login_throttle import lockouts

    db_session.execute(
        text("UPDATE login_failures SET locked_until = :until WHERE key = 'account:editor@example.com'"),
        {"until": "2999-01-01 00:00:00"},
    )
    db_session.commit()
    admin = app("ADMIN", "pages/admin.py")
    assert admin.selectbox(key="ad_lockout_pick").value == "account:editor@example.com"
    admin.button(key="ad_lockout_unlock").click().run()
    assert not admin.exception, admin.exception
    assert lockouts(db_session) == []
    # The account is free; this client address still waits out its own short backoff (a second).
    said = log_in(PASSWORD)
    for _ in range(10):
        if not said.startswith("Too many failed logins. Try again in"):
            break
        time.sleep(0.5)
        said = log_in(PASSWORD)
    assert said == ""


def test_a_schedule_with_bad_params_is_refused_per_field(app: Callable[..., AppTest], db_session: Session) -> None:
    before = db_session.scalar(select(func.count()).select_from(Schedule))
    db_session.rollback()
    at = app("EDITOR", "pages/schedules.py")
    at.selectbox(key="sc_new_type").set_value("noop").run()
    at.text_area(key="sc_new_params").input('{"sleep_ms": -5, "sleepms": 1}').run()
    at.button(key="sc_create").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "sleep_ms must be at least 0, not the number -5.",
        "sleepms is not a parameter of noop.",
    ]
    assert db_session.scalar(select(func.count()).select_from(Schedule)) == before


def test_each_asana_webhook_state_shows_on_the_clients_board_and_the_connections_page(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    import datetime as dt

    import streamlit as st

    from db.models import ConnectionWebhook

    connection = Connection(tenant_id=seeded.acme, system="asana", status="connected")
    db_session.add(connection)
    db_session.flush()
    reason = "Asana refused the webhook: 400 The remote server did not respond with the handshake secret."
    db_session.add(
        ConnectionWebhook(
            connection_id=connection.id, state="failed", resource_gid="1201000000000201", reason=reason,
            updated_at=dt.datetime.now(dt.UTC),
        )
    )  # fmt: skip
    db_session.commit()

    board = app("VIEWER", "pages/clients.py").dataframe[0].value
    [row] = [i for i in range(len(board)) if board["system"][i] == "Asana" and board["status"][i] == "connected"]
    assert board["webhook"][row] == f"failed: {reason}"
    assert board["health"][row] == "Webhook failed"

    page = app("ADMIN", "pages/connections.py")
    assert f"Webhook (on 1201000000000201): failed: {reason}" in [e.value for e in page.error]

    db_session.execute(
        ConnectionWebhook.__table__.update().values(
            state="recreating", reason="Asana deleted webhook 42", webhook_gid=None
        )
    )
    db_session.commit()
    st.cache_data.clear()  # the pages cache their reads for a few seconds
    board = app("VIEWER", "pages/clients.py").dataframe[0].value
    assert "re-creating: Asana deleted webhook 42" in list(board["webhook"])
    db_session.execute(ConnectionWebhook.__table__.update().values(state="active", reason=None, webhook_gid="77"))
    db_session.commit()
    st.cache_data.clear()
    page = app("ADMIN", "pages/connections.py")
    assert "Webhook (on 1201000000000201, webhook 77): active" in [c.value for c in page.caption]
