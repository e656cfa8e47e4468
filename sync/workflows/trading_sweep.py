"""Job type ``trading-sweep``: a moving-average crossover backtest over a grid of windows.

``run(ctx, params)`` validates the params against the tickers the price provider holds,
fetches the daily bars over HTTP (:mod:`integrations.prices`), backtests every ``(fast,
slow)`` pair with the vectorized engine (:mod:`sync.sweep.backtest`, conventions in its
docstring: signal at a close, trade at the next bar's open) and stores two blobs:

- ``<tenant>/<job>/sweep.csv``: one row per pair (fast, slow and every metric);
- ``<tenant>/<job>/equity.csv``: the best pair's equity against buy-and-hold, per date.

The job result (JSON) holds the data report (bars, null rows and gaps, annualisation), the
pair count, the best pair by Sharpe, the top 20 pairs and the blob keys. NaN metrics (e.g. the
Sharpe of a pair that never trades) are ``null``.

The job context (``sync.context.JobContext``) is duck-typed: ``ctx.step(message, kind=...)``,
``ctx.tenant_id``, ``ctx.job_id`` and ``ctx.settings`` are used; ``ctx.check_cancelled()``
(between chunks of pairs), ``ctx.progress(f)``, ``ctx.remaining_s`` (bounds the price calls)
and ``ctx.recorder`` (an :class:`integrations.http.CallRecorder`) are used when present. Every
price call's latency is also observed in ``trading_api_latency_seconds``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pandas as pd

from db.blobs import BlobStore, blob_key, make_blob_store
from integrations.http import CallRecorder, IntegrationError
from integrations.prices import PriceClient, PriceDataError, PriceHistory
from integrations.trading import TradingClient
from jobtypes import TRADING_SWEEP, InvalidParams, parse_params
from jobtypes.sweep import SweepParams, sweep_context
from sync.errors import JobCancelled, JobTimedOut, PermanentJobError, Suspend, WaitTimedOut
from sync.metrics import TRADING_API_LATENCY, TRADING_SWEEP_DURATION, TRADING_SWEEP_ERRORS, TRADING_SWEEPS
from sync.sweep.backtest import METRICS, equity_curve, run_sweep
from sync.waiting import Callback
from sync.workflows import register

TOP_N = 20
EXECUTION = "signal at bar t's close, order at bar t+1's open"


class SweepRejected(ValueError):
    """The params cannot run (invalid, or the chosen dates hold too little history): never retry."""

    permanent = True


@register(TRADING_SWEEP)
def run(
    ctx: Any,
    params: Mapping[str, Any],
    *,
    transport: httpx.BaseTransport | None = None,
    blobs: BlobStore | None = None,
) -> dict[str, Any]:
    """Backtest a moving-average crossover over a grid of (fast, slow) windows.

    With ``run_on="service"`` the grid runs on the trading API (:mod:`integrations.trading`):
    the job starts it with a callback URL, waits (``WAITING``, no runner slot held) until the
    service calls back, then fetches the rows; everything else is the same code, so both give
    the same result. Seams for tests: ``transport`` carries the price API's HTTP (default: the
    network, to ``settings.prices_url``); ``blobs`` defaults to the store ``settings`` names.
    """
    seen: dict[str, Any] = {"ticker": "invalid", "run_on": str(params.get("run_on", "runner"))}
    try:
        result = _run(ctx, params, seen, transport=transport, blobs=blobs)
    except Suspend:
        raise
    except Exception as exc:
        TRADING_SWEEP_ERRORS.labels(reason=_error_reason(exc)).inc()
        last_attempt = getattr(ctx, "attempt", 1) >= getattr(ctx, "max_attempts", 1)
        if getattr(exc, "permanent", False) or isinstance(exc, JobCancelled) or last_attempt:
            TRADING_SWEEPS.labels(ticker=seen["ticker"], run_on=seen["run_on"], status="failed").inc()
        raise
    TRADING_SWEEPS.labels(ticker=seen["ticker"], run_on=seen["run_on"], status="completed").inc()
    TRADING_SWEEP_DURATION.labels(run_on=seen["run_on"]).observe(result["seconds"] + seen.get("service_s", 0.0))
    return result


def _error_reason(exc: BaseException) -> str:
    if isinstance(exc, SweepRejected):
        return "rejected"
    if isinstance(exc, PriceDataError):
        return "price_data"
    if isinstance(exc, WaitTimedOut | JobTimedOut):
        return "timeout"
    if isinstance(exc, JobCancelled):
        return "cancelled"
    if isinstance(exc, IntegrationError | ServiceFailed):
        return "service" if getattr(exc, "system", "trading") == "trading" else "price_data"
    return "other"


class ServiceFailed(PermanentJobError):
    """The trading API reported that the sweep failed."""

    system = "trading"


def _run(
    ctx: Any,
    params: Mapping[str, Any],
    seen: dict[str, Any],
    *,
    transport: httpx.BaseTransport | None,
    blobs: BlobStore | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    progress = _progress(ctx)
    store = blobs or make_blob_store(ctx.settings)
    with PriceClient.from_settings(
        ctx.settings, recorder=_recorder(ctx), transport=transport, deadline=_deadline(ctx)
    ) as client:
        sweep = _validate(params, client.available())
        seen["ticker"] = sweep.ticker
        ctx.step(f"validated: {sweep.ticker} {sweep.strategy_type}, {sweep.pair_count} pairs, fees {sweep.fee_bps} bps")
        history = client.history(sweep.ticker, sweep.start, sweep.end)
    _report_data(ctx, history)
    _check_history(sweep, history)
    progress(0.05)

    bars = history.bars
    fast, slow = sweep.pairs()

    def on_chunk(done: int, total: int) -> None:
        _check_cancelled(ctx)
        progress(0.05 + 0.9 * done / total)

    engine_started = time.perf_counter()
    if sweep.run_on == "service":
        table = _run_on_service(ctx, sweep, seen)
        engine_s = time.perf_counter() - engine_started
        ctx.step(f"the trading service backtested {len(table)} pairs on {len(bars)} bars")
    else:
        table = run_sweep(
            bars["close"].to_numpy(),
            fast,
            slow,
            open_=bars["open"].to_numpy(),
            strategy=sweep.strategy_type,
            fee_bps=sweep.fee_bps,
            periods_per_year=history.periods_per_year,
            on_chunk=on_chunk,
        )
        engine_s = time.perf_counter() - engine_started
        ctx.step(f"backtested {len(table)} pairs on {len(bars)} bars in {engine_s:.2f} s")

    ranked = table.sort_values(["sharpe", "fast", "slow"], ascending=[False, True, True], na_position="last")
    best = _row(ranked.iloc[0]) if ranked["sharpe"].notna().any() else None
    csv_key = store.put(
        blob_key(ctx.tenant_id, ctx.job_id, "sweep.csv"), table.to_csv(index=False).encode(), "text/csv"
    )
    equity_key = None
    if best is not None:
        equity_key = store.put(
            blob_key(ctx.tenant_id, ctx.job_id, "equity.csv"), _equity_csv(history, sweep, best), "text/csv"
        )
    ctx.step(f"stored {csv_key}" + (f" and {equity_key}" if equity_key else ""))
    progress(1.0)
    return {
        "params": sweep.model_dump(mode="json"),
        "data": history.report(),
        "execution": EXECUTION,
        "pairs": len(table),
        "best": best,
        "top": [_row(row) for _, row in ranked.head(TOP_N).iterrows()],
        "csv_key": csv_key,
        "equity_key": equity_key,
        "engine_seconds": round(engine_s, 4),
        "seconds": round(time.perf_counter() - started, 4),
    }


def _run_on_service(ctx: Any, sweep: SweepParams, seen: dict[str, Any]) -> pd.DataFrame:
    """Start the grid on the trading API, wait for its callback, fetch its rows as the engine's table."""
    request = sweep.model_dump(mode="json", exclude={"run_on", "service_timeout_s"})

    def start(callback: Callback) -> None:
        with TradingClient.from_settings(ctx.settings, recorder=_recorder(ctx)) as api:
            sweep_id = api.start_sweep(request, callback.url, callback.secret)
        ctx.step(f"started sweep {sweep_id} on the trading service; waiting for its callback")

    payload = ctx.wait_for_callback(sweep.service_timeout_s, start=start, signed=True)
    if payload.get("status") != "completed":
        raise ServiceFailed(f"the trading service failed sweep {payload.get('sweep_id')}: {payload.get('error')}")
    seen["service_s"] = float(payload.get("seconds") or 0.0)
    with TradingClient.from_settings(ctx.settings, recorder=_recorder(ctx)) as api:
        rows = api.rows(str(payload["sweep_id"]))
    table = pd.DataFrame(rows, columns=["fast", "slow", *METRICS])
    for column in ("fast", "slow", "trades"):
        table[column] = table[column].astype("int64")
    for column in METRICS:
        if column != "trades":
            table[column] = table[column].astype("float64")
    return table


