"""Per-tenant workflow options: one pydantic model per workflow, with the defaults.

The catalogue (:mod:`jobtypes.catalogue`) names each job type's model; the runner loads them
for each job (``sync/workflow_settings.py``) and the dashboard checks an edit with the same
model (:func:`jobtypes.validate_options`) before it is saved, so a bad option is refused where
it is typed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEBOUNCE_DEFAULT_S = 3.0


class EventOptions(Options):
    """What every workflow a vendor event starts may set (see ``db/jobs/debounce.py``)."""

    debounce_s: float = Field(
        DEBOUNCE_DEFAULT_S,
        ge=0,
        le=3600,
        description="Events about one record within this many seconds make one job, which sees the latest "
        "(0: every event its own job)",
    )


class XeroInvoicePaidOptions(EventOptions):
    last_payment_date_property: str = Field("last_payment_date", min_length=1, description="HubSpot contact property")
    amount_paid_property: str = Field("amount_paid", min_length=1, description="HubSpot contact property")
    invoice_number_property: str = Field("last_invoice_number", min_length=1, description="HubSpot contact property")
    create_missing_contacts: bool = Field(True, description="Create the HubSpot contact when no contact has the email")
    deal_reference_pattern: str = Field(
        r"DEAL-(\d+)", description="Regex on the invoice reference; group 1 is the linked HubSpot deal id"
    )
    closed_won_stage: str = Field("closedwon", min_length=1, description="The HubSpot deal stage id of closed won")


class ShopifyOrderToXeroOptions(EventOptions):
    """How an order's lines land in Xero. Tax: see ``sync/workflows/order_tax.py``."""

    sales_account_code: str = Field("200", min_length=1, description="Xero account code of product lines")
    shipping_account_code: str = Field("200", min_length=1, description="Xero account code of shipping lines")
    tax_types: dict[str, str] = Field(
        default_factory=dict,
        description="Shopify tax line -> Xero TaxType. Key: the tax line's title ('GST'), title and rate "
        "('GST 15%'), or the titles of a line taxed several times joined by ' + ' ('GST + PST'). "
        "Unmapped: the Xero tax rate of the same effective rate (GET /TaxRates)",
    )
    untaxed_tax_type: str | None = Field(
        None,
        description="Xero TaxType of lines without tax in a taxed order (None: the organisation's 0% sales "
        "rate, the first of EXEMPTOUTPUT, ZERORATEDOUTPUT, ZERORATED, NONE)",
    )
    invoice_status: Literal["DRAFT", "SUBMITTED", "AUTHORISED"] = Field("AUTHORISED")
    due_in_days: int = Field(0, ge=0, le=365, description="Due date after the order date (paid orders: 0)")
    approval_above: float | None = Field(
        None,
        ge=0,
        description="Orders whose total is above this amount (in the order's currency) wait for an EDITOR's "
        "approval before anything is written to Xero (None: never)",
    )


class DealWonToAsanaOptions(EventOptions):
    asana_project_gid: str | None = Field(None, description="The Asana project onboarding tasks go to (required)")
    assignee: str | None = Field(None, description="Asana user gid or email the task is assigned to")
    due_in_days: int = Field(7, ge=0, le=365, description="Task due date after the deal was won")
    closed_won_stage: str = Field("closedwon", min_length=1, description="The HubSpot deal stage id of closed won")
    task_name: str = Field("Onboard {company}: {deal}", description="Task name; {deal} and {company} are filled in")


class XeroContactsToHubSpotOptions(Options):
    interval_minutes: int = Field(15, ge=1, le=1440, description="How often the scheduled sync runs")
    page_size: int = Field(100, ge=1, le=1000, description="Xero contacts per page (the cursor moves per page)")
    batch_size: int = Field(100, ge=1, le=100, description="HubSpot contacts per batch upsert")


class AsanaReconcileOptions(EventOptions):
    interval_minutes: int = Field(15, ge=1, le=1440, description="How often the fallback poller runs")
    lookback_minutes: int = Field(60, ge=1, le=10080, description="First poll: tasks changed this long ago")
    completed_property: str = Field(
        "onboarding_completed_date", min_length=1, description="HubSpot deal property set when the task is done"
    )
