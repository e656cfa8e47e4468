"""The webhook listener: a Flask app that verifies, records and enqueues vendor events.

``create_app(settings)`` builds it (flaskr-style factory); ``python -m webhook`` serves it
with gunicorn. Routes: ``webhook/vendors.py`` (vendor deliveries), ``webhook/jobs_api.py``
(the job API), ``webhook/service.py`` (health, metrics, OpenAPI, OAuth redirect).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, g, request
from flask import typing as ft
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import logconfig
from settings import Settings

log = logging.getLogger("webhook")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


# Runs of a request again while SQLite is busy (its transaction rolled back: nothing done yet).
BUSY_RETRIES = 4
T = TypeVar("T")


def run_again_when_safe(run: Callable[[], T]) -> T:
    """``run()`` (a request's work, in its app context), run again when that is safe.

    A pooled connection left over from before a database restart fails at its first
    statement (``connection_invalidated``); SQLAlchemy then discards the whole pool. If the
    request had committed nothing yet, running it again on a fresh connection is safe — and
    the vendor gets its 2xx instead of a 503 for a database that is back. The same holds on
    SQLite when another of ``make run``'s processes wrote between this request's read and its
    write ("database is locked" at once, whatever the busy timeout): an Asana handshake that
    met the runner's step log would otherwise fail the webhook's creation.
    """
    from db.engine import is_busy
    from webhook.context import close_session

    for attempt in range(BUSY_RETRIES + 1):
        try:
            return run()
        except DBAPIError as exc:
            if g.get("committed"):
                raise
            if exc.connection_invalidated and not g.get("retrying"):
                log.warning("stale database connection: running the request again on a fresh one")
            elif is_busy(exc) and attempt < BUSY_RETRIES:
                log.warning("SQLite is busy: running the request again")
                time.sleep(0.05 * (attempt + 1))
            else:
                raise
        close_session()
        g.retrying = True
    raise AssertionError("unreachable")


class ListenerApp(Flask):
    """Flask, each request run again when that is safe (``run_again_when_safe``)."""

    def dispatch_request(self) -> ft.ResponseReturnValue:
        return run_again_when_safe(super().dispatch_request)


def create_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """The listener for ``settings``. Tests may pass their own session factory and clock."""
    from db.engine import make_engine, make_session_factory
    from webhook import callbacks, jobs_api, problems, service, vendors
    from webhook.context import Listener, close_session
    from webhook.debounce import WindowCache
    from webhook.group import GroupCommit
    from webhook.wakeup import RunnerWakeup

    app = ListenerApp(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes
    if session_factory is None:
        # A gunicorn worker serves one request (or a few threads) at a time: a small pool, and a
        # short connect timeout turns a dead database into a quick 503.
        # No pre-ping: it costs a round trip per checkout. After a database restart the
        # first statement on a stale connection fails, which invalidates the pool at once,
        # and the request is run again on a fresh connection (``ListenerApp``).
        # At most 8 connections per worker, whatever its thread count (webhook.server.APP_THREADS):
        # deliveries written alone (a batch handed back, the job API) wait briefly for one rather
        # than open a connection each, so a flood cannot take PostgreSQL's connection slots.
        extra: dict[str, object] = {"pool_size": 4, "max_overflow": 4, "pool_pre_ping": False}
        if not settings.is_sqlite:
            extra["connect_args"] = {"connect_timeout": 3}
        session_factory = make_session_factory(make_engine(settings, **extra))
    engine = session_factory.kw.get("bind")
    # Runners are woken by NOTIFY on PostgreSQL only (SQLite has no LISTEN; runners poll).
    wakeup = RunnerWakeup(engine) if isinstance(engine, Engine) and engine.dialect.name == "postgresql" else None
    windows = WindowCache()
    group = (
        GroupCommit(engine, windows, settings.webhook_rate_limit_per_minute, wakeup)
        if settings.webhook_group_commit and isinstance(engine, Engine) and engine.dialect.name == "postgresql"
        else None
    )
    app.extensions["zixly"] = Listener(
        settings=settings,
        session_factory=session_factory,
        clock=clock,
        debounce_windows=windows,
        wakeup=wakeup,
        group=group,
    )

    problems.register(app)
    app.register_error_handler(SQLAlchemyError, _database_unavailable)
    app.register_error_handler(Exception, _internal_error)
    app.register_blueprint(vendors.bp)
    app.register_blueprint(jobs_api.bp)
    app.register_blueprint(callbacks.bp)
    app.register_blueprint(service.bp)
    app.teardown_appcontext(close_session)
    app.before_request(_start_request)
    app.teardown_request(_end_request)
    app.after_request(_finish_request)
    return app


def _start_request() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
    g.log_token = logconfig.bind(request_id=g.request_id)  # every log line of this request
    g.started = time.perf_counter()


def _end_request(_exc: BaseException | None = None) -> None:
    token = g.pop("log_token", None)
    if token is not None:
        logconfig.unbind(token)


def _finish_request(response: Response) -> Response:
    from webhook.metrics import HTTP_REQUEST_DURATION

    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["X-Request-Id"] = g.get("request_id", "")
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    started = g.get("started")
    if started is not None:
        HTTP_REQUEST_DURATION.labels(method=request.method, route=route, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


def _database_unavailable(exc: SQLAlchemyError) -> Response:
    """Never a 2xx for something not stored: the vendor will retry later."""
    from webhook.context import get_session
    from webhook.problems import Problem, problem_response

    log.error("database error: %s", type(exc).__name__)
    with contextlib.suppress(SQLAlchemyError):
        get_session().rollback()
    return problem_response(
        Problem(503, "Service Unavailable", "the database is unavailable; retry later", headers={"Retry-After": "5"})
    )


def _internal_error(exc: Exception) -> Response:
    from webhook.problems import Problem, problem_response

    log.exception("unhandled error: %s", type(exc).__name__)
    return problem_response(Problem(500, "Internal Server Error", "an unexpected error occurred"))
