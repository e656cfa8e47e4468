"""Prometheus metrics of the runner (served on ``ZIXLY_RUNNER_METRICS_PORT``, default 9102).

Only metric objects and tiny helpers; the runner sets and observes them. Status label values
are the job statuses in lower case (``queued``, ``running``, ``completed``, ``failed``,
``cancelled``): use :func:`status_label`.

Gauge multiprocess modes matter only if the runner ever runs with ``PROMETHEUS_MULTIPROC_DIR``
set: database-derived gauges are the same in every process (``mostrecent``), slots add up
(``livesum``), the oldest queued job is the maximum (``max``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Jobs run from sub-second webhook reactions up to the default 3600 s timeout.
JOB_DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

JOB_DURATION = Histogram(
    "pipeline_job_duration_seconds",
    "Wall time of one job attempt, by job type and final status of the attempt",
    ["job_type", "status"],
    buckets=JOB_DURATION_BUCKETS,
)
JOBS_PROCESSED = Counter(
    "pipeline_jobs_processed_total",
    "Job attempts finished by this runner, by job type and status "
    "(completed, failed, retried, polled, waiting, cancelled)",
    ["job_type", "status"],
)
JOBS = Gauge(
    "pipeline_jobs",
    "Unfinished jobs in the database by status (refreshed by the runner's metric tick)",
    ["status"],
    multiprocess_mode="mostrecent",
)
QUEUE_OLDEST_AGE = Gauge(
    "pipeline_queue_oldest_age_seconds",
    "Age of the oldest claimable queued job (0 when the queue is empty)",
    multiprocess_mode="max",
)
RUNNER_SLOTS_BUSY = Gauge(
    "runner_slots_busy",
    "Worker slots of this runner currently executing a job",
    multiprocess_mode="livesum",
)
RUNNER_SLOTS_TOTAL = Gauge(
    "runner_slots_total",
    "Worker slots of this runner (ZIXLY_RUNNER_CONCURRENCY)",
    multiprocess_mode="livesum",
)
# Ticker is a label: tickers are validated against the provider's list (a handful), so it is bounded.
TRADING_SWEEPS = Counter(
    "trading_sweep_jobs_total",
    "Trading sweeps that ended, by ticker, where they ran (runner|service) and status (completed|failed)",
    ["ticker", "run_on", "status"],
)
TRADING_SWEEP_DURATION = Histogram(
    "trading_sweep_duration_seconds",
    "Execution time of a completed trading sweep (in the runner, or the service's time plus the runner's)",
    ["run_on"],
    buckets=(0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
TRADING_SWEEP_ERRORS = Counter(
    "trading_sweep_errors_total",
    "Failed trading sweep attempts by reason (rejected|price_data|service|timeout|cancelled|other)",
    ["reason"],
)
TRADING_API_LATENCY = Histogram(
    "trading_api_latency_seconds",
    "Latency of the price and trading API calls a trading sweep makes, by endpoint template",
    ["endpoint"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)

SYNC_STALE = Gauge(
    "zixly_sync_stale_seconds",
    "Seconds a scheduled sync has been stale (not completed within two intervals, or its cursor stuck "
    "while the vendor reports changes); 0 when fresh. Set by the alert check (sync/alerts)",
    ["tenant", "job_type"],
    multiprocess_mode="mostrecent",
)

# Per connection (a bounded set: the agency's clients × four vendors), from the quota ledger.
QUOTA_USED = Gauge(
    "zixly_quota_used",
    "Vendor calls (Shopify: cost points; concurrent: calls in flight) a connection has spent of a limit "
    "in the window in force, by system, connection id and limit (set by the runner's quota tick)",
    ["system", "connection", "limit"],
    multiprocess_mode="mostrecent",
)
QUOTA_LIMIT = Gauge(
    "zixly_quota_limit",
    "The limit in force (the vendor's, or the tenant's own), by system, connection id and limit",
    ["system", "connection", "limit"],
    multiprocess_mode="mostrecent",
)
QUOTA_EXHAUSTED_SECONDS = Gauge(
    "zixly_quota_exhausted_seconds",
    "Seconds until a spent limit opens again (0 while it has room), by system, connection id and limit",
    ["system", "connection", "limit"],
    multiprocess_mode="mostrecent",
)


def status_label(db_status: str) -> str:
    """The metric label for a job status (``FAILED`` -> ``failed``)."""
    return db_status.lower()
