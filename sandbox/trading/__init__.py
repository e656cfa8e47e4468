"""The trading API emulator (served under /trading): sweeps run asynchronously and call back.

- ``POST /trading/sweeps`` ``{"sweep": {ticker, strategy_type, step, fast_range, slow_range,
  fee_bps, start, end}, "callback_url": ..., "callback_secret": ...?}`` -> ``202 {"sweep_id"}``.
  The sweep runs in a background thread; when done the service POSTs ``{"sweep_id", "status":
  "completed" | "failed", "error", "seconds"}`` to ``callback_url`` (signed ``X-Zixly-Signature: sha256=
  <hex HMAC-SHA256 of the body>`` when a secret was given), retrying a few times on errors.
- ``GET /trading/sweeps/<id>`` -> ``{"sweep_id", "status", "rows": [...]}`` (one row per pair).

Controls (``/_sandbox/trading``), for tests that play the external system's timing:
``POST hold {"hold": true}`` keeps finished sweeps from calling back; ``GET sweeps`` lists them
with the callback URL and secret the service was given; ``POST sweeps/<id>/deliver`` sends
(or resends) a sweep's callback now. Faults from ``/_sandbox/faults`` (vendor ``trading``) apply.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control
from sandbox.trading.engine import compute

log = logging.getLogger("sandbox.trading")
blueprint = Blueprint("trading", __name__, url_prefix="/trading")
control.install_controls(blueprint, "trading")
control_blueprint = Blueprint("trading_control", __name__, url_prefix="/_sandbox/trading")

DELIVERY_ATTEMPTS = 5


@dataclass
class Sweep:
    id: str
    request: dict[str, Any]
    callback_url: str
    callback_secret: str | None
    status: str = "running"
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    deliveries: list[int] = field(default_factory=list)  # status codes the callback got


_lock = threading.Lock()
_sweeps: dict[str, Sweep] = {}
_hold = threading.Event()


def reset() -> None:
    with _lock:
        _sweeps.clear()
    _hold.clear()


def _run(sweep: Sweep) -> None:
    started = time.perf_counter()
    try:
        rows = compute(sweep.request)
        with _lock:
            sweep.rows, sweep.status = rows, "completed"
            sweep.seconds = round(time.perf_counter() - started, 4)
    except Exception as exc:  # the service reports any failure through the callback
        with _lock:
            sweep.status, sweep.error = "failed", f"{type(exc).__name__}: {exc}"
    if not _hold.is_set():
        deliver(sweep)


def deliver(sweep: Sweep) -> int | None:
    """POST the sweep's callback (retrying transport errors and 5xx); the last status."""
    body = json.dumps(
        {"sweep_id": sweep.id, "status": sweep.status, "error": sweep.error, "seconds": sweep.seconds}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if sweep.callback_secret:
        digest = hmac.new(sweep.callback_secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Zixly-Signature"] = "sha256=" + digest
    status: int | None = None
    for attempt in range(DELIVERY_ATTEMPTS):
        try:
            status = httpx.post(sweep.callback_url, content=body, headers=headers, timeout=10).status_code
        except httpx.TransportError:
            status = None
        with _lock:
            sweep.deliveries.append(status or 0)
        if status is not None and status < 500:
            return status
        time.sleep(0.2 * 2**attempt)
    return status


@blueprint.post("/sweeps")
def start_sweep() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("sweep"), dict) or not body.get("callback_url"):
        return jsonify(error="expected {sweep: {...}, callback_url: ..., callback_secret?: ...}"), 400
    sweep = Sweep(secrets.token_hex(8), body["sweep"], str(body["callback_url"]), body.get("callback_secret"))
    with _lock:
        _sweeps[sweep.id] = sweep
    threading.Thread(target=_run, args=(sweep,), name=f"sweep-{sweep.id}", daemon=True).start()
    return jsonify(sweep_id=sweep.id, status=sweep.status), 202


@blueprint.get("/sweeps/<sweep_id>")
def sweep_result(sweep_id: str) -> ResponseReturnValue:
    with _lock:
        sweep = _sweeps.get(sweep_id)
        if sweep is None:
            return jsonify(error=f"no sweep {sweep_id}"), 404
        return jsonify(sweep_id=sweep.id, status=sweep.status, error=sweep.error, rows=sweep.rows)


@control_blueprint.post("/hold")
def hold() -> ResponseReturnValue:
    on = bool((request.get_json(silent=True) or {}).get("hold", True))
    if on:
        _hold.set()
    else:
        _hold.clear()
    return jsonify(hold=on)


@control_blueprint.get("/sweeps")
def list_sweeps() -> ResponseReturnValue:
    with _lock:
        return jsonify(
            sweeps=[
                {"sweep_id": s.id, "status": s.status, "callback_url": s.callback_url,
                 "callback_secret": s.callback_secret, "deliveries": list(s.deliveries)}
                for s in _sweeps.values()
            ]
        )  # fmt: skip


@control_blueprint.post("/sweeps/<sweep_id>/deliver")
def deliver_now(sweep_id: str) -> ResponseReturnValue:
    with _lock:
        sweep = _sweeps.get(sweep_id)
    if sweep is None:
        return jsonify(error=f"no sweep {sweep_id}"), 404
    return jsonify(status=deliver(sweep))
