"""Per-tenant workflow options: one pydantic model per workflow, with the defaults.

The runner loads them for each job (``sync/workflow_settings.py``) and the dashboard checks an
edit with the same model before it is saved, so a bad option is refused where it is typed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobtypes.names import (
    ASANA_TASK_RECONCILE,
    ASANA_TASKS_POLL,
    HUBSPOT_DEAL_WON_TO_ASANA,
    SHOPIFY_ORDER_TO_XERO,
    XERO_CONTACTS_TO_HUBSPOT,
    XERO_INVOICE_PAID,
)


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


class InvalidOptions(ValueError):
    """The options do not validate; the message names each bad field."""


def validate_options(workflow: str, options: dict[str, Any] | None) -> Options:
    """The options as a model (defaults filled in); :class:`InvalidOptions` names each bad field."""
    model = MODELS.get(workflow)
    if model is None:
        raise InvalidOptions(f"unknown workflow {workflow!r}; known: {', '.join(sorted(MODELS))}")
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors())
        raise InvalidOptions(f"invalid options for {workflow}: {fields}") from None


def describe_defaults() -> dict[str, dict[str, Any]]:
    """Every workflow's options with their defaults (for the dashboard and the README)."""
    return {name: model().model_dump(mode="json") for name, model in MODELS.items()}
