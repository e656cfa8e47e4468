"""``hubspot-deal-won-to-asana``: a deal moved to closed won gets an onboarding task in Asana.

The job re-reads the deal with its company and contact (the stage may have moved again
since the event); only a deal that is closed won now gets a task. The task goes to the
tenant's Asana project (workflow settings), with the configured assignee and due date, and
notes that link back to the deal and carry a marker ``[zixly:hubspot-deal:<id>]``.

Asana has no idempotency key, so the job looks for a task with that marker in the project
before it creates one: a second event for the same deal, or a rerun, creates nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from integrations.asana.client import AsanaClient
from integrations.asana.models import Task
from integrations.http import NotFound
from integrations.hubspot.client import HubSpotClient
from integrations.hubspot.models import CrmObject, Deal
from sync.clients import JobClients, session_factory, tenant_name
from sync.context import JobContext
from sync.errors import PermanentJobError
from sync.workflow_settings import HUBSPOT_DEAL_WON_TO_ASANA, DealWonToAsanaOptions, load
from sync.workflows import register


def marker(deal_id: str) -> str:
    return f"[zixly:hubspot-deal:{deal_id}]"


def deal_url(portal: str | None, deal_id: str) -> str:
    return f"https://app.hubspot.com/contacts/{portal or '-'}/record/0-3/{deal_id}"


def read_deal(ctx: JobContext, hubspot: HubSpotClient, deal_id: str, *, why: str = "") -> Deal:
    try:
        deal = hubspot.get_deal(deal_id)
    except NotFound:
        raise PermanentJobError(f"HubSpot deal {deal_id}{why} does not exist; was it deleted?") from None
    ctx.record("hubspot", "deal", deal.id, "READ", label=deal.get("dealname"))
    return deal


def read_object(hubspot: HubSpotClient, object_type: str, object_id: str, properties: list[str]) -> CrmObject | None:
    """One CRM object by id, through search (the client reads deals directly, others this way)."""
    flt = {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": object_id}]}
    page = hubspot.search(object_type, [flt], properties=properties, limit=1)
    return page.results[0] if page.results else None


@register(HUBSPOT_DEAL_WON_TO_ASANA)
def hubspot_deal_won_to_asana(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """HubSpot deal closed won → an onboarding task in the tenant's Asana project."""
    with session_factory(ctx)() as session:
        options = load(session, ctx.tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, DealWonToAsanaOptions).options
    project = options.asana_project_gid
    if not project:
        raise PermanentJobError(
            f"Set the Asana project (asana_project_gid) of {HUBSPOT_DEAL_WON_TO_ASANA} for {tenant_name(ctx)}"
        )
    deal_id = params["deal_id"]
    with JobClients(ctx) as clients:
        hubspot = clients.hubspot()
        ctx.step(f"Fetching HubSpot deal {deal_id} with its company and contact")
        deal = read_deal(ctx, hubspot, deal_id)
        if deal.stage != options.closed_won_stage:
            ctx.step(f"Deal {deal.id} is at stage {deal.stage}, not {options.closed_won_stage}: nothing to do")
            return {"skipped": f"stage {deal.stage}", "deal": deal.id}
        company = _first(ctx, hubspot, "companies", deal.company_ids, ["name", "domain"])
        contact = _first(ctx, hubspot, "contacts", deal.contact_ids, ["email", "firstname", "lastname"])

        asana = clients.asana()
        ctx.step(f"Looking for an onboarding task of deal {deal.id} in Asana project {project}")
        existing = _existing_task(asana, project, deal)
        if existing is not None:
            ctx.record("asana", "task", existing.gid, "READ", label=existing.name)
            ctx.step(f"Asana task {existing.gid} already onboards this deal: nothing to create")
            return {"deal": deal.id, "task": existing.gid, "created": False}

        company_name = (company.get("name") if company else None) or "the client"
        deal_name = deal.get("dealname") or f"deal {deal.id}"
        name = options.task_name.format(company=company_name, deal=deal_name)
        due = dt.date.today() + dt.timedelta(days=options.due_in_days)
        notes = _notes(deal, company, contact, clients.connection_org("hubspot"))
        ctx.step(f"Creating the Asana task {name!r} due {due.isoformat()}")
        task = asana.create_task(project, name, assignee=options.assignee, due_on=due, notes=notes)
        ctx.record("asana", "task", task.gid, "CREATE", task.permalink_url, label=task.name)
        ctx.step(f"Created Asana task {task.gid}")
        return {"deal": deal.id, "task": task.gid, "created": True, "due_on": due.isoformat()}


def _first(
    ctx: JobContext, hubspot: HubSpotClient, object_type: str, ids: list[str], properties: list[str]
) -> CrmObject | None:
    if not ids:
        return None
    found = read_object(hubspot, object_type, ids[0], properties)
    if found is not None:
        kind = object_type[:-1] if object_type != "companies" else "company"
        ctx.record("hubspot", kind, found.id, "READ", label=found.get("email") or found.get("name"))
    return found


def _existing_task(asana: AsanaClient, project: str, deal: Deal) -> Task | None:
    since = deal.created_at - dt.timedelta(days=1)
    tag = marker(deal.id)
    return next((t for t in asana.tasks_modified_since(project, since) if tag in (t.notes or "")), None)


def _notes(deal: Deal, company: CrmObject | None, contact: CrmObject | None, portal: str | None) -> str:
    lines = [f"Won deal: {deal.get('dealname') or deal.id} ({deal.get('amount') or 'no amount'})"]
    if company is not None:
        lines.append(f"Company: {company.get('name') or company.id} {company.get('domain') or ''}".rstrip())
    if contact is not None:
        person = " ".join(p for p in (contact.get("firstname"), contact.get("lastname")) if p)
        lines.append(f"Contact: {person or contact.id} <{contact.get('email') or 'no email'}>")
    lines += [f"HubSpot: {deal_url(portal, deal.id)}", "", marker(deal.id)]
    return "\n".join(lines)
