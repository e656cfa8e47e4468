"""The crossover engine against a plain per-bar loop, against vectorbt, and on edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sync.sweep.backtest import equity_curve, periods_per_year_for, run_sweep

DATA = Path(__file__).resolve().parents[2] / "data" / "prices"
METRICS = ["total_return", "cagr", "sharpe", "max_drawdown", "trades", "win_rate", "exposure"]


def load(ticker: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{ticker}.csv", parse_dates=["Date"], index_col="Date")


# -- an independent, obvious per-bar implementation ----------------------------------------------


def loop_average(close: list[float], window: int, kind: str) -> list[float]:
    out = [float("nan")] * len(close)
    ema = close[0]
    alpha = 2.0 / (window + 1.0)
    for t in range(len(close)):
        if kind == "SMA":
            if t >= window - 1:
                out[t] = sum(close[t - window + 1 : t + 1]) / window
        else:
            ema = close[0] if t == 0 else alpha * close[t] + (1 - alpha) * ema
            if t >= window - 1:
                out[t] = ema
    return out


def loop_backtest(
    close: list[float], open_: list[float] | None, fast: int, slow: int, kind: str, fee_bps: float, ppy: float
) -> dict[str, float]:
    fee = fee_bps / 10_000
    f_ma, s_ma = loop_average(close, fast, kind), loop_average(close, slow, kind)
    cash, shares, cost = 1.0, 0.0, 0.0
    values: list[float] = []
    trades = closed = wins = in_market = 0
    for t in range(len(close)):
        want = t > 0 and f_ma[t - 1] > s_ma[t - 1]  # yesterday's close signal, NaN compares False
        price = open_[t] if open_ is not None else close[t]
        if want and shares == 0:
            shares, cost, cash = cash / (price * (1 + fee)), cash, 0.0
            trades += 1
        elif not want and shares > 0:
            cash, shares = shares * price * (1 - fee), 0.0
            closed += 1
            wins += cash > cost
        in_market += shares > 0
        values.append(cash + shares * close[t])
    prev = [1.0, *values[:-1]]
    rets = np.array([v / p - 1 for v, p in zip(values, prev, strict=True)])
    peak, worst = 0.0, 0.0
    for v in values:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1)
    std = rets.std(ddof=1)
    return {
        "total_return": values[-1] - 1,
        "cagr": values[-1] ** (ppy / len(values)) - 1,
        "sharpe": rets.mean() / std * np.sqrt(ppy) if std > 0 else float("nan"),
        "max_drawdown": worst,
        "trades": trades,
        "win_rate": wins / closed if closed else float("nan"),
        "exposure": in_market / len(values),
    }


def assert_metrics_close(row: pd.Series, expected: dict[str, float], rel: float = 1e-9) -> None:
    for name in METRICS:
        got, want = float(row[name]), float(expected[name])
        if np.isnan(want):
            assert np.isnan(got), name
        else:
            assert got == pytest.approx(want, rel=rel, abs=1e-12), name


@pytest.mark.parametrize(
    ("ticker", "kind", "use_open", "fee_bps"),
    [
        ("BTC-USD", "SMA", True, 10.0),
        ("ETH-USD", "EMA", True, 25.0),
        ("SPY", "SMA", False, 0.0),
        ("SPY", "EMA", True, 5.0),
    ],
)
def test_it_matches_a_plain_per_bar_loop(ticker: str, kind: str, use_open: bool, fee_bps: float) -> None:
    bars = load(ticker).iloc[-1500:]
    close, open_ = bars["Close"].tolist(), bars["Open"].tolist() if use_open else None
    ppy = periods_per_year_for(bars.index)
    fast, slow = [3, 10, 20, 50], [12, 30, 21, 200]
    table = run_sweep(close, fast, slow, open_=open_, strategy=kind, fee_bps=fee_bps, periods_per_year=ppy)
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        assert_metrics_close(table.iloc[i], loop_backtest(close, open_, f, s, kind, fee_bps, ppy))


@pytest.mark.parametrize("kind", ["SMA", "EMA"])
def test_it_matches_vectorbt_on_real_history(kind: str) -> None:
    vbt = pytest.importorskip("vectorbt")
    bars = load("BTC-USD")
    fast, slow = [2, 5, 10, 20, 50], [10, 40, 30, 100, 200]
    ours = run_sweep(bars["Close"], fast, slow, open_=bars["Open"], strategy=kind, fee_bps=10, periods_per_year=365)

    ewm = kind == "EMA"
    fast_ma = vbt.MA.run(bars["Close"], window=fast, ewm=ewm, short_name="fast")
    slow_ma = vbt.MA.run(bars["Close"], window=slow, ewm=ewm, short_name="slow")
    above = fast_ma.ma.to_numpy() > slow_ma.ma.to_numpy()
    held = np.zeros_like(above)
    held[1:] = above[:-1]  # signal at t's close, order at t+1's open
    entries = pd.DataFrame(held, index=bars.index)
    pf = vbt.Portfolio.from_signals(bars["Close"], entries, ~entries, price=bars["Open"], fees=0.001, freq="1D")
    theirs = {
        "total_return": pf.total_return().to_numpy(),
        "cagr": pf.annualized_return(year_freq="365 days").to_numpy(),
        "sharpe": pf.sharpe_ratio(year_freq="365 days").to_numpy(),
        "max_drawdown": pf.max_drawdown().to_numpy(),
        "trades": pf.trades.count().to_numpy(),
        "win_rate": pf.trades.closed.win_rate().to_numpy(),
        "exposure": pf.position_mask().mean().to_numpy(),
    }
    for name, values in theirs.items():
        np.testing.assert_allclose(ours[name].to_numpy(dtype=float), values.astype(float), rtol=1e-9, err_msg=name)


def test_the_signal_at_a_close_trades_at_the_next_open() -> None:
    close = np.array([10.0, 10, 10, 20, 22, 18, 5, 5, 5])
    open_ = np.array([10.0, 10, 10, 12, 21, 19, 6, 4, 5])
    # fast=1 is the close itself: above the 2-bar SMA at bars 3, 4 (rising) -> long over bars 4, 5.
    curve = equity_curve(close, 1, 2, open_=open_, fee_bps=0)
    np.testing.assert_allclose(curve[:4], 1.0)
    assert curve[4] == pytest.approx(22 / 21)  # bought at bar 4's open, marked at its close
    assert curve[5] == pytest.approx(22 / 21 * 18 / 22)
    assert curve[6] == pytest.approx(6 / 21)  # sold at bar 6's open
    np.testing.assert_allclose(curve[6:], curve[6])


def test_without_opens_it_trades_at_the_next_close() -> None:
    close = np.array([10.0, 10, 10, 20, 22, 18, 5, 5, 5])
    curve = equity_curve(close, 1, 2, fee_bps=0)
    assert curve[4] == pytest.approx(1.0)  # bought at bar 4's close
    assert curve[5] == pytest.approx(18 / 22)
    assert curve[6] == pytest.approx(5 / 22)  # sold at bar 6's close


def test_a_falling_market_makes_no_trade() -> None:
    close = np.linspace(200.0, 100.0, 300)
    row = run_sweep(close, [5], [20], open_=close, fee_bps=10).iloc[0]
    assert row["trades"] == 0
    assert row["total_return"] == 0 and row["max_drawdown"] == 0 and row["exposure"] == 0
    assert np.isnan(row["sharpe"]) and np.isnan(row["win_rate"])


def test_a_rising_market_is_in_the_market_from_the_first_possible_bar() -> None:
    close = np.linspace(100.0, 400.0, 300)
    open_ = close * 0.999
    row = run_sweep(close, [5], [20], open_=open_, fee_bps=10).iloc[0]
    # Both averages exist from bar 19; the position starts at bar 20's open and never ends.
    assert row["trades"] == 1 and np.isnan(row["win_rate"])
    assert row["exposure"] == pytest.approx(280 / 300)
    assert row["total_return"] == pytest.approx(close[-1] / (open_[20] * 1.001) - 1, rel=1e-12)
    assert row["max_drawdown"] == 0


@pytest.mark.parametrize("kind", ["SMA", "EMA"])
def test_flat_prices_never_trade(kind: str) -> None:
    close = np.full(500, 100.1)
    table = run_sweep(close, [2, 3, 10], [5, 50, 11], open_=close, strategy=kind)
    assert (table["trades"] == 0).all()
    assert (table["total_return"] == 0).all()
    assert table["sharpe"].isna().all()


def test_chunking_does_not_change_the_results() -> None:
    bars = load("ETH-USD")
    fast, slow = np.repeat(np.arange(2, 12), 5), np.tile(np.arange(20, 25), 10)
    whole = run_sweep(bars["Close"], fast, slow, open_=bars["Open"])
    seen: list[tuple[int, int]] = []
    chunked = run_sweep(
        bars["Close"],
        fast,
        slow,
        open_=bars["Open"],
        max_cells=7 * len(bars),
        on_chunk=lambda d, t: seen.append((d, t)),
    )
    pd.testing.assert_frame_equal(whole, chunked)
    assert seen == [(7, 50), (14, 50), (21, 50), (28, 50), (35, 50), (42, 50), (49, 50), (50, 50)]


def test_the_calendar_sets_the_annualisation() -> None:
    assert periods_per_year_for(load("BTC-USD").index) == 365
    assert periods_per_year_for(load("SPY").index) == 252


def test_it_refuses_null_prices() -> None:
    with pytest.raises(ValueError, match="null rows"):
        run_sweep([1.0, float("nan"), 2.0], [1], [2])
