"""The job-type catalogue: each job type declared once (:mod:`jobtypes.catalogue`).

It is the contract between those who enqueue jobs (the listener's vendor routes and
``POST /webhook/jobs``, the dashboard's forms and reruns) and the runner that executes them
(``sync/workflows``), so it lives in a room all three may import. It imports nothing of ours
but the bundled price data (``integrations.prices``, for the trading sweep's ticker check) and
the normalised vendor event (``integrations.events``, which triggers match).

Use the names (``jobtypes.NOOP``) instead of writing a job type's string, :func:`job_type` for
its entry, and :func:`validate_params` / :func:`validate_options` to check what a job or a
tenant's settings carry.
"""

from __future__ import annotations

from jobtypes.catalogue import (
    BY_NAME,
    CATALOGUE,
    DEFAULT_SCHEDULES,
    USES,
    WORKFLOW_USES,
    queued_on_connect,
    queued_on_options,
    schedules_following,
    triggered,
)
from jobtypes.checks import (
    FieldError,
    InvalidOptions,
    InvalidParams,
    UnknownJobType,
    describe_defaults,
    field_errors,
    job_type,
    known_job_types,
    parse_params,
    validate_options,
    validate_params,
)
from jobtypes.names import (
    ASANA_TASK_RECONCILE,
    ASANA_TASKS_POLL,
    ASANA_WEBHOOK_ENSURE,
    HUBSPOT_DEAL_WON_TO_ASANA,
    NOOP,
    SHOPIFY_ORDER_TO_XERO,
    TRADING_SWEEP,
    XERO_CONTACTS_TO_HUBSPOT,
    XERO_INVOICE_PAID,
)
from jobtypes.spec import DefaultSchedule, JobType, Subject, Trigger, Upkeep

__all__ = [
    "ASANA_TASKS_POLL",
    "ASANA_TASK_RECONCILE",
    "ASANA_WEBHOOK_ENSURE",
    "BY_NAME",
    "CATALOGUE",
    "DEFAULT_SCHEDULES",
    "HUBSPOT_DEAL_WON_TO_ASANA",
    "NOOP",
    "SHOPIFY_ORDER_TO_XERO",
    "TRADING_SWEEP",
    "USES",
    "WORKFLOW_USES",
    "XERO_CONTACTS_TO_HUBSPOT",
    "XERO_INVOICE_PAID",
    "DefaultSchedule",
    "FieldError",
    "InvalidOptions",
    "InvalidParams",
    "JobType",
    "Subject",
    "Trigger",
    "UnknownJobType",
    "Upkeep",
    "describe_defaults",
    "field_errors",
    "job_type",
    "known_job_types",
    "parse_params",
    "queued_on_connect",
    "queued_on_options",
    "schedules_following",
    "triggered",
    "validate_options",
    "validate_params",
]  # fmt: skip
