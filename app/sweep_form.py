"""The dashboard's check of a trading-sweep request: the catalogue's check, errors per field.

The rules live once, in the job-type catalogue (``jobtypes.validate_params``), so the form
refuses exactly what the listener's ``POST /webhook/jobs`` refuses. Tickers and their history
lengths come from the bundled sample data, as on the listener path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.prices import sample_availability
from jobtypes import TRADING_SWEEP, InvalidParams, parse_params
from jobtypes.sweep import DEFAULT_FEE_BPS, SweepParams, sweep_context

__all__ = ["DEFAULT_FEE_BPS", "InvalidSweep", "available_tickers", "check_sweep"]


class InvalidSweep(ValueError):
    """The request breaks a rule; ``errors`` maps each offending field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))


def available_tickers() -> dict[str, int]:
    """Ticker -> daily bars the sandbox price provider serves (the listener checks against these)."""
    return sample_availability()


def check_sweep(raw: Mapping[str, Any], available: Mapping[str, int] | None = None) -> SweepParams:
    """Check a request as the API does; :class:`InvalidSweep` (``{field: reason}``, the first
    reason per field) when it breaks a rule."""
    context = sweep_context(available_tickers() if available is None else available)
    try:
        sweep = parse_params(TRADING_SWEEP, raw, context=context)
    except InvalidParams as exc:
        errors: dict[str, str] = {}
        for error in exc.errors:
            errors.setdefault(error.field.split(".")[0], str(error).removeprefix(error.field).lstrip(": "))
        raise InvalidSweep(errors) from None
    assert isinstance(sweep, SweepParams)
    return sweep
