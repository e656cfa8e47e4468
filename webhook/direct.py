"""``POST /webhook/<vendor>`` served straight from the ASGI front, without Flask and werkzeug.

A vendor delivery is the listener's hot path: under load most of its CPU went to framework
work around the intake (werkzeug's request and environ, Flask's request context, routing,
hooks; docs/benchmarks.md "Webhook listener"). For the app-wide vendors' routes the front hands
the complete request here instead, and this runs the *same* code the Flask view runs
(``webhook.vendors.app_wide_delivery``: 404, 415, signature, parse, ``webhook.accept``) inside the
app's application context (its settings, session per request, teardown), and does what the
app's hooks do around it: request id and log context, the answer's security headers and
``X-Request-Id``, the duration metric, problem documents, 503 for database errors, and running
it again (``webhook.run_again_when_safe``) when a pooled connection turned out dead or SQLite was
busy before anything was committed.
Every other route (the job API, callbacks, per-connection vendors, health, metrics) goes to Flask.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from flask import Flask, Response, g
from sqlalchemy.exc import SQLAlchemyError

import logconfig
from integrations.registry import vendors
from integrations.vendor import Vendor
from webhook import _REQUEST_ID, SECURITY_HEADERS, _database_unavailable, _internal_error, run_again_when_safe
from webhook.problems import Problem, problem_response
from webhook.vendors import Inbound, app_wide_delivery, webhook_path

log = logging.getLogger("webhook")

Scope = MutableMapping[str, Any]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_SECURITY = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()]


class DirectDeliveries:
    """The app-wide vendors' delivery routes of ``app``, served without the WSGI layer."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.routes: dict[str, Vendor[Any]] = {
            webhook_path(record): record for record in vendors() if not record.webhooks.per_connection
        }

    def serves(self, scope: Scope) -> bool:
        return scope["method"] == "POST" and scope["path"] in self.routes and not scope.get("root_path")

    def __call__(self, scope: Scope, body: bytes) -> Answer:
        """In a pool thread: the whole delivery, answered (never raises)."""
        from webhook.metrics import HTTP_REQUEST_DURATION

        started = time.perf_counter()
        route: str = scope["path"]
        inbound = _inbound(scope)
        incoming = inbound.headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        token = logconfig.bind(request_id=request_id)
        try:
            with self.app.app_context():  # its teardown closes the request's session
                g.request_id = request_id
                response = self._dispatch(self.routes[route], inbound, body)
        finally:
            logconfig.unbind(token)
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()
        ]
        present = {name for name, _ in headers}
        headers += [(name, value) for name, value in _SECURITY if name not in present]
        headers.append((b"x-request-id", request_id.encode("latin-1")))
        status = response.status_code
        HTTP_REQUEST_DURATION.labels(method="POST", route=route, status=str(status)).observe(
            time.perf_counter() - started
        )
        return status, headers, response.get_data()

    def _dispatch(self, record: Vendor[Any], inbound: Inbound, body: bytes) -> Response:
        """The delivery with the app's error handling (``webhook.ListenerApp`` and its handlers)."""
        try:
            return run_again_when_safe(lambda: app_wide_delivery(record, inbound, lambda: body))
        except Problem as problem:
            return problem_response(problem)
        except SQLAlchemyError as exc:
            return _database_unavailable(exc)
        except Exception as exc:  # answered 500 and logged, as the app's handler does
            return _internal_error(exc)


def _inbound(scope: Scope) -> Inbound:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        if b"_" in raw_name:  # as in webhook.asgi._environ: X_Forwarded_For must not pose as X-Forwarded-For
            continue
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    content_type = headers.get("content-type", "")
    client = scope.get("client")
    return Inbound(
        method=scope["method"],
        path=scope["path"],
        query_string=scope.get("query_string", b""),
        headers=headers,
        mimetype=content_type.split(";", 1)[0].strip().lower(),
        remote_addr=str(client[0]) if client else None,
    )
