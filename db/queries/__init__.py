"""Every read query of the dashboard, as plain rows (dicts and small dataclasses).

Pages read only through these (via ``app/data.py``); nothing here writes.
"""

from __future__ import annotations

from db.queries.activity import (
    active_user,
    api_tokens,
    audit_log,
    deliveries,
    delivery_job_ids,
    job_types,
    schedules,
    tenants,
    users,
    workflow_settings,
)
from db.queries.clients import SYSTEMS, connections, health_board
from db.queries.jobs import Cursor, JobDetail, JobPage, browse_jobs, count_jobs, job_detail
from db.queries.live import connection_states, job_state
from db.queries.lookup import lookup_jobs, lookup_record
from db.queries.overview import Kpis, duration_percentiles, jobs_over_time, kpis, volume_by_tenant

__all__ = [
    "SYSTEMS",
    "Cursor",
    "JobDetail",
    "JobPage",
    "Kpis",
    "active_user",
    "api_tokens",
    "audit_log",
    "browse_jobs",
    "connection_states",
    "connections",
    "count_jobs",
    "deliveries",
    "delivery_job_ids",
    "duration_percentiles",
    "health_board",
    "job_detail",
    "job_state",
    "job_types",
    "jobs_over_time",
    "kpis",
    "lookup_jobs",
    "lookup_record",
    "schedules",
    "tenants",
    "users",
    "volume_by_tenant",
    "workflow_settings",
]
