"""``python -m integrations.sandbox``: serve the vendor emulators on 127.0.0.1:ZIXLY_SANDBOX_PORT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from werkzeug.serving import make_server

from integrations.sandbox import trickle
from integrations.sandbox.app import create_sandbox_app
from settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m integrations.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="overrides ZIXLY_SANDBOX_PORT")
    args = parser.parse_args(argv)
    settings = load_settings()
    port = args.port if args.port is not None else settings.sandbox_port
    logging.basicConfig(level=settings.log_level)
    # One process, many threads: emulator state is in memory and shared by every request.
    app = create_sandbox_app(settings)
    server = make_server(settings.sandbox_host, port, app, threaded=True)
    log = logging.getLogger("zixly.sandbox")
    log.info("sandbox listening on http://%s:%s", settings.sandbox_host, server.server_port)
    stop = threading.Event()
    # SIGTERM (honcho, docker stop) ends serve_forever cleanly; shutdown() must run off its thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if settings.sandbox_events_per_min > 0:
        # The demo trickle (integrations.sandbox.trickle) connects the demo tenant, then sends events.
        threading.Thread(target=trickle.run, args=(settings, stop, app), name="demo-trickle", daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
