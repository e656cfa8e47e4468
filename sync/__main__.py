"""``python -m sync``: run one runner process until SIGTERM/SIGINT (then drain and exit 0)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from prometheus_client import start_http_server

from logconfig import configure_logging
from settings import ConfigurationError, Settings, load_settings
from sync.listen import Listener
from sync.runner import Runner
from sync.scheduler import build_scheduler

log = logging.getLogger("zixly.runner")


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
    if not runner.start(until=stop):
        log.info("stopped before the database answered")
        return 0
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
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings, "runner")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per tick otherwise
    log.info("runner starting with %d slots", settings.runner_concurrency)
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
