"""The demo trickle, in process: each kind of event changes the sandbox and sends its signed webhook."""

from __future__ import annotations

import random

import httpx
from flask import Flask

from demo.trickle import Trickle
from sandbox.app import create_sandbox_app
from settings import Settings
from tests.servers import serving


def test_every_kind_of_event_is_delivered() -> None:
    received: list[str] = []
    listener = Flask("listener")

    @listener.post("/webhook/<path:vendor>")
    def accept(vendor: str) -> tuple[str, int]:
        received.append(vendor)
        return "", 200

    with serving(listener) as listener_url:
        settings = Settings(env="development", public_url=listener_url, _env_file=None)  # type: ignore[call-arg]
        app = create_sandbox_app(settings)
        with serving(app) as sandbox_url:
            trickle = Trickle(settings, app, random.Random(7))
            trickle.http = httpx.Client(base_url=sandbox_url, trust_env=False, timeout=30)
            events = [trickle.xero_invoice_paid, trickle.shopify_order_paid, trickle.hubspot_deal_won,
                      trickle.asana_task_completed, trickle.deleted_invoice]  # fmt: skip
            for event in events:
                with app.app_context():
                    assert event()["delivered"] is True, event.__name__
    assert {"xero", "shopify", "hubspot"} <= set(received)
