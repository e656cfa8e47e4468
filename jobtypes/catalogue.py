"""The job-type catalogue: every job type Zixly runs, declared once.

Everyone who needs to know something about a job type reads it here: the listener (which
vendor event starts which job, with which params and concurrency key; ``POST /webhook/jobs``),
the dashboard (reruns, the sweep form, workflow options, default schedules) and the runner
(``sync/workflows`` registers one handler per entry, by name). Adding a job type is one entry
here plus its handler module.
"""

from __future__ import annotations

from jobtypes import names
from jobtypes.options import (
    AsanaReconcileOptions,
    DealWonToAsanaOptions,
    ShopifyOrderToXeroOptions,
    XeroContactsToHubSpotOptions,
    XeroInvoicePaidOptions,
)
from jobtypes.params import (
    AsanaPollParams,
    AsanaTaskParams,
    ContactsSyncParams,
    DealWonParams,
    InvoicePaidParams,
    NoopParams,
    ShopifyOrderParams,
    UpkeepParams,
)
from jobtypes.spec import DefaultSchedule, JobType, Subject, Trigger, Upkeep
from jobtypes.sweep import TradingSweepParams

CATALOGUE: tuple[JobType, ...] = (
    JobType(
        names.XERO_INVOICE_PAID,
        "Xero invoice paid → update the HubSpot contact (and close the linked deal).",
        params=InvoicePaidParams,
        options=XeroInvoicePaidOptions,
        subject=Subject("xero:invoice", "invoice_id"),
        # Xero says only "an invoice changed"; the workflow fetches it and acts if it is paid.
        trigger=Trigger("xero", "invoice.*"),
        uses=("xero", "hubspot"),
    ),
    JobType(
        names.SHOPIFY_ORDER_TO_XERO,
        "Shopify order paid → one Xero sales invoice.",
        params=ShopifyOrderParams,
        options=ShopifyOrderToXeroOptions,
        subject=Subject("shopify:order", "order_id"),
        trigger=Trigger("shopify", "orders/paid"),
        uses=("shopify", "xero"),
    ),
    JobType(
        names.HUBSPOT_DEAL_WON_TO_ASANA,
        "HubSpot deal closed won → an onboarding task in the tenant's Asana project.",
        params=DealWonParams,
        options=DealWonToAsanaOptions,
        subject=Subject("hubspot:deal", "deal_id"),
        # Any stage change: the workflow reads the deal and acts only on the tenant's closed-won stage.
        trigger=Trigger(
            "hubspot",
            "deal.propertyChange",
            payload={"propertyName": "dealstage"},
            params_from_payload={"property_name": "propertyName", "property_value": "propertyValue"},
        ),
        uses=("hubspot", "asana"),
    ),
    JobType(
        names.XERO_CONTACTS_TO_HUBSPOT,
        "Xero contacts changed since the cursor → HubSpot contacts (upsert by email).",
        params=ContactsSyncParams,
        options=XeroContactsToHubSpotOptions,
        schedule=DefaultSchedule(("xero", "hubspot"), names.XERO_CONTACTS_TO_HUBSPOT, interval_minutes=15),
        uses=("xero", "hubspot"),
    ),
    JobType(
        names.ASANA_TASK_RECONCILE,
        "Asana task changed → reconcile its HubSpot contact.",
        params=AsanaTaskParams,
        options=AsanaReconcileOptions,
        subject=Subject("asana:task", "task_gid"),
        trigger=Trigger("asana", "task.*"),
        uses=("asana", "hubspot"),
    ),
    JobType(
        names.ASANA_TASKS_POLL,
        "Scheduled: reconcile every onboarding task changed since the last poll.",
        params=AsanaPollParams,
        # No settings row of its own: Asana delivers webhooks at most once and the poll catches
        # what they miss, with the webhook workflow's settings (one switch, one interval for both).
        schedule=DefaultSchedule(("asana", "hubspot"), names.ASANA_TASK_RECONCILE, interval_minutes=15),
        uses=("asana", "hubspot"),
    ),
    JobType(
        names.ASANA_WEBHOOK_ENSURE,
        "Keep the tenant's Asana webhook on its onboarding project: create, check, re-create.",
        params=UpkeepParams,
        # Queued when Asana is connected and when the onboarding project (the deal-won
        # workflow's asana_project_gid) is saved; the schedule notices a webhook Asana deleted
        # (after a day of failed deliveries) on the fallback poller's switch and interval.
        upkeep=Upkeep(on_connect=("asana",), on_options_of=(names.HUBSPOT_DEAL_WON_TO_ASANA,)),
        schedule=DefaultSchedule(("asana",), names.ASANA_TASK_RECONCILE, interval_minutes=15),
        uses=("asana",),
    ),
    JobType(
        names.TRADING_SWEEP,
        "A moving-average crossover backtest over a grid of (fast, slow) windows.",
        params=TradingSweepParams,
    ),
    JobType(names.NOOP, "Does nothing (tests and benchmarks).", params=NoopParams),
)

BY_NAME: dict[str, JobType] = {entry.name: entry for entry in CATALOGUE}
if len(BY_NAME) != len(CATALOGUE):  # pragma: no cover - caught by the first import in any test
    raise ValueError("a job type is catalogued twice")

# Job type -> the systems it calls; triggered job type (a workflow, on by default) -> the same.
USES: dict[str, tuple[str, ...]] = {e.name: e.uses for e in CATALOGUE if e.uses}
WORKFLOW_USES: dict[str, tuple[str, ...]] = {e.name: e.uses for e in CATALOGUE if e.trigger is not None}

# Scheduled job type -> its default schedule (for ``db.workflow_settings.ensure_default_schedules``).
DEFAULT_SCHEDULES: dict[str, DefaultSchedule] = {e.name: e.schedule for e in CATALOGUE if e.schedule is not None}


def triggered() -> tuple[JobType, ...]:
    """The job types a vendor event starts (each has a trigger and a subject)."""
    return tuple(entry for entry in CATALOGUE if entry.trigger is not None)


def queued_on_connect(system: str) -> tuple[JobType, ...]:
    """The upkeep job types a new connection to ``system`` queues."""
    return tuple(e for e in CATALOGUE if e.upkeep is not None and system in e.upkeep.on_connect)


def queued_on_options(workflow: str) -> tuple[JobType, ...]:
    """The upkeep job types that saving ``workflow``'s settings queues."""
    return tuple(e for e in CATALOGUE if e.upkeep is not None and workflow in e.upkeep.on_options_of)


def schedules_following(workflow: str) -> list[str]:
    """The scheduled job types re-timed and switched by ``workflow``'s settings row."""
    return [name for name, schedule in DEFAULT_SCHEDULES.items() if schedule.options_from == workflow]