def _validate(params: Mapping[str, Any], available: Mapping[str, int]) -> SweepParams:
    """The catalogue's check again, now against the tickers the live price provider holds."""
    try:
        sweep = parse_params(TRADING_SWEEP, params, context=sweep_context(available))
    except InvalidParams as exc:
        raise SweepRejected(str(exc)) from exc
    assert isinstance(sweep, SweepParams)
    return sweep


def _report_data(ctx: Any, history: PriceHistory) -> None:
    report = history.report()
    issues = [
        f"{report[kind]['count']} {label} ({', '.join(report[kind]['dates'][:5])})"
        for kind, label in (("null_rows", "null rows dropped"), ("gaps", "missing days"))
        if report[kind]["count"]
    ]
    message = f"fetched {report['bars']} daily bars of {history.ticker}, {report['first']} .. {report['last']}"
    if issues:
        ctx.step(f"{message}; {'; '.join(issues)}; not filled", kind="warning")
    else:
        ctx.step(message, kind="info")


def _check_history(sweep: SweepParams, history: PriceHistory) -> None:
    longest = int(sweep.pairs()[1].max())
    if longest >= len(history.bars):
        raise SweepRejected(
            f"the longest slow window ({longest} bars) does not fit the {len(history.bars)} bars of "
            f"{sweep.ticker} between {sweep.start or 'the start'} and {sweep.end or 'the end'}"
        )


