"""The sandbox: one Flask app serving every vendor emulator, plus ``/_sandbox`` controls.

Each module in :data:`VENDOR_MODULES` exposes ``blueprint`` (mounted under ``/<vendor>``) and
``reset()`` (restore the seeded demo state), and may expose ``control_blueprint`` (mounted
under ``/_sandbox/<vendor>``) for vendor-specific controls. Shared controls:

- ``POST /_sandbox/reset`` — every vendor back to its seed, faults and counters cleared;
- ``GET /_sandbox/writes`` — external writes per vendor and idempotency key;
- ``POST /_sandbox/faults`` ``{"vendor", "mode": 500|503|timeout|429|drop, "count", "path_contains"?, "delay_s"?}``;
- ``POST /_sandbox/limits`` ``{"vendor", "budget", "limit", "window_s"?}`` — change a rate-limit budget;
- ``POST /_sandbox/oauth/<vendor>/expire|revoke|settings`` — see :mod:`sandbox.oauth_server`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control, errors, oauth_server
from settings import Settings

VENDOR_MODULES = ("xero", "hubspot", "shopify", "asana", "prices", "trading", "slack")


def vendor_modules() -> list[ModuleType]:
    return [importlib.import_module(f"sandbox.{name}") for name in VENDOR_MODULES]


def reset_all() -> None:
    control.reset()
    for server in oauth_server.SERVERS.values():
        server.reset()
    for module in vendor_modules():
        module.reset()


def create_sandbox_app(settings: Settings) -> Flask:
    """Build the sandbox app; every vendor starts from its seeded state."""
    app = Flask("zixly-sandbox")
    app.config["ZIXLY_SETTINGS"] = settings
    # No client mistake is ever a 500: errors take the shape of the vendor the path is under.
    errors.install_app(app)
    modules = vendor_modules()
    for module in modules:
        app.register_blueprint(module.blueprint)
        # Optional: vendor-specific controls under /_sandbox/<vendor> (e.g. "pay an invoice").
        if (controls := getattr(module, "control_blueprint", None)) is not None:
            app.register_blueprint(controls)
    reset_all()

    @app.post("/_sandbox/reset")
    def reset() -> ResponseReturnValue:
        reset_all()
        return jsonify(ok=True)

    @app.get("/_sandbox/writes")
    def writes() -> ResponseReturnValue:
        return jsonify(control.writes())

    @app.post("/_sandbox/faults")
    def faults() -> ResponseReturnValue:
        body: dict[str, Any] = request.get_json(force=True)
        try:
            control.add_fault(
                str(body["vendor"]),
                str(body["mode"]),
                int(body.get("count", 1)),
                path_contains=body.get("path_contains"),
                delay_s=float(body.get("delay_s", 5.0)),
            )
        except (KeyError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(ok=True)

    @app.post("/_sandbox/limits")
    def limits() -> ResponseReturnValue:
        body: dict[str, Any] = request.get_json(force=True)
        window = body.get("window_s")
        control.set_budget(
            str(body["vendor"]), str(body["budget"]), int(body["limit"]), float(window) if window else None
        )
        return jsonify(ok=True)

    @app.post("/_sandbox/oauth/<vendor>/<action>")
    def oauth_control(vendor: str, action: str) -> ResponseReturnValue:
        server = oauth_server.SERVERS.get(vendor)
        if server is None:
            return jsonify(error=f"no OAuth server for {vendor}"), 404
        if action == "expire":
            server.expire_all()
        elif action == "revoke":
            server.revoke_all()
        elif action == "settings":
            server.configure(request.get_json(force=True))
        else:
            return jsonify(error="action is expire, revoke or settings"), 404
        return jsonify(ok=True, refreshes=server.refresh_count)

    @app.get("/_sandbox/health")
    def health() -> ResponseReturnValue:
        return jsonify(ok=True, vendors=list(VENDOR_MODULES))

    return app
