"""Serving the listener with gunicorn (programmatic ``BaseApplication``).

Workers are forked from the master, and each builds its own app (its own engine and pool:
connections are never shared across a fork). prometheus-client runs in multiprocess mode:
each worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``, ``/metrics`` sums
them, and a dead worker's files are marked so its gauges disappear. The directory is made
(or wiped) at start and removed at exit when we created it.

Serving model: gunicorn's ``asgi`` worker (an asyncio loop per worker) in front of
``webhook.asgi.BufferedWSGI``, which waits on the loop for each request's whole body (408 after
``ZIXLY_WEBHOOK_READ_TIMEOUT_S``, 413 past ``ZIXLY_WEBHOOK_MAX_BYTES``) and then runs the Flask
app on ``APP_THREADS`` threads (``--threads``). A slow client holds a coroutine, never a thread
or a worker.

Tuning beyond ``ZIXLY_WEBHOOK_BIND`` / ``ZIXLY_WEBHOOK_WORKERS``: gunicorn's standard
``GUNICORN_CMD_ARGS`` is honoured; ``--worker-class sync`` or ``gthread`` serves the Flask app
directly (no read timeout there: a slow client then holds a worker or a thread).

Logging: ``python -m webhook`` configures :mod:`logconfig` in the master before gunicorn
starts; workers inherit it through the fork, and gunicorn's own lines ("Booting worker", worker
timeouts) go through the same JSON handler and redaction (:class:`RootRoutedLogger`).
"""

from __future__ import annotations

import os
import shlex
import shutil
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gasgi import ASGIWorker

from settings import Settings
from webhook.asgi import BufferedWSGI

# Threads running the Flask app per worker; gunicorn's ``--threads N`` (N > 1) sets another number.
# A delivery's thread waits for its group commit (webhook/group.py) without a database connection,
# so the threads bound how many deliveries a worker has in hand, and so a commit's size: with 8,
# 64 connections made 4 deliveries per commit and PostgreSQL spent 1.4 ms per delivery; with 32,
# 14 per commit and 0.2–0.4 ms, and saturation went from 407–443 to 608–1,106 req/s
# (docs/benchmarks.md, "Webhook listener", 2026-12-07 05:05). 64 measured no better than 32.
APP_THREADS = 32

DEFAULTS: dict[str, Any] = {
    # An event loop reads requests, so slow clients cannot hold the workers (webhook/asgi.py);
    # measured against sync and gthread in docs/reliability.md.
    "worker_class": "webhook.worker.ListenerWorker",  # gunicorn's asgi worker, see webhook/worker.py
    "timeout": 30,  # a worker stuck longer than any vendor's deadline is replaced
    "graceful_timeout": 10,
    "keepalive": 5,
    "accesslog": None,  # the app logs what matters, as JSON, without bodies
    "errorlog": "-",
    "proc_name": "zixly-webhook",
    # gunicorn's control socket defaults to one fixed path per user: two listeners on one host
    # (replicas, tests) would share it, and either could steer the other. Off.
    "control_socket_disable": True,
}


class RootRoutedLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger, minus its own handlers: its lines reach the root logger's one handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class ListenerServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, metrics_dir: str, *, owns_metrics_dir: bool) -> None:
        self.settings = settings
        self.metrics_dir = metrics_dir
        self.owns_metrics_dir = owns_metrics_dir
        super().__init__()

    def load_config(self) -> None:
        options = {
            **DEFAULTS,
            "bind": [self.settings.webhook_bind],
            "workers": self.settings.webhook_workers,
            "child_exit": _child_exit,
            "logger_class": RootRoutedLogger,
            "on_exit": self._on_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)
        extra = os.environ.get("GUNICORN_CMD_ARGS")
        if extra:
            parsed = self.cfg.parser().parse_args(shlex.split(extra))
            for key, value in vars(parsed).items():
                if value is not None and key in self.cfg.settings and key != "args":
                    self.cfg.set(key, value)

    def load(self) -> Flask | BufferedWSGI:
        from webhook import create_app
        from webhook.direct import DirectDeliveries

        app = create_app(self.settings)
        if not issubclass(self.cfg.worker_class, ASGIWorker):
            return app  # sync / gthread workers serve the WSGI app themselves
        return BufferedWSGI(
            app,
            read_timeout_s=self.settings.webhook_read_timeout_s,
            max_bytes=self.settings.webhook_max_bytes,
            threads=self.cfg.threads if self.cfg.threads > 1 else APP_THREADS,
            direct=DirectDeliveries(app),
        )

    def _on_exit(self, _server: Any) -> None:
        if self.owns_metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)


def prepare_metrics_dir() -> tuple[str, bool]:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is imported anywhere.

    Returns the directory and whether we created it (and so remove it at exit).
    """
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):  # stale samples of a previous run would be summed in
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return given, False
    made = tempfile.mkdtemp(prefix="zixly-webhook-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made, True
