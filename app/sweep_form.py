"""The dashboard's check of a trading-sweep request: the API's rules, without importing ``sync``.

``app`` may import ``db`` and ``integrations`` only (DESIGN.md), and the one true validator,
``sync.sweep.params.validate_sweep_params``, lives in ``sync``. So this module mirrors it: the
same fields, defaults, bounds and error messages, and :func:`validate_sweep_form` answers what
the listener's ``POST /webhook/jobs`` would. ``tests/app/test_sweeps_page.py`` pins the two
together on a table of good and bad requests (same verdict, same field, same reason, same
normalised params); change both or neither. Tickers and their history lengths come from the
bundled sample data, exactly as on the listener path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from integrations.prices import sample_availability

MAX_PAIRS = 100_000
MAX_WINDOW = 1_000_000
DEFAULT_FEE_BPS = 10.0

Window = Annotated[int, Field(ge=1, le=MAX_WINDOW)]


class InvalidSweep(ValueError):
    """The request breaks a rule; ``errors`` maps each offending field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))


def _reject(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(f"sweep_{kind}", message)


def _values(bounds: tuple[int, int], step: int) -> npt.NDArray[np.int64]:
    return np.arange(bounds[0], bounds[1] + 1, step, dtype=np.int64)


def count_pairs(fast_range: tuple[int, int], slow_range: tuple[int, int], step: int) -> int:
    """How many ``(fast, slow)`` with ``fast < slow`` the inclusive ranges and step give."""
    fasts, slows = _values(fast_range, step), _values(slow_range, step)
    return int((len(slows) - np.searchsorted(slows, fasts, side="right")).sum())


class SweepForm(BaseModel):
    """One sweep request, field for field the API's ``SweepParams``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticker: str
    strategy_type: Literal["SMA", "EMA"] = "SMA"
    step: int = 1
    fast_range: tuple[Window, Window]
    slow_range: tuple[Window, Window]
    fee_bps: float = Field(DEFAULT_FEE_BPS, ge=0, le=1000)
    start: dt.date | None = None
    end: dt.date | None = None

    @field_validator("ticker")
    @classmethod
    def _known_ticker(cls, value: str, info: ValidationInfo) -> str:
        ticker = value.strip().upper()
        available = _available(info)
        if ticker not in available:
            known = ", ".join(sorted(available)) or "none"
            raise _reject("ticker", f"unknown ticker {value!r}; known tickers: {known}")
        return ticker

    @field_validator("step")
    @classmethod
    def _positive_step(cls, value: int) -> int:
        if value <= 0:
            raise _reject("step", f"step must be a positive number of bars, got {value}")
        return value

    @field_validator("fast_range", "slow_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        if value[0] > value[1]:
            raise _reject("range", f"{info.field_name} is empty: its first window {value[0]} > its last {value[1]}")
        return value

    @field_validator("slow_range")
    @classmethod
    def _grid_fits(cls, value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        fast, step = info.data.get("fast_range"), info.data.get("step")
        if fast is None or step is None:
            return value
        longest = int(_values(value, step)[-1])
        ticker = info.data.get("ticker")
        bars = _available(info).get(ticker) if ticker is not None else None
        if bars is not None and longest >= bars:
            raise _reject(
                "window",
                f"the longest slow window ({longest} bars) does not fit the history of "
                f"{info.data.get('ticker', 'the ticker')} ({bars} bars): it must be shorter than the history",
            )
        pairs = count_pairs(fast, value, step)
        if pairs == 0:
            raise _reject(
                "pairs",
                f"no pair has fast < slow: every fast window in {list(fast)} is >= every slow window "
                f"in {list(value)} (step {step})",
            )
        if pairs > MAX_PAIRS:
            raise _reject("pairs", f"the grid has {pairs:,} pairs; at most {MAX_PAIRS:,} are allowed")
        return value

    @field_validator("end")
    @classmethod
    def _dates_ordered(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if value is not None and start is not None and start > value:
            raise _reject("dates", f"end {value} is before start {start}")
        return value

    @property
    def pair_count(self) -> int:
        return count_pairs(self.fast_range, self.slow_range, self.step)


def _available(info: ValidationInfo) -> Mapping[str, int]:
    available: Mapping[str, int] = (info.context or {}).get("available", {})
    return available


def available_tickers() -> dict[str, int]:
    """Ticker -> daily bars the sandbox price provider serves (the listener checks against these)."""
    return sample_availability()


def field_errors(exc: ValidationError) -> dict[str, str]:
    """``{field: reason}`` of a pydantic error, first reason per field (``params`` for the whole)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "params"
        errors.setdefault(name, error["msg"])
    return errors


def validate_sweep_form(raw: Mapping[str, Any], available: Mapping[str, int] | None = None) -> SweepForm:
    """Check a request as the API does; raises pydantic ``ValidationError`` naming field and reason."""
    known = available_tickers() if available is None else available
    normalised = {key.upper(): bars for key, bars in known.items()}
    return SweepForm.model_validate(dict(raw), context={"available": normalised})


def check_sweep(raw: Mapping[str, Any], available: Mapping[str, int] | None = None) -> SweepForm:
    """:func:`validate_sweep_form`, raising :class:`InvalidSweep` (``{field: reason}``) instead."""
    try:
        return validate_sweep_form(raw, available)
    except ValidationError as exc:
        raise InvalidSweep(field_errors(exc)) from exc
