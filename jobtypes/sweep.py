"""The parameters of a trading sweep: one validator for the listener, the dashboard and the runner.

:func:`validate_sweep_params` is the entry point: it needs only the known tickers and their
history lengths (``available``), so a caller can validate without any HTTP. Every rejection is a
pydantic ``ValidationError`` whose error ``loc`` names the offending field and whose ``msg`` is
the reason, e.g. ``slow_range: no pair has fast < slow: ...``.

The grid is every ``(fast, slow)`` with ``fast`` from ``range(fast_range[0], fast_range[1] + 1,
step)``, ``slow`` likewise, and ``fast < slow``. Both ranges are inclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

MAX_PAIRS = 100_000
MAX_WINDOW = 1_000_000  # bounds the arrays a grid check allocates, far above any real history
DEFAULT_FEE_BPS = 10.0

Window = Annotated[int, Field(ge=1, le=MAX_WINDOW)]


def _reject(kind: str, message: str) -> PydanticCustomError:
    # A custom error keeps the reason verbatim (no "Value error, " prefix) for the 422 body.
    return PydanticCustomError(f"sweep_{kind}", message)


def grid_values(bounds: tuple[int, int], step: int) -> npt.NDArray[np.int64]:
    """The window lengths of one inclusive range walked by ``step``."""
    return np.arange(bounds[0], bounds[1] + 1, step, dtype=np.int64)


def grid_pairs(
    fast_range: tuple[int, int], slow_range: tuple[int, int], step: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every ``(fast, slow)`` with ``fast < slow``, ordered by fast then slow."""
    fasts, slows = grid_values(fast_range, step), grid_values(slow_range, step)
    f, s = np.meshgrid(fasts, slows, indexing="ij")
    keep = f < s
    return f[keep], s[keep]


def count_pairs(fast_range: tuple[int, int], slow_range: tuple[int, int], step: int) -> int:
    """How many pairs :func:`grid_pairs` yields, without building them."""
    fasts, slows = grid_values(fast_range, step), grid_values(slow_range, step)
    return int((len(slows) - np.searchsorted(slows, fasts, side="right")).sum())


class SweepParams(BaseModel):
    """One sweep request. Field order matters: later validators read the earlier fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticker: str = Field(description="A ticker the price provider serves, e.g. BTC-USD")
    strategy_type: Literal["SMA", "EMA"] = Field("SMA", description="Moving average: simple or exponential")
    step: int = Field(1, description="Stride through both window ranges (> 0)")
    fast_range: tuple[Window, Window] = Field(description="Inclusive [first, last] fast window, in bars")
    slow_range: tuple[Window, Window] = Field(description="Inclusive [first, last] slow window, in bars")
    fee_bps: float = Field(DEFAULT_FEE_BPS, ge=0, le=1000, description="Fee per trade side in basis points")
    start: dt.date | None = Field(None, description="First date of the backtest (inclusive); default: all history")
    end: dt.date | None = Field(None, description="Last date of the backtest (inclusive); default: all history")
    run_on: Literal["runner", "service"] = Field(
        "runner", description="Where the backtest runs: in the runner, or on the trading API, which calls back"
    )
    service_timeout_s: int = Field(
        600, ge=1, le=86_400, description="With run_on=service: seconds to wait for the service's callback"
    )

    @field_validator("ticker")
    @classmethod
    def _known_ticker(cls, value: str, info: ValidationInfo) -> str:
        ticker = value.strip().upper()
        available = _available(info)
        if available is not None and ticker not in available:
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
            return value  # already reported on those fields
        longest = int(grid_values(value, step)[-1])
        bars = _bars(info)
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

    # -- derived ---------------------------------------------------------------------------
    def pairs(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        return grid_pairs(self.fast_range, self.slow_range, self.step)

    @property
    def pair_count(self) -> int:
        return count_pairs(self.fast_range, self.slow_range, self.step)


def _available(info: ValidationInfo) -> Mapping[str, int] | None:
    context = info.context or {}
    available: Mapping[str, int] | None = context.get("available")
    return available


def _bars(info: ValidationInfo) -> int | None:
    available, ticker = _available(info), info.data.get("ticker")
    if available is None or ticker is None:
        return None
    return available.get(ticker)


def validate_sweep_params(raw: Mapping[str, object], available: Mapping[str, int]) -> SweepParams:
    """Validate a sweep request against the known tickers (ticker -> number of daily bars).

    Raises ``pydantic.ValidationError``; each error's ``loc`` names the field and ``msg`` says why.
    Tickers are matched case-insensitively (``btc-usd`` is ``BTC-USD``).
    """
    return SweepParams.model_validate(dict(raw), context=sweep_context(available))


def sweep_context(available: Mapping[str, int]) -> dict[str, Any]:
    """The validation context that checks tickers and windows against ``available`` (ticker -> bars);
    pass it to ``jobtypes.validate_params`` to check against other tickers than the bundled ones."""
    return {"available": {key.upper(): bars for key, bars in available.items()}}


class TradingSweepParams(SweepParams):
    """The catalogue's model: without an explicit ``available`` context it checks tickers and
    history lengths against the bundled sample data, which is what the sandbox serves, so
    ``POST /webhook/jobs`` and the dashboard answer an unknown ticker or a too-long window
    with no HTTP. The runner checks again against the live price provider."""

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> TradingSweepParams:
        if kwargs.get("context") is None:
            # Imported here: integrations.prices brings pandas, and every process that imports the
            # job catalogue (runner, listener workers, dashboard) would pay for it at start.
            from integrations.prices import sample_availability

            kwargs["context"] = {"available": sample_availability()}
        return super().model_validate(obj, **kwargs)
