"""The sandbox app: every vendor mounted, controls for reset, faults, limits and writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Blueprint
from flask.testing import FlaskClient

from sandbox import control
from sandbox.app import VENDOR_MODULES, create_sandbox_app
from settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    settings = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    return create_sandbox_app(settings).test_client()


def test_every_vendor_is_mounted_under_its_prefix(client: FlaskClient) -> None:
    app = client.application
    assert set(VENDOR_MODULES) <= set(app.blueprints)
    assert client.get("/_sandbox/health").get_json()["vendors"] == list(VENDOR_MODULES)


def test_writes_are_counted_per_key_and_cleared_by_reset(client: FlaskClient) -> None:
    control.record_write("xero", "key-1")
    control.record_write("xero", "key-1")
    assert client.get("/_sandbox/writes").get_json() == {"xero": {"key-1": 2}}
    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/writes").get_json() == {}


def test_injected_faults_hit_the_named_vendor_count_times() -> None:
    bp = Blueprint("faulty", __name__, url_prefix="/faulty")
    control.install_controls(bp, "faulty")
    bp.add_url_rule("/ping", "ping", lambda: "pong")
    from flask import Flask

    app = Flask("t")
    app.register_blueprint(bp)
    control.reset()
    control.add_fault("faulty", "503", 2)
    c = app.test_client()
    assert [c.get("/faulty/ping").status_code for _ in range(3)] == [503, 503, 200]


def test_the_fault_endpoint_rejects_unknown_modes(client: FlaskClient) -> None:
    response = client.post("/_sandbox/faults", json={"vendor": "xero", "mode": "explode"})
    assert response.status_code == 400


def test_a_budget_refuses_calls_past_its_limit_until_the_window_resets() -> None:
    budget = control.Budget("minute", limit=2, window_s=60)
    assert budget.take("t1", 0.0)[:2] == (True, 1)
    assert budget.take("t1", 1.0)[:2] == (True, 0)
    allowed, remaining, reset_in = budget.take("t1", 2.0)
    assert (allowed, remaining) == (False, 0) and reset_in == pytest.approx(58.0)
    assert budget.take("t2", 2.0)[0] is True  # budgets are per key (per tenant)
    assert budget.take("t1", 61.0)[0] is True
