"""A week of the demo tenant's job history, about the records the sandbox really holds.

Every seeded job carries the params a real job of its type carries, naming records the
sandbox seeds at every start (:mod:`sandbox.demo_accounts`, the Xero invoices of
:mod:`sandbox.xero.data`), so a newcomer's first Rerun runs against the sandbox and completes.
The failures are of two kinds, both readable: a vendor that was briefly down (a rerun
completes), and a record deleted at the vendor since (a rerun fails again, naming it, as the
real job would). Related records carry their labels (INV-0042, #1002, a deal's name, an
email), so Record lookup finds them by what people know.

Trading sweeps are not invented: their results live in blobs a real run writes. The history
holds one that failed while the price feed was down (its rerun completes), and two small
sweeps are queued, which the runner completes on its first start.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

import jobtypes
from db.models import JobStep, PipelineJob, RelatedRecord
from sandbox import demo_accounts
from sandbox.xero import data as xero_data

# Records deleted at the vendor after their event: a rerun fails for good, naming them.
DELETED_INVOICE = "9d4f3c2b-1a0e-4b7d-8c6f-5e4d3c2b1a09"
DELETED_ORDER = "5100009999"
DELETED_DEAL = "51999"
SHOP = demo_accounts.SHOPIFY_SHOP

Record = tuple[str, str, str, str | None, str]  # system, type, id, label, action


@dataclass(frozen=True)
class Work:
    params: dict[str, Any]
    records: list[Record] = field(default_factory=list)
    gone: str | None = None  # the error of a job about a deleted record (a rerun fails the same way)


def _invoice(rng: random.Random, deleted: bool) -> Work:
    if deleted:
        return Work({"invoice_id": DELETED_INVOICE}, gone=f"NotFound: Xero has no invoice {DELETED_INVOICE}")
    inv = rng.choice(xero_data.seeded_invoices())
    return Work(
        {"invoice_id": inv["invoice_id"]},
        [("xero", "invoice", inv["invoice_id"], inv["number"], "READ"),
         ("xero", "contact", inv["contact_id"], inv["email"], "READ")],
    )  # fmt: skip


def _order(rng: random.Random, deleted: bool) -> Work:
    if deleted:
        why = f"Shopify order {DELETED_ORDER} does not exist in {SHOP}; was it deleted?"
        return Work({"order_id": DELETED_ORDER, "shop": SHOP}, gone=f"PermanentJobError: {why}")
    order_id, name = rng.choice(sorted(demo_accounts.SHOPIFY_ORDERS.items()))
    return Work({"order_id": order_id, "shop": SHOP}, [("shopify", "order", order_id, name, "READ")])


def _deal(rng: random.Random, deleted: bool) -> Work:
    if deleted:
        why = f"HubSpot deal {DELETED_DEAL} does not exist; was it deleted?"
        return Work({"deal_id": DELETED_DEAL}, gone=f"PermanentJobError: {why}")
    deal_id, name = rng.choice(sorted(demo_accounts.HUBSPOT_DEALS.items()))
    return Work({"deal_id": deal_id}, [("hubspot", "deal", deal_id, name, "READ")])


def _contacts(rng: random.Random, _deleted: bool) -> Work:
    picks = rng.sample(xero_data.seeded_invoices(), 2)
    return Work({}, [("xero", "contact", p["contact_id"], p["email"], "READ") for p in picks])


# job type → (weight, maker, systems its steps call, typical seconds, transient failures, deletable)
_TYPES: dict[str, tuple[int, Callable[[random.Random, bool], Work], tuple[str, ...], float, tuple[str, ...], bool]] = {
    jobtypes.XERO_INVOICE_PAID: (40, _invoice, ("xero", "hubspot"), 1.8, (
        "RateLimited: HubSpot answered 429 Too Many Requests on every retry; the next run waits it out",
        "TransientError: Xero answered 503 Service Unavailable (the sandbox's outage drill)",
    ), True),
    jobtypes.SHOPIFY_ORDER_TO_XERO: (30, _order, ("shopify", "xero"), 2.4, (
        "TransientError: Xero answered 503 Service Unavailable (the sandbox's outage drill)",
    ), True),
    jobtypes.HUBSPOT_DEAL_WON_TO_ASANA: (12, _deal, ("hubspot", "asana"), 1.2, (
        "TransientError: Asana answered 500 Internal Server Error on every retry",
    ), True),
    jobtypes.XERO_CONTACTS_TO_HUBSPOT: (15, _contacts, ("xero", "hubspot"), 9.0, (
        "TransientError: HubSpot answered 502 Bad Gateway during the batch upsert",
    ), False),
}  # fmt: skip
_PATHS = {
    "xero": "/api.xro/2.0/Invoices/{InvoiceID}",
    "hubspot": "/crm/v3/objects/contacts/search",
    "shopify": "/admin/api/2026-10/graphql.json",
    "asana": "/api/1.0/tasks",
}
SWEEP = {"ticker": "BTC-USD", "strategy_type": "SMA", "fast_range": [5, 20], "slow_range": [20, 60], "step": 5}
QUEUED_SWEEPS = (SWEEP, {**SWEEP, "ticker": "SPY", "strategy_type": "EMA"})


def seed_history(
    session: Session, tenant_id: int, now: dt.datetime, *, days: int, jobs_per_day: int, rng: random.Random
) -> None:
    types = list(_TYPES)
    weights = [_TYPES[t][0] for t in types]
    jobs: list[dict[str, Any]] = []
    works: list[Work] = []
    for _ in range(days * jobs_per_day):
        job_type = rng.choices(types, weights)[0]
        _, make, systems, typical_s, transient, deletable = _TYPES[job_type]
        status = rng.choices(["COMPLETED", "FAILED", "CANCELLED"], [90, 8, 2])[0]
        work = make(rng, status == "FAILED" and deletable and rng.random() < 0.25)
        error = (work.gone or rng.choice(transient)) if status == "FAILED" else None
        created = now - dt.timedelta(seconds=rng.uniform(60, days * 86400))
        jobs.append(_row(tenant_id, job_type, status, work.params, created, error, rng, typical_s, systems))
        works.append(work)
    # One sweep failed while the price feed was down; two small ones wait for the runner.
    sweep_error = "TransientError: the price feed answered 503 Service Unavailable on every retry"
    jobs.append(_row(tenant_id, jobtypes.TRADING_SWEEP, "FAILED", jobtypes.validate_params(jobtypes.TRADING_SWEEP,
                     SWEEP), now - dt.timedelta(hours=20), sweep_error, rng, 3.0, ("prices",)))  # fmt: skip
    works.append(Work(SWEEP))
    for params in QUEUED_SWEEPS:
        checked = jobtypes.validate_params(jobtypes.TRADING_SWEEP, params)
        jobs.append(_row(tenant_id, jobtypes.TRADING_SWEEP, "QUEUED", checked, now, None, rng, 0, ()))
        works.append(Work(params))
    systems_of = [job.pop("_systems") for job in jobs]
    for job in jobs:  # every seeded job passes the check a rerun makes
        jobtypes.validate_params(job["job_type"], job["params"])
    ids = session.scalars(insert(PipelineJob).returning(PipelineJob.id), jobs).all()
    steps: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for job_id, job, work, systems in zip(ids, jobs, works, systems_of, strict=True):
        if job["started_at"] is None:
            continue
        at = job["started_at"]
        for system in systems:
            at += dt.timedelta(milliseconds=rng.uniform(80, 600))
            path = _PATHS.get(system, "/prices/{ticker}")
            steps.append({"job_id": job_id, "kind": "call", "message": f"GET {path} → 200", "system": system,
                          "method": "GET", "path": path, "status_code": 200, "latency_ms": rng.uniform(40, 450),
                          "at": at})  # fmt: skip
        for system, record_type, record_id, label, action in work.records:
            records.append({"job_id": job_id, "tenant_id": tenant_id, "system": system, "record_type": record_type,
                            "record_id": record_id, "record_label": label, "action": action, "at": at})  # fmt: skip
        steps.append({"job_id": job_id, "kind": "error" if job["error"] else "info",
                      "message": job["error"] or "done", "at": job["completed_at"]})  # fmt: skip
    if steps:
        session.execute(insert(JobStep), steps)
    if records:
        session.execute(insert(RelatedRecord), records)


def _row(
    tenant_id: int,
    job_type: str,
    status: str,
    params: dict[str, Any],
    created: dt.datetime,
    error: str | None,
    rng: random.Random,
    typical_s: float,
    systems: tuple[str, ...],
) -> dict[str, Any]:
    queued = status == "QUEUED"
    started = None if status in ("CANCELLED", "QUEUED") else created + dt.timedelta(seconds=rng.uniform(0.01, 0.5))
    duration = max(0.05, rng.lognormvariate(0, 0.6) * typical_s)
    source = systems[0] if systems else "dashboard"
    return {
        "tenant_id": tenant_id,
        "job_type": job_type,
        "status": status,
        "params": params,
        "result": {"ok": True} if status == "COMPLETED" else None,
        "error": error if status == "FAILED" else ("cancelled by admin@zixly.local" if status == "CANCELLED" else None),
        "attempts": 0 if queued or status == "CANCELLED" else (3 if status == "FAILED" else rng.choice([1, 1, 1, 2])),
        "created_by": "schedule:demo" if job_type == jobtypes.XERO_CONTACTS_TO_HUBSPOT
        else ("admin@zixly.local" if job_type == jobtypes.TRADING_SWEEP else f"webhook:{source}"),
        "created_at": created,
        "run_at": created,
        "started_at": started,
        "completed_at": None if queued else (created if started is None else started + dt.timedelta(seconds=duration)),
        "_systems": systems,
    }  # fmt: skip
