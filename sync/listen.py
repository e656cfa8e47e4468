"""PostgreSQL LISTEN: wake the dispatcher within milliseconds of a committed enqueue."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from db.jobs import CHANNEL

log = logging.getLogger("zixly.runner")


def libpq_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener(threading.Thread):
    """Holds one LISTEN connection; calls ``on_notify`` per notification (and after reconnecting).

    Polling stays on as the fallback, so a dropped connection costs latency, never jobs.
    """

    def __init__(self, database_url: str, on_notify: Callable[[], None], stopping: threading.Event) -> None:
        super().__init__(name="listener", daemon=True)
        self._url = libpq_url(database_url)
        self._on_notify = on_notify
        self._stopping = stopping
        self.ready = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    self._on_notify()  # catch up with anything enqueued while we were away
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._on_notify()
            except psycopg.Error as exc:
                self.ready.clear()
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                self._stopping.wait(1.0)