def _equity_csv(history: PriceHistory, sweep: SweepParams, best: Mapping[str, Any]) -> bytes:
    bars = history.bars
    curve = equity_curve(
        bars["close"].to_numpy(),
        int(best["fast"]),
        int(best["slow"]),
        open_=bars["open"].to_numpy(),
        strategy=sweep.strategy_type,
        fee_bps=sweep.fee_bps,
    )
    frame = pd.DataFrame(
        {"strategy": curve, "buy_and_hold": bars["close"].to_numpy() / bars["close"].iloc[0]},
        index=bars.index,
    )
    text: str = frame.to_csv(index_label="date", date_format="%Y-%m-%d")
    return text.encode()


def _row(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in ("fast", "slow", "trades"):
            out[str(name)] = int(value)
        else:
            number = float(value)
            out[str(name)] = None if math.isnan(number) else number
    return out


def _progress(ctx: Any) -> Callable[[float], None]:
    report = getattr(ctx, "progress", None)
    return report if callable(report) else (lambda fraction: None)


def _check_cancelled(ctx: Any) -> None:
    check = getattr(ctx, "check_cancelled", None)
    if callable(check):
        check()


def _deadline(ctx: Any) -> float | None:
    remaining = getattr(ctx, "remaining_s", None)
    return time.monotonic() + float(remaining) if isinstance(remaining, int | float) else None


def _recorder(ctx: Any) -> CallRecorder:
    forward = getattr(ctx, "recorder", None)

    def record(system: str, method: str, path_template: str, status: int | None, latency_ms: float) -> None:
        TRADING_API_LATENCY.labels(endpoint=path_template).observe(latency_ms / 1000.0)
        if callable(forward):
            forward(system, method, path_template, status, latency_ms)

    return record


__all__ = ["EXECUTION", "SweepRejected", "run"]
