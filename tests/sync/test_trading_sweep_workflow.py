"""The trading-sweep job: params -> prices over HTTP -> backtest -> blobs and a JSON result."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from db.blobs import LocalBlobStore
from jobtypes import TRADING_SWEEP, InvalidParams, validate_params
from sandbox.app import create_sandbox_app
from settings import Settings
from sync.metrics import TRADING_API_LATENCY
from sync.workflows.trading_sweep import SweepRejected, run

EXAMPLE = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 30], "step": 5, "strategy_type": "SMA"}


class Cancelled(Exception):
    pass


class FakeContext:
    def __init__(self, settings: Settings, cancel_after: int | None = None) -> None:
        self.settings = settings
        self.tenant_id, self.job_id = 7, 42
        self.steps: list[tuple[str, str]] = []
        self.fractions: list[float] = []
        self.calls: list[tuple[str, str, int | None]] = []
        self.checks, self.cancel_after = 0, cancel_after

    def step(self, message: str, kind: str = "info") -> None:
        self.steps.append((kind, message))

    def progress(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def check_cancelled(self) -> None:
        self.checks += 1
        if self.cancel_after is not None and self.checks > self.cancel_after:
            raise Cancelled

    remaining_s = 600.0

    def recorder(self, system: str, method: str, path: str, status: int | None, latency_ms: float) -> None:
        self.calls.append((system, path, status))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test",
        var_dir=tmp_path,
        blob_url=str(tmp_path / "blobs"),
        prices_url="http://sandbox.test/prices",
        _env_file=None,
    )


@pytest.fixture
def prices(settings: Settings) -> httpx.BaseTransport:
    """The sandbox app behind an in-process HTTP transport."""
    return httpx.WSGITransport(app=create_sandbox_app(settings))


@pytest.fixture
def blobs(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_url)


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_the_design_example_sweeps_eight_pairs_and_stores_the_table(
    settings: Settings, prices: httpx.BaseTransport, blobs: LocalBlobStore
) -> None:
    ctx = FakeContext(settings)
    result = run(ctx, EXAMPLE, transport=prices, blobs=blobs)

    assert result["pairs"] == 8 and len(result["top"]) == 8
    sharpes = [row["sharpe"] for row in result["top"]]
    assert sharpes == sorted(sharpes, reverse=True) and result["best"] == result["top"][0]
    assert result["data"]["bars"] == 3541 and result["data"]["periods_per_year"] == 365
    assert result["data"]["gaps"]["count"] == 0 and result["data"]["null_rows"]["count"] == 0
    assert result["params"]["fee_bps"] == 10.0
    assert result["execution"] == "signal at bar t's close, order at bar t+1's open"

    assert result["csv_key"] == "7/42/sweep.csv"
    rows = read_csv(blobs.get("7/42/sweep.csv"))
    assert len(rows) == 8 and list(rows[0]) == [
        "fast", "slow", "total_return", "cagr", "sharpe", "max_drawdown", "trades", "win_rate", "exposure",
    ]  # fmt: skip
    best_in_csv = max(rows, key=lambda r: float(r["sharpe"]))
    assert (int(best_in_csv["fast"]), int(best_in_csv["slow"])) == (result["best"]["fast"], result["best"]["slow"])

    equity = read_csv(blobs.get(result["equity_key"]))
    assert len(equity) == 3541 and equity[0] == {"date": "2014-09-17", "strategy": "1.0", "buy_and_hold": "1.0"}
    assert float(equity[-1]["strategy"]) == pytest.approx(1 + result["best"]["total_return"])

    assert ctx.fractions[-1] == 1.0 and ctx.fractions == sorted(ctx.fractions)
    assert any("fetched 3541 daily bars of BTC-USD" in message for _, message in ctx.steps)
    assert ctx.calls == [("prices", "/", 200), ("prices", "/{ticker}", 200)]


def test_bad_params_are_rejected_with_the_reason_and_store_nothing(
    settings: Settings, prices: httpx.BaseTransport, blobs: LocalBlobStore
) -> None:
    with pytest.raises(SweepRejected, match="slow_range: no pair has fast < slow") as info:
        run(FakeContext(settings), {**EXAMPLE, "fast_range": [40, 50]}, transport=prices, blobs=blobs)
    assert info.value.permanent
    assert not blobs.exists("7/42/sweep.csv")


def test_a_date_range_too_short_for_the_slow_window_is_rejected(
    settings: Settings, prices: httpx.BaseTransport, blobs: LocalBlobStore
) -> None:
    params = {**EXAMPLE, "start": "2024-05-01", "end": "2024-05-20"}
    with pytest.raises(SweepRejected, match=r"longest slow window \(30 bars\) does not fit the 20 bars"):
        run(FakeContext(settings), params, transport=prices, blobs=blobs)


def test_a_cancelled_sweep_stops_between_chunks_and_stores_nothing(
    settings: Settings, prices: httpx.BaseTransport, blobs: LocalBlobStore
) -> None:
    params = {**EXAMPLE, "fast_range": [2, 200], "slow_range": [5, 204], "step": 1}
    ctx = FakeContext(settings, cancel_after=1)
    with pytest.raises(Cancelled):
        run(ctx, params, transport=prices, blobs=blobs)
    assert ctx.checks == 2 and not blobs.exists("7/42/sweep.csv")


def test_price_latency_goes_to_the_trading_histogram(settings: Settings, prices: httpx.BaseTransport) -> None:
    def count() -> float:
        return sum(
            s.value
            for m in TRADING_API_LATENCY.collect()
            for s in m.samples
            if s.name.endswith("_count") and s.labels.get("endpoint") == "/{ticker}"
        )

    before = count()
    run(FakeContext(settings), EXAMPLE, transport=prices, blobs=LocalBlobStore(settings.blob_url))
    assert count() == before + 1


def test_gaps_and_null_rows_are_reported_in_the_result_and_the_steps(settings: Settings) -> None:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for day in range(1, 29):
        price = 100 + (day % 7) * 3
        lines.append(f"2021-02-{day:02d},{price},{price},{price},{price + 1},{price + 1},10")
    lines[5] = "2021-02-05,null,null,null,null,null,null"
    del lines[10]  # 2021-02-10 is missing

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/prices/"):
            return httpx.Response(200, json={"tickers": {"TEST": {"bars": 26}}})
        return httpx.Response(200, text="\n".join(lines), headers={"Content-Type": "text/csv"})

    ctx = FakeContext(settings)
    params = {"ticker": "TEST", "fast_range": [2, 3], "slow_range": [5, 6]}
    result = run(ctx, params, transport=httpx.MockTransport(handler), blobs=LocalBlobStore(settings.blob_url))
    assert result["data"]["null_rows"] == {"count": 1, "dates": ["2021-02-05"]}
    assert result["data"]["gaps"] == {"count": 1, "dates": ["2021-02-10"]}
    assert result["data"]["bars"] == 26
    assert ("warning", "fetched 26 daily bars of TEST, 2021-02-01 .. 2021-02-28; 1 null rows dropped (2021-02-05); "
            "1 missing days (2021-02-10); not filled") in ctx.steps  # fmt: skip


def test_it_is_registered_as_trading_sweep() -> None:
    from sync.workflows import get

    assert get(TRADING_SWEEP).handler is run


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({**EXAMPLE, "ticker": "DOGE-USD"}, "ticker", "unknown ticker"),
        ({**EXAMPLE, "ticker": "ETH-USD", "slow_range": [100, 2400]}, "slow_range", "does not fit the history"),
        ({**EXAMPLE, "step": 0}, "step", "positive"),
    ],
)
def test_the_listener_path_rejects_bad_params_without_http(params: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(InvalidParams) as info:
        validate_params(TRADING_SWEEP, params)
    error = info.value.errors[0]
    assert error.field == field and reason in error.message


def test_the_listener_path_fills_in_the_defaults() -> None:
    checked = validate_params(TRADING_SWEEP, EXAMPLE)
    assert checked["fee_bps"] == 10.0 and checked["fast_range"] == [10, 20] and checked["start"] is None
