"""The provisioned Grafana dashboards are well-formed, their PromQL parses, and they chart only metrics we export."""

from __future__ import annotations

import importlib
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import promql_parser
import pytest
import yaml
from deploytools import ROOT, promtool, run
from prometheus_client import Counter, Histogram, Summary
from prometheus_client.metrics import MetricWrapperBase

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
METRIC_MODULES = ("sync.metrics", "webhook.metrics", "integrations.metrics")
# Series Prometheus itself makes for every target.
BUILTIN_SERIES = {"up"}
GRAFANA_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

# A project-owned schema: Grafana publishes no JSON Schema for dashboard JSON.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "panels": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/panel"}},
    },
    "$defs": {
        "datasource": {
            "type": "object",
            "required": ["type", "uid"],
            "properties": {"type": {"const": "prometheus"}, "uid": {"const": "prometheus"}},
        },
        "panel": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "targets"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["stat", "timeseries", "gauge", "table", "bargauge", "row"]},
                "title": {"type": "string", "minLength": 1},
                "datasource": {"$ref": "#/$defs/datasource"},
                "gridPos": {
                    "type": "object",
                    "required": ["x", "y", "w", "h"],
                    "properties": {
                        "x": {"type": "integer", "minimum": 0, "maximum": 23},
                        "w": {"type": "integer", "minimum": 1, "maximum": 24},
                    },
                },
                "targets": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["refId", "expr", "datasource"],
                        "properties": {
                            "expr": {"type": "string", "minLength": 1},
                            "datasource": {"$ref": "#/$defs/datasource"},
                        },
                    },
                },
            },
        },
    },
}


def _exported_series() -> set[str]:
    """Every series name our prometheus_client collectors can expose."""
    names: set[str] = set()
    for module_name in METRIC_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if not isinstance(value, MetricWrapperBase):
                continue
            base = value._name
            names.add(base)
            if isinstance(value, Counter):
                names |= {f"{base}_total", f"{base}_created"}
            if isinstance(value, Histogram | Summary):
                names |= {f"{base}_sum", f"{base}_count", f"{base}_created"}
            if isinstance(value, Histogram):
                names.add(f"{base}_bucket")
    return names


def _dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", []) if "expr" in t]


def _substitute(expr: str) -> str:
    """Grafana variables -> something PromQL accepts (intervals become durations, others a regex)."""
    return re.sub(r"\$\{?(\w+)(?::\w+)?\}?", lambda m: GRAFANA_VARS.get(m.group(1), ".*"), expr)


def _metric_names(node: object) -> Iterator[str]:
    """Walk a promql_parser AST and yield every selected metric name."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    if isinstance(node, promql_parser.MatrixSelector):
        yield from _metric_names(node.vector_selector)
        return
    if isinstance(node, promql_parser.Call):
        for arg in node.args:
            yield from _metric_names(arg)
        return
    for attr in ("lhs", "rhs", "expr", "param"):
        child = getattr(node, attr, None)
        if child is not None:
            yield from _metric_names(child)


def test_there_are_the_three_dashboards_the_provisioning_loads():
    assert [p.name for p in DASHBOARDS] == ["integrations.json", "pipeline-overview.json", "trading-pipeline.json"]
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/zixly.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_dashboard_matches_the_schema_with_unique_ids(path: Path):
    dashboard = _dashboard(path)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(dashboard)]
    assert errors == []
    ids = [p["id"] for p in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_query_parses_in_promtool(path: Path):
    rules = [{"record": f"dashboard:check:{i}", "expr": _substitute(e)} for i, e in enumerate(_exprs(_dashboard(path)))]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, f)
        f.flush()
        result = run([promtool(), "check", "rules", f.name])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_charts_only_metrics_the_code_exports(path: Path):
    exported = _exported_series() | BUILTIN_SERIES
    unknown = {
        (name, expr)
        for expr in _exprs(_dashboard(path))
        for name in _metric_names(promql_parser.parse(_substitute(expr)))
        if name not in exported
    }
    assert unknown == set()


def test_the_alerts_also_use_only_exported_metrics():
    exported = _exported_series() | BUILTIN_SERIES
    groups = yaml.safe_load((ROOT / "prometheus/alerts.yml").read_text())["groups"]
    used = {name for g in groups for r in g["rules"] for name in _metric_names(promql_parser.parse(r["expr"]))}
    assert used - exported == set()


def test_the_metric_walker_finds_names_inside_functions_and_binary_operators():
    expr = 'histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m]))) / on() count(b == 1) or absent(c{x="y"})'
    assert set(_metric_names(promql_parser.parse(expr))) == {"a_bucket", "b", "c"}
