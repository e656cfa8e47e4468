"""Demo data for a first look: one tenant on the sandbox and a week of realistic job history."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

import jobtypes
from db import workflow_settings
from db.auth import create_user
from db.models import Connection, Tenant, User
from demo.history import seed_history
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
    seed_history(session, tenant.id, now, days=days, jobs_per_day=jobs_per_day, rng=random.Random(seed))
    return True
