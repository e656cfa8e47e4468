"""The catalogue: one entry per job type, the runner's handlers registered against it, one check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jobtypes
from jobtypes import NOOP, TRADING_SWEEP, XERO_CONTACTS_TO_HUBSPOT, InvalidOptions, InvalidParams, validate_options
from sync import workflows

ROOT = Path(__file__).resolve().parents[2]
NAMES = [jobtypes.job_type(name).name for name in jobtypes.known_job_types()]


def test_every_catalogued_job_type_has_a_handler_and_every_handler_is_catalogued() -> None:
    assert workflows.load() == jobtypes.known_job_types()
    for name in jobtypes.known_job_types():
        assert workflows.get(name).entry is jobtypes.job_type(name)


def test_every_triggered_job_type_names_its_subject_and_every_schedule_its_settings_row() -> None:
    for entry in jobtypes.triggered():
        assert entry.subject is not None and entry.subject.id_field in entry.params.model_fields, entry.name
    for name, schedule in jobtypes.DEFAULT_SCHEDULES.items():
        settings = jobtypes.job_type(schedule.options_from).options
        assert settings is not None, name
        # The default interval is the one the settings row's model defaults to: one number, two readers.
        assert settings.model_fields["interval_minutes"].default == schedule.interval_minutes, name


def test_a_job_type_lists_every_system_its_trigger_and_schedule_need_in_uses() -> None:
    """ "Used by" on the Connections page reads ``uses``: a triggered or scheduled entry can't omit it."""
    trigger = jobtypes.Trigger("xero", "invoice.*")
    subject = jobtypes.Subject("xero:invoice", "invoice_id")
    params = jobtypes.job_type(jobtypes.XERO_INVOICE_PAID).params
    with pytest.raises(ValueError, match=r"must list \['xero'\] in uses"):
        jobtypes.JobType("x", "d", params=params, subject=subject, trigger=trigger)
    assert jobtypes.JobType("x", "d", params=params, subject=subject, trigger=trigger, uses=("xero",)).uses == ("xero",)
    schedule = jobtypes.DefaultSchedule(("asana", "hubspot"), jobtypes.ASANA_TASK_RECONCILE, 15)
    with pytest.raises(ValueError, match="hubspot"):
        jobtypes.JobType("y", "d", params=params, schedule=schedule, uses=("asana",))


def test_params_are_validated_naming_the_field_without_a_pydantic_dump() -> None:
    assert jobtypes.validate_params(NOOP, {"sleep_ms": 5})["sleep_ms"] == 5
    with pytest.raises(InvalidParams) as err:
        jobtypes.validate_params(NOOP, {"sleep_ms": -1, "sleep": 5})
    assert [str(e) for e in err.value.errors] == [
        "sleep_ms must be at least 0, not the number -1",
        "sleep is not a parameter of noop",
    ]
    assert "errors.pydantic.dev" not in str(err.value) and str(err.value).startswith("invalid params for noop: ")
    with pytest.raises(jobtypes.UnknownJobType, match="unknown job_type 'nope'"):
        jobtypes.validate_params("nope", {})


def test_a_sweep_is_checked_against_the_tickers_in_the_context() -> None:
    raw = {"ticker": "ZZZ", "fast_range": [1, 2], "slow_range": [3, 4]}
    with pytest.raises(InvalidParams, match="unknown ticker"):
        jobtypes.validate_params(TRADING_SWEEP, raw)  # the bundled sample data by default
    assert jobtypes.validate_params(TRADING_SWEEP, raw, context={"available": {"ZZZ": 10}})["ticker"] == "ZZZ"


def test_options_are_validated_naming_the_field() -> None:
    assert validate_options(XERO_CONTACTS_TO_HUBSPOT, {"page_size": 5}).model_dump()["page_size"] == 5
    with pytest.raises(InvalidOptions, match="due_in_days"):
        validate_options(jobtypes.HUBSPOT_DEAL_WON_TO_ASANA, {"due_in_days": -1})
    with pytest.raises(InvalidOptions, match=r"noop has no options of its own$"):
        validate_options(NOOP, {})
    with pytest.raises(InvalidOptions, match="it follows asana-task-reconcile's settings"):
        validate_options(jobtypes.ASANA_TASKS_POLL, {})
    with pytest.raises(InvalidOptions, match="unknown workflow 'nope'"):
        validate_options("nope", {})


def test_no_job_type_name_is_written_outside_the_catalogue_in_product_code() -> None:
    rooms = ("app", "db", "jobtypes", "sync", "webhook")
    allowed = {
        ROOT / "jobtypes" / "names.py",
        ROOT / "db" / "demo.py",  # moving to its own room, which may import jobtypes
        ROOT / "webhook" / "openapi.py",  # an example value in the spec; to become jobtypes.TRADING_SWEEP
    }
    for room in rooms:
        for path in (ROOT / room).rglob("*.py"):
            if path in allowed or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    assert node.value not in NAMES, f"{path.relative_to(ROOT)}:{node.lineno} writes {node.value!r}"


def test_the_listener_and_the_dashboard_do_not_import_the_runner_and_the_catalogue_imports_no_room() -> None:
    forbidden = {"webhook": ("sync",), "app": ("sync",), "jobtypes": ("sync", "db", "webhook", "app")}
    for room, rooms in forbidden.items():
        for path in (ROOT / room).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert name.split(".")[0] not in rooms, f"{path.relative_to(ROOT)} imports {name}"


def test_db_imports_no_job_type_knowledge() -> None:
    for path in (ROOT / "db").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not any(m.split(".")[0] == "jobtypes" for m in modules), path
