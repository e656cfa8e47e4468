"""The trading API: runs a sweep asynchronously and calls back when it is done.

``POST {trading_url}/sweeps`` with the sweep, the callback URL and (optionally) the HMAC secret
to sign the callback with answers ``202 {"sweep_id"}``; the service later POSTs ``{"sweep_id",
"status", "error"}`` to the callback URL; ``GET {trading_url}/sweeps/{sweep_id}`` then returns
the per-pair rows. Calls go through the shared HTTP policy (system ``trading``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from integrations.http import ApiClient, CallRecorder, PermanentError
from settings import Settings


class TradingClient(ApiClient):
    system: ClassVar[str] = "trading"
    default_headers: ClassVar[dict[str, str]] = {"Accept": "application/json"}

    @classmethod
    def from_settings(cls, settings: Settings, *, recorder: CallRecorder | None = None, **kwargs: Any) -> TradingClient:
        if not settings.trading_url:
            raise PermanentError("ZIXLY_TRADING_URL is not set (required in production)", system="trading")
        return cls(settings.trading_url, recorder=recorder, **kwargs)

    def __enter__(self) -> TradingClient:
        return self

    def start_sweep(self, sweep: dict[str, Any], callback_url: str, callback_secret: str | None) -> str:
        """Start a sweep; the service will call ``callback_url`` back. Returns its sweep id."""
        body = {"sweep": sweep, "callback_url": callback_url, "callback_secret": callback_secret}
        return str(self.request("POST", "/sweeps", json=body).json()["sweep_id"])

    def rows(self, sweep_id: str) -> list[dict[str, Any]]:
        """A finished sweep's rows (fast, slow and every metric, one per pair)."""
        body = self.request("GET", "/sweeps/{sweep_id}", path_params={"sweep_id": sweep_id}).json()
        rows = body.get("rows")
        if body.get("status") != "completed" or not isinstance(rows, list):
            raise PermanentError(f"sweep {sweep_id} is {body.get('status')}: {body.get('error')}", system="trading")
        return rows
