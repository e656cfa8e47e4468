"""The Prometheus configuration loads, and every alert has a unit test that fires and one that stays quiet."""

from __future__ import annotations

from pathlib import Path

import yaml
from deploytools import ROOT, promtool, run

PROM = ROOT / "prometheus"
EXPECTED_ALERTS = {
    "HighErrorRate",
    "QueueBacklog",
    "WorkerDown",
    "SlowExecution",
    "OAuthConnectionBroken",
    "WebhookSignatureFailures",
    "SyncStale",
}


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(path.read_text())


def test_the_scrape_config_and_its_rule_files_are_valid():
    result = run([promtool(), "check", "config", str(PROM / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_are_valid():
    result = run([promtool(), "check", "rules", str(PROM / "alerts.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_unit_tests_pass():
    result = run([promtool(), "test", "rules", "alerts_test.yml"], cwd=PROM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_scrapes_the_listener_and_the_runner_on_their_ports():
    config = _load(PROM / "prometheus.yml")
    ports = {job["job_name"]: {sd["port"] for sd in job.get("dns_sd_configs", [])} for job in config["scrape_configs"]}
    assert ports["webhook"] == {3000}
    assert ports["runner"] == {9102}
    assert config["rule_files"] == ["alerts.yml"]


def test_every_alert_is_tested_firing_and_not_firing():
    alerts = {
        rule["alert"] for group in _load(PROM / "alerts.yml")["groups"] for rule in group["rules"] if "alert" in rule
    }
    assert alerts == EXPECTED_ALERTS
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _load(PROM / "alerts_test.yml")["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == alerts, f"alerts never tested firing: {alerts - firing}"
    assert quiet == alerts, f"alerts never tested quiet: {alerts - quiet}"


def test_every_alert_says_how_bad_and_what_happened():
    for group in _load(PROM / "alerts.yml")["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
