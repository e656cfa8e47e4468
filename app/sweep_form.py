"""The dashboard's check of a trading-sweep request: the catalogue's validator, errors per field.

The rules live once, in ``jobtypes.sweep``, so the form refuses exactly what the listener's
``POST /webhook/jobs`` refuses. Tickers and their history lengths come from the bundled sample
data, as on the listener path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from integrations.prices import sample_availability
from jobtypes.sweep import DEFAULT_FEE_BPS, SweepParams, field_errors, validate_sweep_params

__all__ = ["DEFAULT_FEE_BPS", "InvalidSweep", "available_tickers", "check_sweep", "validate_sweep_form"]


class InvalidSweep(ValueError):
    """The request breaks a rule; ``errors`` maps each offending field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))


def available_tickers() -> dict[str, int]:
    """Ticker -> daily bars the sandbox price provider serves (the listener checks against these)."""
    return sample_availability()


def validate_sweep_form(raw: Mapping[str, Any], available: Mapping[str, int] | None = None) -> SweepParams:
    """Check a request as the API does; raises pydantic ``ValidationError`` naming field and reason."""
    return validate_sweep_params(raw, available_tickers() if available is None else available)


def check_sweep(raw: Mapping[str, Any], available: Mapping[str, int] | None = None) -> SweepParams:
    """:func:`validate_sweep_form`, raising :class:`InvalidSweep` (``{field: reason}``) instead."""
    try:
        return validate_sweep_form(raw, available)
    except ValidationError as exc:
        raise InvalidSweep(field_errors(exc)) from exc
