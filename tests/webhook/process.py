"""Starting ``python -m webhook`` as a real gunicorn process for the process-level tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import stop, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def listener_process(env: dict[str, str], log_path: Path, *, timeout_s: float = 20.0) -> Iterator[str]:
    """Run the listener with ``env`` (ZIXLY_* settings) on a free port; yields its base URL."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env |= {"ZIXLY_ENV": "test", "ZIXLY_WEBHOOK_BIND": f"127.0.0.1:{port}"} | env
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webhook"], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(proc, base + "/health", log_path, timeout_s=timeout_s, ready=lambda s: s in (200, 503))
            yield base
        finally:
            stop(proc)
