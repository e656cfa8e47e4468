"""Serve the sandbox app until SIGTERM or Ctrl-C, optionally with companion threads.

A companion (the demo's event trickle, :mod:`demo.trickle`) gets the app, to reach the
emulators' in-memory state, and an event set when the server stops. The sandbox itself knows
nothing about its companions, so it never imports the demo (or the database it needs).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence

from flask import Flask
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from settings import Settings

Companion = Callable[[Flask, threading.Event], None]
log = logging.getLogger("zixly.sandbox")


def serve(settings: Settings, port: int | None = None, companions: Sequence[Companion] = ()) -> None:
    """Serve every emulator on ``ZIXLY_SANDBOX_HOST``:``port`` (default ``ZIXLY_SANDBOX_PORT``)."""
    # One process, many threads: emulator state is in memory and shared by every request.
    app = create_sandbox_app(settings)
    server = make_server(settings.sandbox_host, settings.sandbox_port if port is None else port, app, threaded=True)
    log.info("sandbox listening on http://%s:%s", settings.sandbox_host, server.server_port)
    stop = threading.Event()
    # SIGTERM (honcho, docker stop) ends serve_forever cleanly; shutdown() must run off its thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    for companion in companions:
        name = getattr(companion, "__name__", "companion")
        threading.Thread(target=companion, args=(app, stop), name=name, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
