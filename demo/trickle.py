"""The demo trickle: realistic signed vendor events, so ``make run`` shows the workflows working.

With ``ZIXLY_SANDBOX_EVENTS_PER_MIN > 0``, ``python -m demo sandbox`` serves the sandbox and runs
this beside it, in the same process (it changes the emulators' in-memory state): it first
connects the demo tenant through the real OAuth flow (the sandbox's grants live in memory, so
every sandbox start needs fresh tokens; see :mod:`demo.connect`), then, at that rate, does what
customers and staff do at the vendors, each followed by the vendor's signed webhook to the listener:

- Xero: an invoice is paid (``xero-invoice-paid`` updates the HubSpot contact);
- Shopify: a new order is placed and paid (``shopify-order-to-xero`` invoices it);
- HubSpot: a new deal is won (``hubspot-deal-won-to-asana`` opens an onboarding task);
- Asana: an onboarding task is completed (delivered by the webhook the runner created on the
  onboarding project once Asana was connected; the ``asana-tasks-poll`` schedule catches any it misses).

About one event in eight is a bad day on purpose: a HubSpot outage that outlasts the client's
own retries (the job fails, is retried with backoff, and succeeds), or a webhook about an
invoice that was deleted meanwhile (the job fails permanently, naming the invoice).
Tests leave the trickle off (the default, 0).
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from flask import Flask

from demo.connect import connect_named_tenant
from demo.seed import DEMO_TENANT
from sandbox import control, demo_accounts
from sandbox.shopify import api as shopify_sandbox
from sandbox.shopify import orders as shopify_data
from sandbox.xero import data as xero_data
from sandbox.xero import hooks as xero_sandbox
from settings import Settings

log = logging.getLogger("zixly.demo.trickle")

HUBSPOT_INSPECTOR = {"Authorization": "Bearer pat-zixly-demo-trickle"}
ASANA_PAT = {"Authorization": "Bearer 2/1201000000000101/1:0123456789abcdef"}
PRODUCTS = [
    ("Trail running vest", "TRV-10", "129.00"),
    ("Merino beanie", "MB-GRY", "39.00"),
    ("Headlamp 400lm", "HL-400", "74.50"),
    ("Insulated bottle 1L", "IB-1L", "45.00"),
    ("Climbing chalk 200g", "CC-200", "12.00"),
]
CUSTOMERS = [
    ("mia@baysideclimbing.example", "Mia", "Chen"),
    ("noah.patel@blueridge.example", "Noah", "Patel"),
    ("sam@ridgeline.example", "Sam", "Ortiz"),
    ("priya@lakeside.example", "Priya", "Shah"),
]
DEALS = ["annual support plan", "team kit order", "guided trips package", "rental fleet refresh"]
_orders = itertools.count(5200000001)


class Trickle:
    def __init__(self, settings: Settings, app: Flask, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.app = app
        self.rng = rng or random.Random()
        self.base = f"http://127.0.0.1:{settings.sandbox_port}"
        self.shop = demo_accounts.SHOPIFY_SHOP
        self.http = httpx.Client(base_url=self.base, trust_env=False, timeout=30)

    # -- one event each ---------------------------------------------------------------------
    def xero_invoice_paid(self) -> dict[str, Any]:
        return xero_sandbox.demo_event(self.settings)

    def shopify_order_paid(self) -> dict[str, Any]:
        email, first, last = self.rng.choice(CUSTOMERS)
        picks = self.rng.sample(PRODUCTS, self.rng.randint(1, 3))
        order_id = next(_orders)
        order = shopify_data.make_order(
            order_id, 2000 + order_id % 100000, email=email, customer=(7200000 + order_id % 1000, first, last),
            lines=[(title, sku, self.rng.randint(1, 3), price) for title, sku, price in picks],
            shipping=("Courier", "9.50"), discount=("DEMO5", "5.00") if self.rng.random() < 0.3 else None,
        )  # fmt: skip
        with control.LOCK:
            shopify_sandbox.orders(self.shop)[order_id] = order
        answer: dict[str, Any] = self.http.post(
            f"/shopify/_sandbox/orders/{order_id}/pay", json={"shop": self.shop}
        ).json()
        return {"delivered": all(d.get("delivered") for d in answer.get("deliveries", [])), "order": order["name"]}

    def hubspot_deal_won(self) -> dict[str, Any]:
        contacts = self.http.get("/hubspot/crm/objects/2026-09/contacts", params={"limit": 20,
                                 "associations": "companies"}, headers=HUBSPOT_INSPECTOR).json()["results"]  # fmt: skip
        contact = self.rng.choice(contacts)
        links = [{"to": {"id": contact["id"]}}]
        for company in (contact.get("associations") or {}).get("companies", {}).get("results", [])[:1]:
            links.append({"to": {"id": company["id"]}})
        amount = Decimal(self.rng.randrange(1500, 25000, 250))
        deal = self.http.post(
            "/hubspot/crm/objects/2026-09/deals", headers=HUBSPOT_INSPECTOR,
            json={"properties": {"dealname": self.rng.choice(DEALS).capitalize(), "amount": f"{amount:.2f}",
                                 "dealstage": "contractsent", "pipeline": "default"}, "associations": links},
        ).json()  # fmt: skip
        answer: dict[str, Any] = self.http.post(
            f"/hubspot/_sandbox/deals/{deal['id']}/stage", json={"stage": "closedwon"}
        ).json()
        return {"delivered": all(d.get("delivered") for d in answer.get("deliveries", [])), "deal": deal["id"]}

    def asana_task_completed(self) -> dict[str, Any]:
        project = demo_accounts.ASANA_ONBOARDING_PROJECT_GID
        params = {"project": project, "completed_since": "now", "opt_fields": "completed,notes"}
        tasks = self.http.get("/asana/api/1.0/tasks", headers=ASANA_PAT, params=params).json()["data"]
        open_ones = [t for t in tasks if "[zixly:hubspot-deal:" in (t.get("notes") or "") and not t.get("completed")]
        if not open_ones:
            return self.hubspot_deal_won()
        task = self.rng.choice(open_ones)
        self.http.post(f"/asana/_sandbox/tasks/{task['gid']}/complete")
        return {"delivered": True, "task": task["gid"]}

    # -- bad days ---------------------------------------------------------------------------
    def hubspot_outage(self) -> dict[str, Any]:
        """More 503s than the client retries: the job's attempt fails and the runner retries it.

        Only HubSpot's CRM API is down (``/crm/``), never its consent page: the invoice's job runs
        only after its debounce window, and a person connecting HubSpot meanwhile must not meet
        the outage meant for the job.
        """
        control.add_fault("hubspot", "503", count=6, path_contains="/crm/")
        return self.xero_invoice_paid()

    def deleted_invoice(self) -> dict[str, Any]:
        org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
        target = self.settings.public_url.rstrip("/") + "/webhook/xero"
        return xero_sandbox.send_event(self.settings, org, "INVOICE", "UPDATE", str(uuid.uuid4()), target)

    # -- the loop ---------------------------------------------------------------------------
    def pick(self) -> Callable[[], dict[str, Any]]:
        choices: list[tuple[Callable[[], dict[str, Any]], int]] = [
            (self.xero_invoice_paid, 30), (self.shopify_order_paid, 30), (self.hubspot_deal_won, 15),
            (self.asana_task_completed, 12), (self.hubspot_outage, 8), (self.deleted_invoice, 5),
        ]  # fmt: skip
        return self.rng.choices([c for c, _ in choices], [w for _, w in choices])[0]

    def run(self, stop: threading.Event) -> None:
        outcome = connect_named_tenant(self.settings, DEMO_TENANT, wait_s=120)
        log.info("demo tenant connections: %s", outcome)
        if "tenant" in outcome:
            log.warning("no demo tenant (run `python -m demo seed`): the trickle stays off")
            return
        interval = 60.0 / self.settings.sandbox_events_per_min
        while not stop.wait(interval * self.rng.uniform(0.5, 1.5)):
            event = self.pick()
            try:
                with self.app.app_context():
                    result = event()
                log.info("demo event %s: %s", event.__name__, result.get("delivered"))
            except Exception:  # a demo aid: one failed event must not end the trickle
                log.exception("demo event %s failed", event.__name__)


def companion(settings: Settings) -> Callable[[Flask, threading.Event], None]:
    """The trickle as a sandbox companion (:func:`sandbox.server.serve` runs it in a thread)."""

    def demo_trickle(app: Flask, stop: threading.Event) -> None:
        Trickle(settings, app).run(stop)

    return demo_trickle
