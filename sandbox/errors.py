"""Every error the sandbox answers, in the shape of the vendor it emulates.

A vendor module calls :func:`install` with its blueprint and a function that builds that
vendor's error body (Xero's ``Error``, HubSpot's ``{status, message, correlationId, category}``,
Asana's ``{errors: [{message}]}``, Shopify's ``{errors}``). From then on:

- werkzeug's HTTP errors (a malformed JSON body, a 405, a route under the vendor's prefix that
  does not exist) are answered by that function with their own status;
- an exception a client's bad input can raise while a view parses it (``ValueError``,
  ``KeyError``, ``TypeError``...) is a 400 in the vendor's shape, never a 500. A real vendor
  validates its input; an emulator view that forgot to is a sandbox bug, logged as such so
  the fuzz test (tests/integrations/test_sandbox_hostile_input.py) points at it;
- anything else is a 500 in the vendor's shape (a genuine sandbox bug).

:func:`install_app` registers the app-wide handlers that route errors raised outside any
blueprint (unmatched paths) by path prefix.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

log = logging.getLogger("zixly.sandbox.errors")

Answer = Callable[[int, str], Response]

# What a view parsing hostile input raises before it validates: a client's mistake, so 400.
CLIENT_MISTAKES: tuple[type[Exception], ...] = (
    ValueError,  # int("x"), fromisoformat, base64, UnicodeDecodeError, JSON
    KeyError,
    TypeError,
    AttributeError,  # a JSON list or string where an object was expected
    IndexError,
    OverflowError,
    decimal.InvalidOperation,
    RecursionError,
)

_BY_PREFIX: dict[str, Answer] = {}


def _sandbox_answer(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def answer_for(path: str) -> Answer:
    """The error shape of the vendor whose prefix ``path`` is under (the sandbox's own otherwise)."""
    for prefix, answer in _BY_PREFIX.items():
        if path == prefix or path.startswith(prefix + "/"):
            return answer
    return _sandbox_answer


def _handle(answer: Answer, exc: Exception) -> ResponseReturnValue:
    if isinstance(exc, HTTPException):
        if exc.code is not None and exc.code < 400:  # routing redirects (a missing slash)
            return exc.get_response()
        return answer(exc.code or 500, exc.description or exc.name)
    if isinstance(exc, CLIENT_MISTAKES):
        # Worth fixing in the view (a vendor names the field), but never a 500 for the client.
        log.warning("sandbox: unvalidated input at %s %s: %r", request.method, request.path, exc)
        return answer(400, f"Invalid request: {type(exc).__name__}: {exc}"[:500])
    log.exception("sandbox: unexpected error at %s %s", request.method, request.path)
    return answer(500, "Internal error in the sandbox")


def install(blueprint: Blueprint, answer: Answer) -> None:
    """Answer every error of ``blueprint`` (and of its URL prefix) with ``answer``."""
    if blueprint.url_prefix:
        _BY_PREFIX[blueprint.url_prefix] = answer

    @blueprint.errorhandler(Exception)
    def _vendor_error(exc: Exception) -> ResponseReturnValue:
        return _handle(answer, exc)


def install_app(app: Flask) -> None:
    """Errors raised outside a blueprint (no route matched): the shape of the path's vendor."""

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> ResponseReturnValue:
        return _handle(answer_for(request.path), exc)
