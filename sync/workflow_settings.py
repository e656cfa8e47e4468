"""Per-tenant workflow settings: one pydantic model per workflow, with the defaults.

A tenant without a settings row gets the model's defaults and the workflow enabled. Options
are validated when written (:func:`save`) and again when read (:func:`load`): a row that no
longer validates (edited by hand, or a renamed option) fails the job permanently with a
message naming the field, instead of running with half a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from db import workflow_settings as store
from sync.errors import PermanentJobError

XERO_INVOICE_PAID = "xero-invoice-paid"
SHOPIFY_ORDER_TO_XERO = "shopify-order-to-xero"
HUBSPOT_DEAL_WON_TO_ASANA = "hubspot-deal-won-to-asana"
XERO_CONTACTS_TO_HUBSPOT = "xero-contacts-to-hubspot"
ASANA_TASK_RECONCILE = "asana-task-reconcile"
ASANA_TASKS_POLL = "asana-tasks-poll"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class XeroInvoicePaidOptions(Options):
    last_payment_date_property: str = Field("last_payment_date", min_length=1, description="HubSpot contact property")
    amount_paid_property: str = Field("amount_paid", min_length=1, description="HubSpot contact property")
    invoice_number_property: str = Field("last_invoice_number", min_length=1, description="HubSpot contact property")
    create_missing_contacts: bool = Field(True, description="Create the HubSpot contact when no contact has the email")
    deal_reference_pattern: str = Field(
        r"DEAL-(\d+)", description="Regex on the invoice reference; group 1 is the linked HubSpot deal id"
    )
    closed_won_stage: str = Field("closedwon", min_length=1, description="The HubSpot deal stage id of closed won")


class ShopifyOrderToXeroOptions(Options):
    sales_account_code: str = Field("200", min_length=1, description="Xero account code of product lines")
    shipping_account_code: str = Field("200", min_length=1, description="Xero account code of shipping lines")
    tax_type: str | None = Field(None, description="Xero TaxType of every line (None: the account's default)")
    invoice_status: Literal["DRAFT", "SUBMITTED", "AUTHORISED"] = Field("AUTHORISED")
    due_in_days: int = Field(0, ge=0, le=365, description="Due date after the order date (paid orders: 0)")


class DealWonToAsanaOptions(Options):
    asana_project_gid: str | None = Field(None, description="The Asana project onboarding tasks go to (required)")
    assignee: str | None = Field(None, description="Asana user gid or email the task is assigned to")
    due_in_days: int = Field(7, ge=0, le=365, description="Task due date after the deal was won")
    closed_won_stage: str = Field("closedwon", min_length=1, description="The HubSpot deal stage id of closed won")
    task_name: str = Field("Onboard {company}: {deal}", description="Task name; {deal} and {company} are filled in")


class XeroContactsToHubSpotOptions(Options):
    interval_minutes: int = Field(15, ge=1, le=1440, description="How often the scheduled sync runs")
    page_size: int = Field(100, ge=1, le=1000, description="Xero contacts per page (the cursor moves per page)")
    batch_size: int = Field(100, ge=1, le=100, description="HubSpot contacts per batch upsert")


class AsanaReconcileOptions(Options):
    interval_minutes: int = Field(15, ge=1, le=1440, description="How often the fallback poller runs")
    lookback_minutes: int = Field(60, ge=1, le=10080, description="First poll: tasks changed this long ago")
    completed_property: str = Field(
        "onboarding_completed_date", min_length=1, description="HubSpot deal property set when the task is done"
    )


MODELS: dict[str, type[Options]] = {
    XERO_INVOICE_PAID: XeroInvoicePaidOptions,
    SHOPIFY_ORDER_TO_XERO: ShopifyOrderToXeroOptions,
    HUBSPOT_DEAL_WON_TO_ASANA: DealWonToAsanaOptions,
    XERO_CONTACTS_TO_HUBSPOT: XeroContactsToHubSpotOptions,
    ASANA_TASK_RECONCILE: AsanaReconcileOptions,
    ASANA_TASKS_POLL: AsanaReconcileOptions,
}

OptionsT = TypeVar("OptionsT", bound=Options)


@dataclass(frozen=True)
class WorkflowSettings(Generic[OptionsT]):
    workflow: str
    enabled: bool
    options: OptionsT


class InvalidOptions(ValueError):
    """The options do not validate; the message names each bad field."""


def validate_options(workflow: str, options: dict[str, Any] | None) -> Options:
    model = MODELS.get(workflow)
    if model is None:
        raise InvalidOptions(f"unknown workflow {workflow!r}; known: {', '.join(sorted(MODELS))}")
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors())
        raise InvalidOptions(f"invalid options for {workflow}: {fields}") from None


def load(session: Session, tenant_id: int, workflow: str, model: type[OptionsT]) -> WorkflowSettings[OptionsT]:
    """The tenant's settings of ``workflow`` (defaults when there is no row)."""
    row = store.load(session, tenant_id, workflow)
    try:
        options = validate_options(workflow, row.options)
    except InvalidOptions as exc:
        raise PermanentJobError(f"{exc} (fix them in the tenant's workflow settings)") from None
    assert isinstance(options, model)
    return WorkflowSettings(workflow, row.enabled, options)


def save(session: Session, tenant_id: int, workflow: str, *, enabled: bool = True, options: dict[str, Any]) -> Options:
    """Validate and store; only the options that differ from the defaults are kept."""
    validated = validate_options(workflow, options)
    kept = validated.model_dump(mode="json", exclude_defaults=True)
    store.save(session, tenant_id, workflow, enabled=enabled, options=kept)
    minutes = getattr(validated, "interval_minutes", None)
    if minutes is not None:
        for job_type, (_needs, row, _default) in store.DEFAULT_SCHEDULES.items():
            if row == workflow:
                store.set_schedule_interval(session, tenant_id, job_type, int(minutes))
    return validated


def describe_defaults() -> dict[str, dict[str, Any]]:
    """Every workflow's options with their defaults (for the dashboard and the README)."""
    return {name: model().model_dump(mode="json") for name, model in MODELS.items()}
