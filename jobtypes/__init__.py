"""The job-type catalogue: each job type's name, params model and per-tenant options model.

It is the contract between those who enqueue jobs (the listener's ``POST /webhook/jobs``, the
dashboard's forms and reruns) and the runner that executes them (``sync/workflows``), so it
lives in a room all three may import. It imports nothing of ours but the bundled price data
(``integrations.prices``), which the trading sweep's ticker check needs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from jobtypes import names, params
from jobtypes.sweep import TradingSweepParams

PARAMS: dict[str, type[BaseModel]] = {
    names.XERO_INVOICE_PAID: params.InvoicePaidParams,
    names.SHOPIFY_ORDER_TO_XERO: params.ShopifyOrderParams,
    names.HUBSPOT_DEAL_WON_TO_ASANA: params.DealWonParams,
    names.XERO_CONTACTS_TO_HUBSPOT: params.ContactsSyncParams,
    names.ASANA_TASK_RECONCILE: params.AsanaTaskParams,
    names.ASANA_TASKS_POLL: params.AsanaPollParams,
    names.TRADING_SWEEP: TradingSweepParams,
    names.NOOP: params.NoopParams,
}


class UnknownJobType(ValueError):
    """No such job type."""


def known_job_types() -> list[str]:
    return sorted(PARAMS)


def validate_params(job_type: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The params as the job will get them (defaults filled in, normalised).

    Raises :class:`UnknownJobType` or pydantic's ``ValidationError``, whose ``errors()`` name
    each bad field.
    """
    model = PARAMS.get(job_type)
    if model is None:
        raise UnknownJobType(f"unknown job_type {job_type!r}; known: {', '.join(known_job_types())}")
    checked: dict[str, Any] = model.model_validate(raw or {}).model_dump(mode="json")
    return checked
