"""The price API emulator (served under /prices): the bundled daily histories in data/prices/.

- ``GET /prices`` -> ``{"tickers": {"BTC-USD": {"bars": 3541, "first": "...", "last": "..."}}}``
- ``GET /prices/<ticker>?start=YYYY-MM-DD&end=YYYY-MM-DD`` -> the file's rows in that range
  (inclusive), as ``text/csv`` in the Yahoo layout; ``?format=json`` gives
  ``{"ticker": ..., "bars": [{"Date": ..., "Open": ..., ...}]}``. Unknown ticker: 404; a bad
  date: 400. Faults from ``/_sandbox/faults`` (vendor ``prices``) apply.

Rows are served as stored, ``null`` rows included: cleaning is the client's job.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "prices"

blueprint = Blueprint("prices", __name__, url_prefix="/prices")
control.install_controls(blueprint, "prices")

_lock = threading.Lock()
_files: dict[str, tuple[str, list[str]]] = {}  # ticker -> (header, data lines)


def reset() -> None:
    """Forget the loaded files; they are read again from ``DATA_DIR`` on the next request."""
    with _lock:
        _files.clear()


def _load() -> dict[str, tuple[str, list[str]]]:
    with _lock:
        if not _files:
            for path in sorted(DATA_DIR.glob("*.csv")):
                header, *lines = path.read_text().splitlines()
                _files[path.stem] = (header, [line for line in lines if line.strip()])
        return dict(_files)


def _date_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    return dt.date.fromisoformat(value).isoformat()  # ValueError -> 400 below


@blueprint.get("")
@blueprint.get("/")
def tickers() -> ResponseReturnValue:
    files = _load()
    return jsonify(
        tickers={
            ticker: {"bars": len(lines), "first": lines[0][:10], "last": lines[-1][:10]}
            for ticker, (_, lines) in files.items()
            if lines
        }
    )


@blueprint.get("/<ticker>")
def history(ticker: str) -> ResponseReturnValue:
    files = _load()
    if ticker not in files:
        return jsonify(error=f"unknown ticker {ticker!r}", tickers=sorted(files)), 404
    try:
        start, end = _date_arg("start"), _date_arg("end")
    except ValueError:
        return jsonify(error="start and end must be dates as YYYY-MM-DD"), 400
    header, lines = files[ticker]
    # ISO dates sort as strings: the first ten characters of a row are its date.
    rows = [line for line in lines if (start is None or line[:10] >= start) and (end is None or line[:10] <= end)]
    if request.args.get("format") == "json":
        names = header.split(",")
        bars = [dict(zip(names, _values(line), strict=False)) for line in rows]
        return jsonify(ticker=ticker, bars=bars)
    return Response(header + "\n" + "\n".join(rows) + "\n", mimetype="text/csv")


def _values(line: str) -> list[object]:
    date, *fields = line.split(",")
    return [date, *(None if f in ("", "null") else float(f) for f in fields)]
