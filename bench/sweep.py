"""Benchmark: the trading sweep's engine against vectorbt on one grid and one history.

    python bench/sweep.py                      # 200 x 200 windows (fast 2-201, slow 5-204), BTC-USD
    python bench/sweep.py --ticker SPY --strategy EMA --repeat 3

Both sides get the same adjusted daily bars (as the job loads them), the same conventions
(signal at a close, order at the next open, fees on both sides, 365 or 252 bars a year from the
calendar) and one untimed warm-up on a tiny grid (vectorbt's numba compilation, imports). Each
side is timed end to end: moving averages, signals, simulation and every metric. The last line
is JSON: ``{"pairs", "zixly": {"seconds"}, "vectorbt": {"seconds"}, "max_rel_diff", ...}``.
``max_rel_diff`` is the largest ``|a - b| / max(|a|, |b|)`` over every pair and metric; a Sharpe
that is undefined (no variation) is NaN here and inf in vectorbt and counts as agreement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.prices import SAMPLE_DIR, parse_csv  # noqa: E402
from jobtypes.sweep import grid_pairs  # noqa: E402
from sync.sweep.backtest import METRICS, run_sweep  # noqa: E402

Metrics = dict[str, npt.NDArray[Any]]


Windows = npt.NDArray[np.int64]
VBT_CHUNK = 2500  # pairs per vectorbt call: its full-width arrays would need ~10 GB for 20k pairs


def vectorbt_sweep(
    bars: pd.DataFrame, fast: Windows, slow: Windows, strategy: str, fee_bps: float, ppy: int
) -> Metrics:
    """The same sweep with vectorbt's public API, in chunks of pairs to bound its memory."""
    parts = [
        _vectorbt_chunk(bars, fast[i : i + VBT_CHUNK], slow[i : i + VBT_CHUNK], strategy, fee_bps, ppy)
        for i in range(0, len(fast), VBT_CHUNK)
    ]
    return {name: np.concatenate([part[name] for part in parts]) for name in METRICS}


def _vectorbt_chunk(
    bars: pd.DataFrame, fast: Windows, slow: Windows, strategy: str, fee_bps: float, ppy: int
) -> Metrics:
    """One chunk through vectorbt's public API (MA.run + Portfolio.from_signals)."""
    import vectorbt as vbt

    ewm = strategy == "EMA"
    fast_ma = vbt.MA.run(bars["close"], window=list(fast), ewm=ewm, short_name="fast")
    slow_ma = vbt.MA.run(bars["close"], window=list(slow), ewm=ewm, short_name="slow")
    above = fast_ma.ma.to_numpy() > slow_ma.ma.to_numpy()
    held = np.zeros_like(above)
    held[1:] = above[:-1]  # signal at t's close -> order at t+1's open
    entries = pd.DataFrame(held, index=bars.index)
    pf = vbt.Portfolio.from_signals(
        bars["close"], entries, ~entries, price=bars["open"], fees=fee_bps / 10_000, freq="1D"
    )
    year = f"{ppy} days"
    return {
        "total_return": pf.total_return().to_numpy(),
        "cagr": pf.annualized_return(year_freq=year).to_numpy(),
        "sharpe": pf.sharpe_ratio(year_freq=year).to_numpy(),
        "max_drawdown": pf.max_drawdown().to_numpy(),
        "trades": pf.trades.count().to_numpy(),
        "win_rate": pf.trades.closed.win_rate().to_numpy(),
        "exposure": pf.position_mask().mean().to_numpy(),
    }


def zixly_sweep(
    bars: pd.DataFrame,
    fast: npt.NDArray[np.int64],
    slow: npt.NDArray[np.int64],
    strategy: str,
    fee_bps: float,
    ppy: int,
) -> Metrics:
    table = run_sweep(
        bars["close"].to_numpy(), fast, slow, open_=bars["open"].to_numpy(), strategy=strategy,  # type: ignore[arg-type]
        fee_bps=fee_bps, periods_per_year=ppy,
    )  # fmt: skip
    return {name: table[name].to_numpy() for name in METRICS}


