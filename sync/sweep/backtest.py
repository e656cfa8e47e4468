"""A vectorized moving-average crossover backtest over a grid of (fast, slow) windows.

Conventions (the same ones the tests check against a per-bar loop and against vectorbt):

- **Signal.** At bar *t*'s close the strategy wants to be long when ``MA(fast)_t > MA(slow)_t``
  and flat otherwise (including while either average is still undefined). Long-only, all-in.
- **Execution.** That wish is traded at bar *t+1*: at its **open** when opens are given, else at
  its **close**. So the position held over bar *t+1* comes from the signal at *t*; bar 0 is flat.
- **Fees.** ``fee_bps`` basis points of the traded value on every entry and every exit. An entry
  spends all equity: ``shares = equity / (price * (1 + fee))``; an exit returns
  ``shares * price * (1 - fee)``.
- **Equity** is marked to market at every close; the per-bar return is the change of that
  equity, so bar returns are ``close/open/(1+fee)`` on an entry bar, ``close/prev_close`` while
  held, ``open*(1-fee)/prev_close`` on an exit bar and 0 when flat (with close execution, open
  is replaced by close).
- **Metrics** per pair, over every bar of the window (bar 0 and the warm-up included):
  ``total_return`` (final equity - 1); ``cagr`` = ``(1 + total_return) ** (periods_per_year /
  bars) - 1``; ``sharpe`` = ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` with a zero risk-free
  rate, ``NaN`` when the returns do not vary (e.g. no trade); ``max_drawdown``: the most negative
  ``equity / running peak - 1`` (0 when it never falls, -0.25 for a 25 % fall); ``trades``: entries,
  including one still open at the end; ``win_rate``: closed trades whose exit proceeds beat
  their entry cost, over closed trades (``NaN`` when none closed); ``exposure``: fraction of bars
  ending in the market.
- ``periods_per_year`` is the caller's: 365 for a 7-day calendar (crypto), 252 for exchange days
  (see :func:`periods_per_year_for`).

Everything is numpy array work; the grid is cut into chunks of at most ``max_cells`` (pairs x
bars) so a 200 x 200 grid on 10 years of daily bars stays within a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Strategy = Literal["SMA", "EMA"]

METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "trades", "win_rate", "exposure")
DEFAULT_MAX_CELLS = 4_000_000  # ~32 MB per float matrix of a chunk

ChunkCallback = Callable[[int, int], None]


def periods_per_year_for(dates: pd.DatetimeIndex | Sequence[object]) -> int:
    """365 when the calendar trades on weekends (crypto), else 252 (exchange days)."""
    index = pd.DatetimeIndex(dates)
    return 365 if bool((index.day_of_week >= 5).any()) else 252


def moving_averages(close: FloatArray, windows: IntArray, strategy: Strategy) -> FloatArray:
    """One row per window: the SMA or EMA of ``close``, ``NaN`` until ``window`` bars are seen.

    The EMA is pandas' ``ewm(span=window, adjust=False, min_periods=window)``: it starts at the
    first close and uses ``alpha = 2 / (window + 1)``.
    """
    series = pd.Series(close, dtype="float64")
    out = np.empty((len(windows), len(close)), dtype=np.float64)
    for row, window in enumerate(windows):  # one vectorized pass per window, not per bar
        if strategy == "SMA":
            out[row] = series.rolling(int(window), min_periods=int(window)).mean().to_numpy()
        else:
            out[row] = series.ewm(span=int(window), adjust=False, min_periods=int(window)).mean().to_numpy()
    return out


class _BarFactors:
    """Per-bar equity multipliers for each (previous, current) position, shared by every pair."""

    def __init__(self, close: FloatArray, exec_price: FloatArray, fee: float) -> None:
        prev_close = np.empty_like(close)
        prev_close[0] = close[0]
        prev_close[1:] = close[:-1]
        self.hold = close / prev_close
        self.entry = close / (exec_price * (1.0 + fee))
        self.exit = exec_price * (1.0 - fee) / prev_close
        self.entry_cost = exec_price * (1.0 + fee)
        self.exit_proceeds = exec_price * (1.0 - fee)


def _positions(signal: BoolArray) -> tuple[BoolArray, BoolArray]:
    """(held over bar t, held over bar t-1) from the close signal, shifted one bar."""
    held = np.zeros_like(signal)
    held[:, 1:] = signal[:, :-1]
    before = np.zeros_like(held)
    before[:, 1:] = held[:, :-1]
    return held, before


def _win_rates(
    entries: BoolArray, exits: BoolArray, open_at_end: BoolArray, bars: _BarFactors
) -> tuple[FloatArray, IntArray]:
    """Win rate over closed trades per row, and the closed-trade count."""
    rows = entries.shape[0]
    entry_rows, entry_cols = np.nonzero(entries)
    exit_rows, exit_cols = np.nonzero(exits)
    # Rows are in order, trades alternate entry/exit: dropping each row's still-open last entry
    # lines the k-th remaining entry up with the k-th exit.
    per_row = np.bincount(entry_rows, minlength=rows)
    last_entry = np.cumsum(per_row) - 1
    keep = np.ones(len(entry_cols), dtype=bool)
    keep[last_entry[open_at_end & (per_row > 0)]] = False
    closed_entry_cols = entry_cols[keep]
    wins = bars.exit_proceeds[exit_cols] > bars.entry_cost[closed_entry_cols]
    closed = np.bincount(exit_rows, minlength=rows)
    won = np.bincount(exit_rows[wins], minlength=rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(closed > 0, won / np.maximum(closed, 1), np.nan)
    return rate, closed


def _evaluate(signal: BoolArray, bars: _BarFactors, periods_per_year: float) -> dict[str, npt.NDArray[np.generic]]:
    """Metrics for each row of a (pairs, bars) close-signal matrix."""
    n = signal.shape[1]
    held, before = _positions(signal)
    entries = held & ~before
    exits = before & ~held
    factor = np.where(held, np.where(before, bars.hold, bars.entry), np.where(before, bars.exit, 1.0))
    equity = np.cumprod(factor, axis=1)
    final = equity[:, -1].copy()  # equity is reused in place below
    factor -= 1.0  # now the per-bar returns, in place
    mean = factor.mean(axis=1)
    std = factor.std(axis=1, ddof=1) if n > 1 else np.full(len(final), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.where(std > 0, mean / std * np.sqrt(periods_per_year), np.nan)
    peak = np.maximum.accumulate(equity, axis=1)
    np.divide(equity, peak, out=equity)
    max_drawdown = equity.min(axis=1) - 1.0
    win_rate, _ = _win_rates(entries, exits, held[:, -1], bars)
    return {
        "total_return": final - 1.0,
        "cagr": final ** (periods_per_year / n) - 1.0,
        "sharpe": sharpe,
        "max_drawdown": max_drawdown,
        "trades": entries.sum(axis=1),
        "win_rate": win_rate,
        "exposure": held.mean(axis=1),
    }


def run_sweep(
    close: npt.ArrayLike,
    fast: npt.ArrayLike,
    slow: npt.ArrayLike,
    *,
    open_: npt.ArrayLike | None = None,
    strategy: Strategy = "SMA",
    fee_bps: float = 10.0,
    periods_per_year: float = 365.0,
    max_cells: int = DEFAULT_MAX_CELLS,
    on_chunk: ChunkCallback | None = None,
) -> pd.DataFrame:
    """Backtest every pair ``(fast[i], slow[i])``; one row per pair, columns ``fast, slow, *METRICS``.

    ``on_chunk(done, total)`` is called after each chunk of pairs (progress, cancellation).
    """
    close_a = np.ascontiguousarray(close, dtype=np.float64)
    exec_price = close_a if open_ is None else np.ascontiguousarray(open_, dtype=np.float64)
    fast_a, slow_a = np.asarray(fast, dtype=np.int64), np.asarray(slow, dtype=np.int64)
    if close_a.ndim != 1 or exec_price.shape != close_a.shape:
        raise ValueError("close (and open) must be 1-D arrays of the same length")
    if len(close_a) < 2:
        raise ValueError("a backtest needs at least two bars")
    if not (np.isfinite(close_a).all() and np.isfinite(exec_price).all()) or (close_a <= 0).any():
        raise ValueError("prices must be finite and positive: drop null rows before the backtest")
    if fast_a.shape != slow_a.shape:
        raise ValueError("fast and slow must pair up")
    n, total = len(close_a), len(fast_a)

    windows, inverse = np.unique(np.concatenate([fast_a, slow_a]), return_inverse=True)
    averages = moving_averages(close_a, windows, strategy)
    fast_rows, slow_rows = inverse[:total], inverse[total:]
    bars = _BarFactors(close_a, exec_price, fee_bps / 10_000.0)

    chunk = max(1, max_cells // n)
    columns: dict[str, list[npt.NDArray[np.generic]]] = {name: [] for name in METRICS}
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)
        signal = averages[fast_rows[start:stop]] > averages[slow_rows[start:stop]]
        for name, values in _evaluate(signal, bars, periods_per_year).items():
            columns[name].append(values)
        if on_chunk is not None:
            on_chunk(stop, total)

    table = pd.DataFrame({"fast": fast_a, "slow": slow_a})
    for name in METRICS:
        table[name] = np.concatenate(columns[name]) if columns[name] else np.array([], dtype=np.float64)
    table["trades"] = table["trades"].astype(np.int64)
    return table


def equity_curve(
    close: npt.ArrayLike,
    fast: int,
    slow: int,
    *,
    open_: npt.ArrayLike | None = None,
    strategy: Strategy = "SMA",
    fee_bps: float = 10.0,
) -> FloatArray:
    """The equity (start 1.0) of one pair at every close, with the same conventions as the sweep."""
    close_a = np.ascontiguousarray(close, dtype=np.float64)
    exec_price = close_a if open_ is None else np.ascontiguousarray(open_, dtype=np.float64)
    averages = moving_averages(close_a, np.array([fast, slow], dtype=np.int64), strategy)
    held, before = _positions((averages[0] > averages[1])[None, :])
    bars = _BarFactors(close_a, exec_price, fee_bps / 10_000.0)
    factor = np.where(held, np.where(before, bars.hold, bars.entry), np.where(before, bars.exit, 1.0))
    curve: FloatArray = np.cumprod(factor[0])
    return curve
