"""``asana-webhook-ensure``: the tenant's Asana webhook exists, on its onboarding project, and is active.

Queued when Asana is connected and when the onboarding project option changes, and fired by
its schedule so that a webhook Asana deleted (it does after a day of failed deliveries) is
noticed and re-created. The work is :func:`integrations.asana.hook_upkeep.ensure`; it runs
here, in the runner, because Asana calls the listener back while the creation is open.
"""

from __future__ import annotations

from typing import Any

from db.admin import get_connection
from integrations.asana import hook_upkeep
from jobtypes import ASANA_WEBHOOK_ENSURE
from sync.clients import JobClients, session_factory
from sync.context import JobContext
from sync.workflow_settings import HUBSPOT_DEAL_WON_TO_ASANA, DealWonToAsanaOptions, load
from sync.workflows import register


@register(ASANA_WEBHOOK_ENSURE)
def asana_webhook_ensure(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Create, check or re-create the webhook; none when no onboarding project is set."""
    factory = session_factory(ctx)
    with factory() as session:
        project = load(
            session, ctx.tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, DealWonToAsanaOptions
        ).options.asana_project_gid
        try:
            connection = get_connection(session, ctx.tenant_id, "asana")
        except LookupError:
            connection = None
    if connection is None or connection.status == "disconnected":
        ctx.step("Nothing to do: the tenant has no Asana connection")
        return {"skipped": "no Asana connection"}
    if params.get("reason"):
        ctx.step(f"Queued because: {params['reason']}")
    with JobClients(ctx) as clients:
        outcome = hook_upkeep.ensure(
            factory, clients.asana(), connection.id, project, ctx.settings.public_url, step=ctx.step
        )
    return {"action": outcome.action, "detail": outcome.detail, "project": project}
