"""Prometheus metrics of the integration layer, and the registry every /metrics endpoint renders.

Metric objects live on prometheus-client's default registry. Under gunicorn the listener runs
in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set); :func:`metrics_registry` then returns
a fresh registry that sums the per-process files.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess

integration_api_latency_seconds = Histogram(
    "integration_api_latency_seconds",
    "Latency of vendor API calls, labelled by path template (never by record ids)",
    ["system", "endpoint"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

integration_rate_limited_total = Counter(
    "integration_rate_limited_total",
    "Vendor answers that were rate limits (HTTP 429 or a GraphQL throttle), by system",
    ["system"],
)

integration_quota_waits_total = Counter(
    "integration_quota_waits_total",
    "Vendor calls the quota governor held back (waited, or requeued the job), by system, connection id and limit",
    ["system", "connection", "limit"],
)

oauth_refresh_total = Counter(
    "oauth_refresh_total",
    "OAuth token refreshes by system and outcome (ok, lost_race, invalid_grant, error)",
    ["system", "outcome"],
)

# Upper-case aliases, matching the naming of webhook/metrics.py and sync/metrics.py.
INTEGRATION_API_LATENCY = integration_api_latency_seconds
OAUTH_REFRESH = oauth_refresh_total


def metrics_registry() -> CollectorRegistry:
    """The registry to render: multiprocess-aggregated under gunicorn, else the default."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY
