"""``python -m sandbox`` as a real process: it serves, sends signed webhooks, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sandbox_live import Receiver, serving

from integrations.xero import webhooks

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_sandbox_process_serves_and_sends_signed_webhooks(tmp_path: Path) -> None:
    receiver = Receiver()
    with serving(receiver.app()) as receiver_url:
        port = _free_port()
        env = {
            **os.environ,
            "ZIXLY_ENV": "development",
            "ZIXLY_VAR_DIR": str(tmp_path),
            "ZIXLY_PUBLIC_URL": receiver_url,
            "ZIXLY_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(port)], cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 20
            health = None
            while time.monotonic() < deadline:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", trust_env=False)
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert health is not None and health.json()["ok"] is True
            paid = httpx.post(f"http://127.0.0.1:{port}/_sandbox/xero/invoices/INV-0042/pay", trust_env=False)
            assert paid.json()["delivered"] is True
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(10)
    assert code == 0
    xero = [r for r in receiver.received if r.url.endswith("/webhook/xero")]
    assert len(xero) == 1
    key = webhooks.DEV_WEBHOOK_KEY  # development without ZIXLY_XERO_WEBHOOK_KEY
    assert all(webhooks.verify_request(key, r.body, r.headers) for r in xero)
    assert webhooks.parse_events(xero[0].body)[0].event_type == "invoice.update"
