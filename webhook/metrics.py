"""Prometheus metrics of the webhook listener (``GET /metrics`` on the listener's port).

Only metric objects and tiny helpers. The listener runs under gunicorn in prometheus-client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``); counters and histograms sum across workers
without further ado. Expose with :func:`render_metrics`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from integrations.metrics import metrics_registry

# The outcome of one delivery, as counted by webhook_deliveries_total.
DELIVERY_OUTCOMES = ("accepted", "duplicate", "bad_signature", "unmatched", "rejected")

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests to the listener, by method, route template and status code",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS_QUEUED = Counter(
    "pipeline_jobs_queued_total",
    "Jobs enqueued by the listener, by job type",
    ["job_type"],
)
EVENTS_DEBOUNCED = Counter(
    "pipeline_events_debounced_total",
    "Vendor events that joined a queued job about the same record instead of making one, by job type",
    ["job_type"],
)

GROUP_COMMIT_SIZE = Histogram(
    "webhook_group_commit_deliveries",
    "Deliveries written together in one transaction by a listener worker's committer (webhook/group.py)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)

# Route label of answers the front gives before the app routes the request: 408 (head or body
# not received in time) and 413 (body over the limit), see webhook/asgi.py and webhook/worker.py.
EARLY_ROUTE = "early"

WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Vendor webhook deliveries by source and outcome (accepted, duplicate, bad_signature, unmatched, "
    "unmatched_dropped, rejected)",
    ["source", "outcome"],
)


def observe_early_answer(method: str, status: int, seconds: float) -> None:
    """Count an answer given before routing (``route="early"``), with how long the client took."""
    HTTP_REQUEST_DURATION.labels(method=method or "-", route=EARLY_ROUTE, status=str(status)).observe(seconds)


def render_metrics() -> tuple[bytes, str]:
    """The /metrics body and its content type, summed over gunicorn workers when needed."""
    return generate_latest(metrics_registry()), CONTENT_TYPE_LATEST
