"""The one check of a job's params and a workflow's options, for every caller.

The listener (``POST /webhook/jobs``), the dashboard (reruns, the sweep form, workflow
options) and the runner all call these functions, so a request is refused by the same rules
wherever it is made. Errors name each bad field with a one-line reason (never a pydantic dump).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from jobtypes.catalogue import BY_NAME, CATALOGUE
from jobtypes.options import Options
from jobtypes.reasons import reason
from jobtypes.spec import JobType


class UnknownJobType(ValueError):
    """No such job type in the catalogue."""


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path inside the params, e.g. "fast_range.0"; "params" for the whole
    message: str  # the reason in words, e.g. "is required", "must be at least 0"

    def __str__(self) -> str:
        # "invoice_id is required" reads as a sentence; a reason that is a sentence of its
        # own (the sweep's "unknown ticker 'X'; known tickers: …") follows a colon.
        joiner = " " if self.message.startswith(_CLAUSE_STARTS) else ": "
        return f"{self.field}{joiner}{self.message}"


_CLAUSE_STARTS = ("is ", "must ", "has ", "needs ")


class InvalidParams(Exception):
    """The params break the job type's rules; ``errors`` names each bad field.

    Deliberately not a ``ValueError``: callers that show errors field by field (the dashboard)
    must not have it swallowed by a generic ``except ValueError``.
    """

    def __init__(self, job_type: str, errors: tuple[FieldError, ...]) -> None:
        self.job_type = job_type
        self.errors = errors
        super().__init__(f"invalid params for {job_type}: " + "; ".join(str(e) for e in errors))


class InvalidOptions(ValueError):
    """The options do not validate; the message names each bad field."""


def known_job_types() -> list[str]:
    return sorted(BY_NAME)


def job_type(name: str) -> JobType:
    """The catalogue entry of ``name``; :class:`UnknownJobType` names the known ones."""
    entry = BY_NAME.get(name)
    if entry is None:
        raise UnknownJobType(f"unknown job_type {name!r}; known: {', '.join(known_job_types())}")
    return entry


def field_errors(exc: ValidationError, job_type: str | None = None) -> tuple[FieldError, ...]:
    """Each pydantic error as (dotted field, reason in words): never pydantic's dump or its URL."""
    found = tuple(FieldError(".".join(str(p) for p in e["loc"]) or "params", reason(e, job_type)) for e in exc.errors())
    return found or (FieldError("params", "is not valid"),)


def parse_params(name: str, raw: Mapping[str, Any] | None, *, context: dict[str, Any] | None = None) -> BaseModel:
    """The params as the job type's model; ``context`` reaches its validators (the sweep's tickers).

    Raises :class:`UnknownJobType` or :class:`InvalidParams`.
    """
    model = job_type(name).params
    if raw is not None and not isinstance(raw, Mapping):
        raise InvalidParams(name, (FieldError("params", "must be a JSON object"),))
    try:
        return model.model_validate(dict(raw or {}), context=context)
    except ValidationError as exc:
        raise InvalidParams(name, field_errors(exc, name)) from None


def validate_params(
    name: str, raw: Mapping[str, Any] | None, *, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The params as the job will get them (defaults filled in, normalised): :func:`parse_params` as JSON."""
    checked: dict[str, Any] = parse_params(name, raw, context=context).model_dump(mode="json")
    return checked


def validate_options(workflow: str, options: Mapping[str, Any] | None) -> Options:
    """The options as a model (defaults filled in); :class:`InvalidOptions` names each bad field."""
    entry = BY_NAME.get(workflow)
    if entry is not None and entry.options is None:
        follows = f" (it follows {entry.schedule.options_from}'s settings)" if entry.schedule else ""
        raise InvalidOptions(f"{workflow} has no options of its own{follows}")
    if entry is None or entry.options is None:
        with_options = sorted(e.name for e in CATALOGUE if e.options is not None)
        raise InvalidOptions(f"unknown workflow {workflow!r}; known: {', '.join(with_options)}")
    try:
        return entry.options.model_validate(dict(options or {}))
    except ValidationError as exc:
        named = (FieldError(e.field if e.field != "params" else "options", e.message) for e in field_errors(exc))
        fields = "; ".join(str(e) for e in named)
        raise InvalidOptions(f"invalid options for {workflow}: {fields}") from None


def describe_defaults() -> dict[str, dict[str, Any]]:
    """Every workflow's options with their defaults (for the dashboard and the README)."""
    return {e.name: e.options().model_dump(mode="json") for e in CATALOGUE if e.options is not None}
