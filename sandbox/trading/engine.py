"""The emulated trading API's computation: the same bars and the same backtest engine as the runner.

A real external service would run its own code; the emulator runs Zixly's engine
(``sync.sweep.backtest``) on the bars the price emulator serves, cleaned the way the price
client cleans them (``integrations.prices``), so that a sweep run through the service and one
run in the runner can be checked to agree to the last digit. Both imports are the sandbox's
declared exceptions (pyproject's import contract).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from integrations.prices import parse_csv
from sandbox.prices import DATA_DIR
from sync.sweep.backtest import run_sweep


class SweepInputError(ValueError):
    """The request names an unknown ticker or an empty grid."""


def grid(
    fast_range: list[int], slow_range: list[int], step: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The API's grid contract: inclusive ranges walked by ``step``, every pair with fast < slow."""
    fasts = np.arange(fast_range[0], fast_range[1] + 1, step, dtype=np.int64)
    slows = np.arange(slow_range[0], slow_range[1] + 1, step, dtype=np.int64)
    f, s = np.meshgrid(fasts, slows, indexing="ij")
    keep = f < s
    return f[keep], s[keep]


def compute(request: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per pair (``fast, slow`` and every metric; NaN as ``None``), in the engine's order."""
    ticker = str(request["ticker"])
    path = DATA_DIR / f"{ticker}.csv"
    if not path.exists():
        raise SweepInputError(f"unknown ticker {ticker!r}")
    header, *lines = path.read_text().splitlines()
    start, end = request.get("start"), request.get("end")
    rows = [ln for ln in lines if ln.strip() and (not start or ln[:10] >= start) and (not end or ln[:10] <= end)]
    history = parse_csv(header + "\n" + "\n".join(rows) + "\n", ticker)
    fast, slow = grid(list(request["fast_range"]), list(request["slow_range"]), int(request.get("step", 1)))
    if len(fast) == 0:
        raise SweepInputError("the grid has no pair with fast < slow")
    bars = history.bars
    table = run_sweep(
        bars["close"].to_numpy(), fast, slow, open_=bars["open"].to_numpy(),
        strategy=request.get("strategy_type", "SMA"), fee_bps=float(request.get("fee_bps", 10.0)),
        periods_per_year=history.periods_per_year,
    )  # fmt: skip
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
