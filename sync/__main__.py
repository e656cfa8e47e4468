"""``python -m sync``: run one runner process until SIGTERM/SIGINT (then drain and exit 0)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from prometheus_client import start_http_server

from settings import Settings, load_settings
from sync.listen import Listener
from sync.runner import Runner
from sync.scheduler import build_scheduler

log = logging.getLogger("zixly.runner")


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def serve(settings: Settings) -> int:
    runner = Runner(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: draining", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.runner_metrics_port:
        try:
            start_http_server(settings.runner_metrics_port, addr=settings.runner_metrics_host)
        except OSError as exc:  # e.g. a second runner on one host: run on, without /metrics
            log.warning("metrics port %d unavailable: %s", settings.runner_metrics_port, exc)
    runner.start()
    scheduler = build_scheduler(runner)
    scheduler.start()
    if not settings.is_sqlite:
        Listener(settings.database_url, runner.wake, runner.stopping).start()
    while not stop.wait(0.2):
        pass
    runner.stop()  # heartbeats keep ticking through the grace period
    scheduler.shutdown(wait=False)
    return 0


def main() -> int:
    settings = load_settings()
    configure_logging(settings)
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
