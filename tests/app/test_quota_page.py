"""What staff see and set of the quota governor: the board's quota column, a tenant's own limit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from conftest import actor
from dashboard_seed import Seeded
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from app.quota_actions import set_connection_limit
from db import quota
from db.auth import Forbidden
from db.models import AuditEntry, Connection
from integrations.quota_view import line
from integrations.xero import XERO

NOW = dt.datetime(2026, 12, 6, 18, 30, tzinfo=dt.UTC)


def xero_connection(session: Session, tenant_id: int) -> int:
    found = session.scalar(select(Connection.id).where(Connection.tenant_id == tenant_id, Connection.system == "xero"))
    assert found is not None
    return found


def spend(session: Session, connection_id: int, limit_name: str, calls: int, allowed: int) -> None:
    limit = XERO.limit(limit_name)
    for _ in range(calls):
        grant = quota.acquire(session, [quota.Charge(f"conn:{connection_id}", limit, allowed)], holder="t", lease_s=1)
        assert grant.ok
    session.commit()


def test_the_board_line_says_spent_of_allowed_today_and_until_when_it_is_exhausted(db_session: Session) -> None:
    day = XERO.limit("day")
    full = quota.Usage(day, 5000, 5000, dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    minute = quota.Usage(XERO.limit("minute"), 0, 60, None)
    assert line([minute, full], NOW) == "quota: 5,000 / 5,000 today · 0 / 60 this minute; exhausted until 00:00 UTC"
    assert line([quota.Usage(day, 4210, 5000, None)], NOW) == "quota: 4,210 / 5,000 today"


def test_the_clients_board_shows_each_connections_quota(app: Callable[..., AppTest], seeded: Seeded,
                                                        db_session: Session) -> None:  # fmt: skip
    spend(db_session, xero_connection(db_session, seeded.acme), "day", 3, 5000)
    board = app("VIEWER", "pages/clients.py").dataframe[0].value
    rows = {(t, s): q for t, s, q in zip(board["tenant"], board["system"], board["quota"], strict=True)}
    acme = [q for (t, s), q in rows.items() if s == "Xero" and t.startswith("Acme")]
    assert acme and acme[0].startswith("quota: 3 / 5,000 today · 0 / 60 this minute")


def test_an_editor_sets_a_tenants_own_daily_limit_on_the_connections_page(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/connections.py")
    captions = [c.value for c in at.caption]
    assert any(c.startswith("day: 5,000 calls/day (developer.xero.com/faq/limits); spent 0 / 5,000") for c in captions)
    at.selectbox(key="cn_quota_limit_xero").set_value("day")
    at.number_input(key="cn_quota_calls_xero").set_value(1000)
    at.button(key="FormSubmitter:cn_quota_xero-Set limit").click().run()
    assert not at.exception, at.exception
    cid = xero_connection(db_session, seeded.acme)
    assert quota.overrides(db_session, cid) == {"day": 1000}
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "connection.limit")).one()
    assert (entry.actor, entry.target, entry.details) == (
        "editor@example.com", f"connection:{cid}", {"limit": "day", "calls": 1000, "vendor_calls": 5000}
    )  # fmt: skip
    # "Set limit" with nothing typed changes nothing (it used to mean "the vendor's": one click undid a limit).
    at.selectbox(key="cn_quota_limit_xero").set_value("day")
    at.number_input(key="cn_quota_calls_xero").set_value(None)
    at.button(key="FormSubmitter:cn_quota_xero-Set limit").click().run()
    assert any("Type the limit to set" in e.value for e in at.error)
    db_session.expire_all()
    assert quota.overrides(db_session, cid) == {"day": 1000}
    # Going back to the vendor's limit is its own button, and audited too.
    at.selectbox(key="cn_quota_limit_xero").set_value("day")
    at.button(key="FormSubmitter:cn_quota_xero-Use the vendor's limit").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    db_session.rollback()  # a new snapshot: the page wrote on its own connection
    assert quota.overrides(db_session, cid) == {}
    entries = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "connection.limit")).all()
    assert [(e.details or {}).get("calls") for e in entries] == [1000, None]


def test_a_viewer_may_not_set_a_limit_and_the_refusal_is_audited(seeded: Seeded, db_session: Session) -> None:
    cid = xero_connection(db_session, seeded.acme)
    with pytest.raises(Forbidden):
        set_connection_limit(db_session, actor("VIEWER"), cid, "day", 1000)
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "connection.limit")).one()
    assert entry.allowed is False and quota.overrides(db_session, cid) == {}


def test_a_tenant_may_not_raise_a_vendor_limit_nor_set_the_apps(seeded: Seeded, db_session: Session) -> None:
    cid = xero_connection(db_session, seeded.acme)
    with pytest.raises(ValueError, match="between 1 and 5,000"):
        set_connection_limit(db_session, actor("EDITOR"), cid, "day", 6000)
    with pytest.raises(ValueError, match="whole number"):
        set_connection_limit(db_session, actor("EDITOR"), cid, "day", 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the whole app's"):
        set_connection_limit(db_session, actor("EDITOR"), cid, "appminute", 10)
    assert quota.overrides(db_session, cid) == {}


def test_a_paid_asana_domain_may_set_its_plans_higher_limit(seeded: Seeded, db_session: Session) -> None:
    connection = Connection(tenant_id=seeded.bolt, system="asana", status="connected")
    db_session.add(connection)
    db_session.commit()
    cid = connection.id
    assert set_connection_limit(db_session, actor("EDITOR"), cid, "minute", 1500) == "Asana minute limit set to 1,500"
    with pytest.raises(ValueError, match="between 1 and 1,500"):
        set_connection_limit(db_session, actor("EDITOR"), cid, "minute", 1501)
