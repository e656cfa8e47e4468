"""The catalogue and the runner's registry describe the same job types with the same models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import jobtypes
from jobtypes.options import MODELS, InvalidOptions, validate_options
from sync import workflows


def test_every_catalogued_job_type_has_a_handler_with_the_catalogues_params_model() -> None:
    assert set(workflows.known_job_types()) == set(jobtypes.known_job_types())
    for job_type in jobtypes.known_job_types():
        assert workflows.get(job_type).params is jobtypes.PARAMS[job_type], job_type


def test_every_workflow_with_options_is_a_known_job_type() -> None:
    assert set(MODELS) <= set(jobtypes.known_job_types())


def test_params_are_validated_naming_the_field() -> None:
    assert jobtypes.validate_params("noop", {"sleep_ms": 5})["sleep_ms"] == 5
    with pytest.raises(ValidationError) as err:
        jobtypes.validate_params("noop", {"sleep_ms": -1})
    assert err.value.errors()[0]["loc"] == ("sleep_ms",)
    with pytest.raises(jobtypes.UnknownJobType, match="unknown job_type 'nope'"):
        jobtypes.validate_params("nope", {})


def test_options_are_validated_naming_the_field() -> None:
    assert validate_options("xero-contacts-to-hubspot", {"page_size": 5}).model_dump()["page_size"] == 5
    with pytest.raises(InvalidOptions, match="due_in_days"):
        validate_options("hubspot-deal-won-to-asana", {"due_in_days": -1})


def test_the_listener_and_the_dashboard_do_not_import_the_runner() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for room in ("webhook", "app", "jobtypes"):
        for path in (root / room).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                assert not any(n == "sync" or n.startswith("sync.") for n in names), path
