"""The daily price provider: OHLC bars over HTTP, with gaps and null rows reported, never filled.

``GET {prices_url}`` lists the tickers (``{"tickers": {"BTC-USD": {"bars": 3541, "first": ...,
"last": ...}}}``); ``GET {prices_url}/{ticker}?start=YYYY-MM-DD&end=YYYY-MM-DD`` returns the bars
as CSV in the Yahoo Finance layout (``Date,Open,High,Low,Close,Adj Close,Volume``) or as JSON
(``{"bars": [{"Date": ..., "Open": ..., ...}]}``). Calls go through the shared HTTP policy
(:class:`integrations.http.ApiClient`, system ``prices``); a caller that wants the latency in
``trading_api_latency_seconds`` passes a ``recorder`` (the runner's metric lives in ``sync``).

Cleaning, stated once:

- A **null row** (any field null, empty or NaN, as Yahoo writes for days it lacks) is dropped
  and its date reported.
- A **gap** is a date the calendar expects but the source has no row for. A calendar that has
  weekend rows is a 7-day one (crypto) and every missing day is a gap. An exchange calendar
  closes on weekends and holidays, so only missing weekdays inside a break longer than a long
  weekend (more than 4 days between bars) are reported (e.g. SPY's 9/11 closure).
- Nothing is filled forward: the backtest runs on the bars that exist.
- Prices are dividend/split adjusted: ``close`` is ``Adj Close`` and ``open`` is scaled by the
  same ``Adj Close / Close`` factor (1 for crypto).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pandas as pd

from integrations.http import ApiClient, CallRecorder
from settings import Settings

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "prices"
COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
EXCHANGE_BREAK_DAYS = 4  # Friday -> Tuesday around a Monday holiday is a normal closure
REPORTED_DATES = 100  # dates listed per kind in a report; the count is always exact


class PriceDataError(ValueError):
    """The provider's answer cannot be read as daily bars."""


@dataclass(frozen=True)
class PriceHistory:
    """Clean daily bars of one ticker, plus what was wrong with the raw series."""

    ticker: str
    bars: pd.DataFrame  # DatetimeIndex "date"; float columns open, high, low, close, volume
    null_rows: list[dt.date] = field(default_factory=list)
    gaps: list[dt.date] = field(default_factory=list)

    @property
    def calendar(self) -> str:
        return "7-day" if _has_weekends(self.bars.index) else "exchange"

    @property
    def periods_per_year(self) -> int:
        return 365 if self.calendar == "7-day" else 252

    def report(self) -> dict[str, Any]:
        """A JSON-ready summary of the data the sweep ran on."""
        index = self.bars.index
        return {
            "ticker": self.ticker,
            "bars": len(index),
            "first": index[0].date().isoformat() if len(index) else None,
            "last": index[-1].date().isoformat() if len(index) else None,
            "calendar": self.calendar,
            "periods_per_year": self.periods_per_year,
            "null_rows": _date_report(self.null_rows),
            "gaps": _date_report(self.gaps),
        }


def _date_report(dates: list[dt.date]) -> dict[str, Any]:
    return {"count": len(dates), "dates": [d.isoformat() for d in dates[:REPORTED_DATES]]}


def _has_weekends(index: pd.DatetimeIndex) -> bool:
    return bool((index.day_of_week >= 5).any())


def find_gaps(index: pd.DatetimeIndex) -> list[dt.date]:
    """Dates the calendar expects between the first and last bar that have no row."""
    if len(index) < 2:
        return []
    if _has_weekends(index):
        expected = pd.date_range(index[0], index[-1], freq="D")
        return [ts.date() for ts in expected.difference(index)]
    breaks = np.flatnonzero(np.diff(index.values).astype("timedelta64[D]").astype(np.int64) > EXCHANGE_BREAK_DAYS)
    missing: list[dt.date] = []
    for i in breaks:  # one entry per long closure, not per bar
        days = pd.bdate_range(index[i] + pd.Timedelta(days=1), index[i + 1] - pd.Timedelta(days=1))
        missing.extend(ts.date() for ts in days)
    return missing


