"""The Admin page's Alerts tab and the Alerts page, in AppTest against the seeded SQLite database;
the test message itself is sent by the runner's delivery step to a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook
from streamlit.testing.v1 import AppTest

from db.engine import make_engine
from db.models import AlertChannel, AlertDelivery, AuditEntry
from settings import load_settings
from sync.alerts.deliver import deliver_due
from tests.alert_receivers import http_receiver


def _click(at: AppTest, label: str) -> None:
    at.button[[b.label for b in at.button].index(label)].click().run()


def test_admin_adds_a_signed_webhook_channel_and_its_test_message_arrives_signed(
    app: Callable[..., AppTest], db_session: Session
) -> None:
    with http_receiver() as receiver:
        at = app("ADMIN", "pages/admin.py")
        at.text_input(key="al_name").input("Ops receiver")
        at.selectbox(key="al_kind").set_value("webhook")
        at.text_input(key="al_url").input(receiver.url + "/alerts")
        _click(at, "Add channel")
        assert not at.exception, at.exception
        secret = at.code[0].value
        assert secret.startswith("whsec_")
        stored = db_session.scalars(select(AlertChannel)).one()
        assert receiver.url not in stored.config_ciphertext and secret not in stored.config_ciphertext
        at.run()
        assert not any(c.value == secret for c in at.code)  # shown once

        _click(at, "Send test")
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        db_session.rollback()  # a fresh snapshot
        assert db_session.scalars(select(AlertDelivery.status)).one() == "pending"  # the dashboard sends nothing
        settings = load_settings()
        engine = make_engine(settings)
        sent = deliver_due(engine, settings, "runner-1", lambda: dt.datetime.now(dt.UTC))
        engine.dispose()
        assert sent["sent"] == 1
        [request] = receiver.at("/alerts")
        message = Webhook(secret).verify(request.body, request.headers)
        assert message["type"] == "alert.test.test"
        assert json.loads(request.body)["data"]["title"].startswith("Test message from Zixly")
    db_session.rollback()
    actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["alert_channel.create", "alert_channel.test"]


def test_the_alerts_page_renders_for_a_viewer_and_shows_deliveries(app: Callable[..., AppTest]) -> None:
    at = app("VIEWER", "pages/alerts.py")
    assert not at.exception, at.exception
    assert at.title[0].value == "Alerts"


def test_a_broken_channel_shows_on_the_alerts_page(app: Callable[..., AppTest], db_session: Session) -> None:
    with http_receiver() as receiver:
        receiver.status["/gone"] = 404
        at = app("ADMIN", "pages/admin.py")
        at.text_input(key="al_name").input("Old Slack")
        at.selectbox(key="al_kind").set_value("slack")
        at.text_input(key="al_url").input(receiver.url + "/gone")
        _click(at, "Add channel")
        _click(at, "Send test")
        settings = load_settings()
        engine = make_engine(settings)
        assert deliver_due(engine, settings, "runner-1", lambda: dt.datetime.now(dt.UTC))["failed"] == 1
        engine.dispose()
    page = app("VIEWER", "pages/alerts.py")
    assert not page.exception, page.exception
    assert any("Old Slack (slack): 1 deliveries failed; last: HTTP 404" in e.value for e in page.error)


def test_the_clients_board_shows_a_stale_sync_since_when(app: Callable[..., AppTest], db_session: Session) -> None:
    from db.models import Schedule

    made = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    schedule = db_session.scalars(select(Schedule)).one()
    schedule.created_at = made  # hourly, never succeeded: stale two hours after it was made
    db_session.commit()
    board = app("VIEWER", "pages/clients.py").dataframe[0].value
    row = board[(board["tenant"] == "Acme Outdoor") & (board["system"] == "Xero")]
    assert list(row["sync"]) == [f"stale since {made + dt.timedelta(hours=2):%Y-%m-%d %H:%M}"]
    assert set(board[board["system"] == "HubSpot"]["sync"]) == {"—"}


def test_the_connections_page_forecasts_when_each_refresh_token_dies(app: Callable[..., AppTest]) -> None:
    at = app("ADMIN", "pages/connections.py")
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    xero = next(c for c in captions if c.startswith("Refresh token dies if unused: 20"))
    assert xero.endswith("last refreshed: never")
    assert "Refresh token dies if unused: not expected (lives until revoked); last refreshed: never" in captions
    assert any(c.startswith("Used by (what stops if it dies): ") for c in captions)
