"""Demo data for a first look: one tenant on the sandbox and a week of realistic job history."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

import jobtypes
from db import workflow_settings
from db.auth import create_user
from db.models import Connection, JobStep, PipelineJob, RelatedRecord, Tenant, User
from sandbox import demo_accounts as sandbox_accounts

DEMO_TENANT = "Acme Outdoor Co"
DEMO_EMAIL = "admin@zixly.local"
DEMO_PASSWORD = "zixly-demo"  # noqa: S105 — development only: `python -m demo seed` refuses to run in production
# External org ids the sandbox's seeded vendors use, so its webhooks resolve to the demo tenant.
# The tokens come from the sandbox at run time (its grants live in memory): `python -m demo sandbox`
# connects this tenant through the OAuth flow when it starts (demo/connect.py).
DEMO_ORGS = {
    "xero": (sandbox_accounts.XERO_TENANT_ID, sandbox_accounts.XERO_TENANT_NAME),
    "hubspot": (str(sandbox_accounts.HUBSPOT_PORTAL_ID), f"HubSpot portal {sandbox_accounts.HUBSPOT_PORTAL_ID}"),
    "shopify": (sandbox_accounts.SHOPIFY_SHOP, sandbox_accounts.SHOPIFY_SHOP_NAME),
    "asana": (sandbox_accounts.ASANA_WORKSPACE_GID, sandbox_accounts.ASANA_WORKSPACE_NAME),
}
# The sandbox's "Client onboarding" project receives the onboarding tasks of won deals.
DEMO_WORKFLOW_OPTIONS = {
    jobtypes.HUBSPOT_DEAL_WON_TO_ASANA: {
        "asana_project_gid": sandbox_accounts.ASANA_ONBOARDING_PROJECT_GID,
        "due_in_days": 5,
    }
}

# job type → (weight, systems it touches, typical seconds, failure messages)
_JOB_TYPES: dict[str, tuple[int, tuple[str, ...], float, tuple[str, ...]]] = {
    jobtypes.XERO_INVOICE_PAID: (
        40,
        ("xero", "hubspot"),
        1.8,
        ("HubSpot answered 429 for 3 attempts", "Xero token expired"),
    ),
    jobtypes.SHOPIFY_ORDER_TO_XERO: (
        30,
        ("shopify", "xero"),
        2.4,
        ("Xero validation error: AccountCode 200 is archived",),
    ),
    jobtypes.HUBSPOT_DEAL_WON_TO_ASANA: (12, ("hubspot", "asana"), 1.2, ("Asana project 1209 not found",)),
    jobtypes.XERO_CONTACTS_TO_HUBSPOT: (
        15,
        ("xero", "hubspot"),
        9.0,
        ("HubSpot batch upsert: 2 contacts have invalid emails",),
    ),
    jobtypes.TRADING_SWEEP: (3, ("prices",), 25.0, ("unknown ticker DOGE-USD",)),
}


def seed_demo(session: Session, *, days: int = 7, jobs_per_day: int = 300, seed: int = 7) -> bool:
    """Create the demo tenant, user, connections and history; False if already there."""
    if session.scalar(select(Tenant.id).where(Tenant.name == DEMO_TENANT)) is not None:
        return False
    tenant = Tenant(name=DEMO_TENANT, timezone="Australia/Sydney")
    session.add(tenant)
    session.flush()
    if session.scalar(select(User.id).where(User.email == DEMO_EMAIL)) is None:
        create_user(session, DEMO_EMAIL, "ADMIN", DEMO_PASSWORD, name="Demo Admin")
    now = dt.datetime.now(dt.UTC)
    for system, (org_id, org_name) in DEMO_ORGS.items():
        session.add(
            Connection(
                tenant_id=tenant.id,
                system=system,
                external_org_id=org_id,
                org_name=org_name,
                status="connected",
                scopes="demo",
                expires_at=now + dt.timedelta(minutes=30),
            )
        )
    session.flush()
    for workflow, options in DEMO_WORKFLOW_OPTIONS.items():
        workflow_settings.save(session, tenant.id, workflow, enabled=True, options=options)
    workflow_settings.ensure_default_schedules(session, tenant.id, jobtypes.DEFAULT_SCHEDULES)
    _seed_history(session, tenant.id, now, days=days, jobs_per_day=jobs_per_day, rng=random.Random(seed))
    return True


def _seed_history(
    session: Session, tenant_id: int, now: dt.datetime, *, days: int, jobs_per_day: int, rng: random.Random
) -> None:
    types = list(_JOB_TYPES)
    weights = [_JOB_TYPES[t][0] for t in types]
    jobs: list[dict[str, Any]] = []
    for _ in range(days * jobs_per_day):
        job_type = rng.choices(types, weights)[0]
        _, systems, typical_s, failures = _JOB_TYPES[job_type]
        created = now - dt.timedelta(seconds=rng.uniform(60, days * 86400))
        status = rng.choices(["COMPLETED", "FAILED", "CANCELLED"], [90, 8, 2])[0]
        duration = max(0.05, rng.lognormvariate(0, 0.6) * typical_s)
        started = created + dt.timedelta(seconds=rng.uniform(0.01, 0.5))
        number = rng.randint(1, 400)
        jobs.append(
            {
                "tenant_id": tenant_id,
                "job_type": job_type,
                "status": status,
                "params": {"demo": True, "invoice_number": f"INV-{number:04d}", "order_name": f"#{1000 + number}"},
                "result": {"ok": True} if status == "COMPLETED" else None,
                "error": rng.choice(failures) if status == "FAILED" else None,
                "attempts": 3 if status == "FAILED" else rng.choices([1, 2], [95, 5])[0],
                "created_by": f"webhook:{systems[0]}"
                if job_type != jobtypes.XERO_CONTACTS_TO_HUBSPOT
                else "schedule:demo",
                "created_at": created,
                "run_at": created,
                "started_at": None if status == "CANCELLED" else started,
                "completed_at": created if status == "CANCELLED" else started + dt.timedelta(seconds=duration),
            }
        )
    ids = session.scalars(insert(PipelineJob).returning(PipelineJob.id), jobs).all()
    steps: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for job_id, job in zip(ids, jobs, strict=True):
        if job["started_at"] is None:
            continue
        systems = _JOB_TYPES[job["job_type"]][1]
        at = job["started_at"]
        for system in systems:
            at += dt.timedelta(milliseconds=rng.uniform(80, 600))
            steps.append(
                {
                    "job_id": job_id,
                    "kind": "call",
                    "message": f"GET {system}",
                    "system": system,
                    "method": "GET",
                    "path": "/demo/{id}",
                    "status_code": 200,
                    "latency_ms": rng.uniform(40, 450),
                    "at": at,
                }
            )
            records.append(
                {
                    "job_id": job_id,
                    "tenant_id": tenant_id,
                    "system": system,
                    "record_type": "demo",
                    "record_id": job["params"]["invoice_number"],
                    "action": "READ",
                    "at": at,
                }
            )
        steps.append({"job_id": job_id, "kind": "info", "message": job["error"] or "done", "at": job["completed_at"]})
    session.execute(insert(JobStep), steps)
    session.execute(insert(RelatedRecord), records)
