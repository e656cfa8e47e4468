"""/metrics sums gunicorn workers in multiprocess mode, and every metric the issues name is exported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploytools import ROOT

WORKER = """
import sys
from webhook.metrics import WEBHOOK_DELIVERIES
import sync.metrics  # its gauges must be valid in multiprocess mode too
for _ in range(int(sys.argv[1])):
    WEBHOOK_DELIVERIES.labels(source="xero", outcome="accepted").inc()
"""
SCRAPE = """
from webhook.metrics import render_metrics
body, content_type = render_metrics()
print(content_type)
print(body.decode())
"""


def _python(code: str, *args: str, multiproc_dir: Path) -> str:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_listener_metrics_add_up_across_worker_processes(tmp_path: Path):
    _python(WORKER, "2", multiproc_dir=tmp_path)
    _python(WORKER, "3", multiproc_dir=tmp_path)
    body = _python(SCRAPE, multiproc_dir=tmp_path)
    assert body.startswith("text/plain")
    assert 'webhook_deliveries_total{outcome="accepted",source="xero"} 5.0' in body


def test_every_metric_the_issues_name_is_defined():
    import integrations.metrics
    import sync.metrics
    import webhook.metrics

    names = {
        getattr(value, "_name", None)
        for module in (sync.metrics, webhook.metrics, integrations.metrics)
        for value in vars(module).values()
    }
    expected = {
        "pipeline_job_duration_seconds",
        "pipeline_jobs_processed",
        "pipeline_jobs",
        "pipeline_queue_oldest_age_seconds",
        "runner_slots_busy",
        "runner_slots_total",
        "trading_api_latency_seconds",
        "integration_api_latency_seconds",
        "oauth_refresh",
        "http_request_duration_seconds",
        "pipeline_jobs_queued",
        "webhook_deliveries",
    }
    assert expected <= names
