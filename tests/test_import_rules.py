"""The rooms' import rules (README, "Architecture") hold: import-linter's contracts in
pyproject.toml, plus the two root modules import-linter cannot take as packages."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUR_TOP_LEVEL = {
    "settings", "logconfig", "db", "integrations", "jobtypes", "sync", "webhook", "app", "sandbox", "demo", "tests",
    "bench",
}  # fmt: skip


def test_every_room_imports_only_what_its_contract_allows() -> None:
    pytest.importorskip("importlinter", reason="import-linter is not installed (requirements-dev.txt pins it)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def _ours(module: Path) -> set[str]:
    """The top-level names of ours that ``module`` imports, anywhere in it (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OUR_TOP_LEVEL


def test_settings_imports_nothing_of_ours_and_logconfig_only_settings() -> None:
    assert _ours(ROOT / "settings.py") == set()
    assert _ours(ROOT / "logconfig.py") <= {"settings"}
