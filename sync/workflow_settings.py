"""Per-tenant workflow settings as the runner reads and writes them (models in the ``jobtypes`` catalogue).

A tenant without a settings row gets the model's defaults and the workflow enabled. Options
are validated when written (:func:`save`) and again when read (:func:`load`): a row that no
longer validates (edited by hand, or a renamed option) fails the job permanently with a
message naming the field, instead of running with half a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from db import workflow_settings as store
from jobtypes.catalogue import schedules_following
from jobtypes.checks import InvalidOptions, describe_defaults, validate_options
from jobtypes.names import (
    ASANA_TASK_RECONCILE,
    ASANA_TASKS_POLL,
    HUBSPOT_DEAL_WON_TO_ASANA,
    SHOPIFY_ORDER_TO_XERO,
    XERO_CONTACTS_TO_HUBSPOT,
    XERO_INVOICE_PAID,
)
from jobtypes.options import (
    AsanaReconcileOptions,
    DealWonToAsanaOptions,
    Options,
    ShopifyOrderToXeroOptions,
    XeroContactsToHubSpotOptions,
    XeroInvoicePaidOptions,
)
from sync.errors import PermanentJobError

# Re-exported, so a workflow imports its names, options model and loader from one place.
__all__ = [
    "ASANA_TASKS_POLL", "ASANA_TASK_RECONCILE", "HUBSPOT_DEAL_WON_TO_ASANA", "SHOPIFY_ORDER_TO_XERO",
    "XERO_CONTACTS_TO_HUBSPOT", "XERO_INVOICE_PAID", "AsanaReconcileOptions", "DealWonToAsanaOptions",
    "InvalidOptions", "Options", "ShopifyOrderToXeroOptions", "WorkflowSettings", "XeroContactsToHubSpotOptions",
    "XeroInvoicePaidOptions", "describe_defaults", "load", "save", "validate_options",
]  # fmt: skip

OptionsT = TypeVar("OptionsT", bound=Options)


@dataclass(frozen=True)
class WorkflowSettings(Generic[OptionsT]):
    workflow: str
    enabled: bool
    options: OptionsT


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
    store.save_validated(
        session, tenant_id, workflow, enabled=enabled, options=validated, retimes=schedules_following(workflow)
    )
    return validated
