"""The per-tenant rate limit: a fixed one-minute window counted in the database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import time_machine
from listener_helpers import listener_settings, order_body, shopify_headers
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import WebhookDelivery
from webhook import create_app


def test_the_fourth_request_in_a_minute_is_429_with_retry_after(
    settings: Any, tmp_path: Path, session: Session, session_factory: sessionmaker[Session], tenants: dict[str, int]
) -> None:
    config = listener_settings(settings.database_url, tmp_path, webhook_rate_limit_per_minute=3)
    client = create_app(config, session_factory=session_factory).test_client()

    def post(order: int, shop: str = "acme.myshopify.com") -> Any:
        body = order_body(order)
        return client.post("/webhook/shopify", data=body, headers=shopify_headers(body, shop=shop, event_id=str(order)))

    with time_machine.travel(dt.datetime(2026, 11, 26, 12, 0, 15, tzinfo=dt.UTC), tick=False):
        assert [post(i).status_code for i in range(3)] == [202, 202, 202]
        limited = post(3)
        assert limited.status_code == 429
        assert limited.mimetype == "application/problem+json"
        assert limited.headers["Retry-After"] == "45"  # the window ends at 12:01:00
        # Another tenant has its own budget.
        assert post(100, shop="globex.myshopify.com").status_code == 202
    with time_machine.travel(dt.datetime(2026, 11, 26, 12, 1, 0, tzinfo=dt.UTC), tick=False):
        assert post(3).status_code == 202  # a new window: the vendor's retry gets through
    session.rollback()
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 5