def compare(ours: Metrics, theirs: Metrics) -> tuple[float, dict[str, float], int]:
    """Largest relative difference overall and per metric; pairs whose undefined values disagree."""
    per_metric: dict[str, float] = {}
    mismatched = np.zeros(len(ours["sharpe"]), dtype=bool)
    for name in METRICS:
        a, b = ours[name].astype(np.float64), theirs[name].astype(np.float64)
        a_bad, b_bad = ~np.isfinite(a), ~np.isfinite(b)
        mismatched |= a_bad != b_bad
        both = ~a_bad & ~b_bad
        scale = np.maximum(np.abs(a[both]), np.abs(b[both]))
        diff = np.abs(a[both] - b[both])
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        per_metric[name] = float(rel.max()) if rel.size else 0.0
    return max(per_metric.values()), per_metric, int(mismatched.sum())


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def timed(fn: Any, *args: Any, repeat: int) -> tuple[float, Metrics]:
    best, result = float("inf"), {}
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticker", default="BTC-USD")
    parser.add_argument("--strategy", choices=["SMA", "EMA"], default="SMA")
    parser.add_argument("--fast", type=int, nargs=2, default=[2, 201], metavar=("FIRST", "LAST"))
    parser.add_argument("--slow", type=int, nargs=2, default=[5, 204], metavar=("FIRST", "LAST"))
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--fee-bps", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the fastest counts")
    parser.add_argument(
        "--engines", default="zixly,vectorbt", help="zixly alone: no comparison (vectorbt is in requirements-bench.txt)"
    )
    args = parser.parse_args(argv)
    with_vbt = "vectorbt" in args.engines.split(",")

    history = parse_csv((SAMPLE_DIR / f"{args.ticker}.csv").read_text(), args.ticker)
    bars, ppy = history.bars, history.periods_per_year
    fast, slow = grid_pairs(tuple(args.fast), tuple(args.slow), args.step)  # type: ignore[arg-type]
    common = (args.strategy, args.fee_bps, ppy)

    warm_f, warm_s = np.array([2, 3, 5]), np.array([10, 20, 30])
    zixly_sweep(bars, warm_f, warm_s, *common)
    if with_vbt:
        vectorbt_sweep(bars, warm_f, warm_s, *common)

    z_s, ours = timed(zixly_sweep, bars, fast, slow, *common, repeat=args.repeat)
    v_s: float | None = None
    max_rel: float | None = None
    per_metric: dict[str, float] = {}
    undefined_mismatch: int | None = None
    if with_vbt:
        v_s, theirs = timed(vectorbt_sweep, bars, fast, slow, *common, repeat=args.repeat)
        max_rel, per_metric, undefined_mismatch = compare(ours, theirs)

    print(f"trading sweep: {args.ticker} {args.strategy}, {len(bars)} daily bars ({bars.index[0].date()} .. "
          f"{bars.index[-1].date()}), {len(fast):,} pairs, fees {args.fee_bps} bps, {ppy} bars/year")  # fmt: skip
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'engine':<10} {'seconds':>9} {'pairs/s':>12}")
    for name, seconds in (("zixly", z_s), ("vectorbt", v_s)):
        if seconds is not None:
            print(f"{name:<10} {seconds:>9.3f} {len(fast) / seconds:>12,.0f}")
    if v_s is not None:
        print(f"speed-up: {v_s / z_s:.2f}x   max relative difference per metric:")
    for name, rel in per_metric.items():
        print(f"  {name:<13} {rel:.3e}")
    print(json.dumps({
        "pairs": len(fast), "bars": len(bars), "ticker": args.ticker, "strategy": args.strategy,
        "zixly": {"seconds": round(z_s, 4)}, "vectorbt": {"seconds": None if v_s is None else round(v_s, 4)},
        "max_rel_diff": max_rel, "undefined_mismatches": undefined_mismatch,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
