"""The sandbox's Slack incoming-webhook emulator: Slack's answers, kept messages, injected faults."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from sandbox import control
from sandbox.app import create_sandbox_app
from settings import Settings

HOOK = "/slack/services/T0/B0/demo"


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    settings = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    return create_sandbox_app(settings).test_client()


def test_a_message_is_answered_ok_kept_and_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="zixly.sandbox.slack")
    answer = client.post(HOOK, json={"text": "Jobs failed (3)", "blocks": []})
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "ok")
    assert client.get("/slack/messages").get_json() == [
        {"path": "/services/T0/B0/demo", "message": {"text": "Jobs failed (3)", "blocks": []}}
    ]
    assert "slack message to T0: Jobs failed (3)" in caplog.text


def test_slack_refusals_and_injected_faults(client: FlaskClient) -> None:
    assert client.post(HOOK, data=b"not json").get_data(as_text=True) == "invalid_payload"
    assert client.post(HOOK, json={"username": "x"}).get_data(as_text=True) == "no_text"
    control.add_fault("slack", "503", count=1)
    assert client.post(HOOK, json={"text": "hi"}).status_code == 503
    assert client.post(HOOK, json={"text": "hi"}).status_code == 200
    assert len(client.get("/slack/messages").get_json()) == 1
