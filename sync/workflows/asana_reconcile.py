"""Asana → HubSpot: an onboarding task that is completed marks the client's HubSpot contact.

``asana-task-reconcile`` handles one task named by an Asana webhook event. Asana delivers
webhooks at most once, so ``asana-tasks-poll`` (scheduled, every 15 minutes per tenant by
default) reconciles every task of the onboarding project modified since its cursor; a task
the webhook already handled changes nothing the second time.

Only tasks created by ``hubspot-deal-won-to-asana`` (their notes carry the deal marker) are
reconciled: when such a task is completed, the deal's first contact gets the completion date
in the configured HubSpot property.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from db import cursors
from integrations.asana.models import Task
from integrations.http import IntegrationError, NotFound
from integrations.hubspot.client import HubSpotClient
from sync.clients import JobClients, session_factory
from sync.context import JobContext
from sync.errors import PermanentJobError
from sync.workflow_settings import (
    ASANA_TASK_RECONCILE,
    ASANA_TASKS_POLL,
    HUBSPOT_DEAL_WON_TO_ASANA,
    AsanaReconcileOptions,
    DealWonToAsanaOptions,
    load,
)
from sync.workflows import register
from sync.workflows.hubspot_deal_won_to_asana import read_deal, read_object

MARKER = re.compile(r"\[zixly:hubspot-deal:(\d+)\]")


def reconcile(ctx: JobContext, hubspot: HubSpotClient, task: Task, options: AsanaReconcileOptions) -> str:
    """Bring HubSpot in line with one task; returns what happened (for the result)."""
    match = MARKER.search(task.notes or "")
    if match is None:
        return "not an onboarding task"
    if not task.completed:
        return "open"
    done_on = (task.completed_at or dt.datetime.now(dt.UTC)).date().isoformat()
    deal = read_deal(ctx, hubspot, match.group(1), why=f" (onboarded by Asana task {task.gid})")
    if not deal.contact_ids:
        return "the deal has no contact"
    prop = options.completed_property
    contact = read_object(hubspot, "contacts", deal.contact_ids[0], ["email", prop])
    if contact is None:
        return "the deal's contact no longer exists"
    ctx.record("hubspot", "contact", contact.id, "READ", label=contact.get("email"))
    if contact.get(prop) == done_on:
        return "unchanged"
    hubspot.update_contact(contact.id, {prop: done_on})
    ctx.record("hubspot", "contact", contact.id, "UPDATE", label=contact.get("email"))
    ctx.step(f"Task {task.gid} completed: HubSpot contact {contact.id} {prop}={done_on}")
    return "updated"


@register(ASANA_TASK_RECONCILE)
def asana_task_reconcile(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Asana task changed → reconcile its HubSpot contact."""
    with session_factory(ctx)() as session:
        options = load(session, ctx.tenant_id, ASANA_TASK_RECONCILE, AsanaReconcileOptions).options
    gid = params["task_gid"]
    with JobClients(ctx) as clients:
        ctx.step(f"Fetching Asana task {gid}")
        try:
            task = clients.asana().get_task(gid)
        except NotFound:
            raise PermanentJobError(f"Asana task {gid} does not exist; was it deleted?") from None
        ctx.record("asana", "task", task.gid, "READ", task.permalink_url, label=task.name)
        outcome = reconcile(ctx, clients.hubspot(), task, options)
    ctx.step(f"Task {gid}: {outcome}")
    return {"task": gid, "outcome": outcome}


@register(ASANA_TASKS_POLL)
def asana_tasks_poll(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Scheduled: reconcile every onboarding task changed since the last poll."""
    factory = session_factory(ctx)
    with factory() as session:
        setting = load(session, ctx.tenant_id, ASANA_TASK_RECONCILE, AsanaReconcileOptions)
        project = load(
            session, ctx.tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, DealWonToAsanaOptions
        ).options.asana_project_gid
        resource = f"tasks:{project}"
        stored = cursors.get(session, ctx.tenant_id, "asana", resource) if project else None
    if not setting.enabled or not project:
        reason = "disabled" if not setting.enabled else "no Asana project configured"
        ctx.step(f"Nothing to poll: {reason}")
        return {"skipped": reason}
    started = dt.datetime.now(dt.UTC)
    since = (
        dt.datetime.fromisoformat(stored)
        if stored
        else started - dt.timedelta(minutes=setting.options.lookback_minutes)
    )
    ctx.step(f"Reconciling tasks of Asana project {project} modified since {since.isoformat()}")
    outcomes: dict[str, int] = {}
    with JobClients(ctx) as clients:
        hubspot = clients.hubspot()
        for task in clients.asana().tasks_modified_since(project, since):
            ctx.record("asana", "task", task.gid, "READ", task.permalink_url, label=task.name)
            try:
                outcome = reconcile(ctx, hubspot, task, setting.options)
            except (PermanentJobError, IntegrationError) as exc:
                if not getattr(exc, "permanent", False):
                    raise  # transient: retry the poll (the cursor has not moved)
                ctx.step(f"Task {task.gid} skipped: {exc}", kind="warning")
                outcome = "error"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Move the cursor only after every task is done; a second of overlap is harmless (idempotent).
    with factory() as session, session.begin():
        cursors.put(session, ctx.tenant_id, "asana", resource, (started - dt.timedelta(seconds=1)).isoformat())
    return {"project": project, "tasks": sum(outcomes.values()), "outcomes": outcomes}