def clean_bars(raw: pd.DataFrame, ticker: str) -> PriceHistory:
    """Yahoo-layout rows -> :class:`PriceHistory` (sorted, de-duplicated, nulls dropped)."""
    missing = [c for c in ("Date", "Open", "Close") if c not in raw.columns]
    if missing:
        raise PriceDataError(f"price data for {ticker} lacks the columns {missing}")
    frame = raw.copy()
    frame["Date"] = pd.to_datetime(frame["Date"], errors="coerce")
    if frame["Date"].isna().any():
        raise PriceDataError(f"price data for {ticker} has rows without a readable date")
    values = [c for c in COLUMNS[1:] if c in frame.columns]
    frame[values] = frame[values].apply(pd.to_numeric, errors="coerce")
    frame = frame.sort_values("Date").drop_duplicates("Date", keep="last").set_index("Date")
    null = frame[values].isna().any(axis=1)
    null_dates = [ts.date() for ts in frame.index[null]]
    frame = frame[~null]
    adj = frame["Adj Close"] if "Adj Close" in frame.columns else frame["Close"]
    factor = adj / frame["Close"]
    bars = pd.DataFrame(
        {
            "open": frame["Open"] * factor,
            "high": frame.get("High", frame["Close"]) * factor,
            "low": frame.get("Low", frame["Close"]) * factor,
            "close": adj,
            "volume": frame.get("Volume", pd.Series(np.nan, index=frame.index)),
        },
        index=pd.DatetimeIndex(frame.index, name="date"),
    ).astype("float64")
    if (bars[["open", "close"]] <= 0).any().any():
        raise PriceDataError(f"price data for {ticker} has non-positive prices")
    gaps = find_gaps(raw_dates(raw))  # null rows are rows: their dates are reported as null rows
    return PriceHistory(ticker=ticker, bars=bars, null_rows=null_dates, gaps=gaps)


def raw_dates(raw: pd.DataFrame) -> pd.DatetimeIndex:
    """Every date the source has a row for (null or not), sorted and unique."""
    return pd.DatetimeIndex(pd.to_datetime(raw["Date"], errors="coerce").dropna().unique()).sort_values()


def parse_csv(text: str, ticker: str) -> PriceHistory:
    # "null" is how Yahoo writes a missing value; keep_default_na covers "", NaN, null too.
    return clean_bars(pd.read_csv(io.StringIO(text), na_values=["null"]), ticker)


def sample_availability(folder: Path = SAMPLE_DIR) -> dict[str, int]:
    """Ticker -> usable bars of the bundled sample data (what the sandbox serves); read once."""
    return dict(_sample_availability(folder))


@functools.lru_cache(maxsize=4)
def _sample_availability(folder: Path) -> tuple[tuple[str, int], ...]:
    return tuple((path.stem, len(parse_csv(path.read_text(), path.stem).bars)) for path in sorted(folder.glob("*.csv")))


class PriceClient(ApiClient):
    """The price API. ``PriceClient.from_settings(settings).history("BTC-USD")``."""

    system: ClassVar[str] = "prices"
    default_headers: ClassVar[dict[str, str]] = {"Accept": "text/csv, application/json;q=0.9"}

    @classmethod
    def from_settings(cls, settings: Settings, *, recorder: CallRecorder | None = None, **kwargs: Any) -> PriceClient:
        if not settings.prices_url:
            raise PriceDataError("ZIXLY_PRICES_URL is not set (required in production)")
        return cls(settings.prices_url, recorder=recorder, **kwargs)

    def __enter__(self) -> PriceClient:
        return self

    def available(self) -> dict[str, int]:
        """Ticker -> number of bars the provider holds (for :func:`validate_sweep_params`)."""
        body = self.request("GET", "/").json()
        return {str(t): int(info["bars"]) for t, info in body.get("tickers", {}).items()}

    def history(self, ticker: str, start: dt.date | None = None, end: dt.date | None = None) -> PriceHistory:
        """The daily bars of ``ticker`` from ``start`` to ``end`` (inclusive), cleaned."""
        query = {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
        response = self.request("GET", "/{ticker}", path_params={"ticker": ticker}, params=query)
        return self._parse(response, ticker)

    def _parse(self, response: httpx.Response, ticker: str) -> PriceHistory:
        kind = response.headers.get("Content-Type", "")
        if "json" in kind:
            rows = response.json().get("bars")
            if not isinstance(rows, list):
                raise PriceDataError(f"prices JSON for {ticker} has no 'bars' list")
            return clean_bars(pd.DataFrame(rows), ticker)
        return parse_csv(response.text, ticker)
