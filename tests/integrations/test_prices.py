"""The price provider and its sandbox: real HTTP, gaps and null rows reported, nothing filled."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from integrations.http import NotFound
from integrations.prices import PriceClient, parse_csv, sample_availability
from sandbox import control
from sandbox.app import create_sandbox_app
from settings import Settings

NULL_AND_GAP_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2020-10-07,10600.0,10700.0,10500.0,10660.0,10660.0,100
2020-10-08,10660.0,10950.0,10600.0,10930.0,10930.0,100
2020-10-09,null,null,null,null,null,null
2020-10-10,11060.0,11450.0,11000.0,11300.0,11300.0,100
2020-10-13,11400.0,11500.0,11300.0,11420.0,11420.0,100
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    settings = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    server = make_server("127.0.0.1", 0, create_sandbox_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/prices"
    server.shutdown()
    thread.join(5)
    control.reset()


@pytest.fixture
def app_client(tmp_path: Path) -> FlaskClient:
    settings = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    return create_sandbox_app(settings).test_client()


def mock_client(body: str, content_type: str = "text/csv") -> PriceClient:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, text=body, headers={"Content-Type": content_type})
    )
    return PriceClient("http://prices.test/prices", transport=transport)


def test_the_client_reads_a_date_range_over_http_from_the_sandbox(sandbox: str) -> None:
    calls: list[tuple[str, str, int | None]] = []
    client = PriceClient(
        sandbox, recorder=lambda system, method, path, status, ms: calls.append((system, path, status))
    )
    history = client.history("BTC-USD", dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    assert len(history.bars) == 366
    assert history.bars.index[0].date() == dt.date(2020, 1, 1)
    assert history.bars.loc["2020-12-31", "close"] == pytest.approx(29001.720703)
    assert history.report()["gaps"] == {"count": 0, "dates": []} and history.periods_per_year == 365
    assert calls == [("prices", "/{ticker}", 200)]


def test_the_sandbox_lists_what_the_sample_files_hold(sandbox: str) -> None:
    assert PriceClient(sandbox).available() == sample_availability() == {"BTC-USD": 3541, "ETH-USD": 2392, "SPY": 7802}


def test_an_unknown_ticker_is_a_permanent_not_found(sandbox: str) -> None:
    with pytest.raises(NotFound):
        PriceClient(sandbox).history("DOGE-USD")


def test_a_transient_fault_is_retried(sandbox: str) -> None:
    control.add_fault("prices", "503", 1)
    waits: list[float] = []
    history = PriceClient(sandbox, sleep=waits.append).history("ETH-USD", end=dt.date(2017, 11, 30))
    assert len(history.bars) == 22 and len(waits) == 1


def test_null_rows_are_dropped_and_reported_and_missing_days_are_gaps() -> None:
    history = mock_client(NULL_AND_GAP_CSV).history("BTC-USD")
    assert [d.isoformat() for d in history.bars.index.date] == ["2020-10-07", "2020-10-08", "2020-10-10", "2020-10-13"]
    report = history.report()
    assert report["null_rows"] == {"count": 1, "dates": ["2020-10-09"]}
    assert report["gaps"] == {"count": 2, "dates": ["2020-10-11", "2020-10-12"]}
    assert history.bars["close"].tolist() == [10660.0, 10930.0, 11300.0, 11420.0]  # nothing filled forward


def test_json_bars_are_read_like_csv(app_client: FlaskClient) -> None:
    body = app_client.get("/prices/SPY?start=2001-09-01&end=2001-09-30&format=json").get_data(as_text=True)
    history = mock_client(body, "application/json").history("SPY")
    assert len(history.bars) == 15 and history.calendar == "exchange"
    assert history.report()["gaps"]["dates"] == ["2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14"]


def test_exchange_holidays_are_not_gaps_but_long_closures_are() -> None:
    history = parse_csv(Path(sample_path("SPY")).read_text(), "SPY")
    assert history.periods_per_year == 252
    assert history.report()["gaps"]["count"] == 8  # 9/11 (4 days), Ford's mourning + New Year (2), Sandy (2)


def test_prices_are_dividend_adjusted_consistently() -> None:
    first = parse_csv(Path(sample_path("SPY")).read_text(), "SPY").bars.iloc[0]
    factor = 24.840683 / 43.9375
    assert first["close"] == pytest.approx(24.840683)
    assert first["open"] == pytest.approx(43.968750 * factor)


def test_the_sandbox_answers_bad_dates_with_400(app_client: FlaskClient) -> None:
    assert app_client.get("/prices/SPY?start=yesterday").status_code == 400
    assert app_client.get("/prices/NOPE").status_code == 404


def sample_path(ticker: str) -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "prices" / f"{ticker}.csv"
