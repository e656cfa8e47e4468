"""Waking the runners after intake commits, off the request path.

A ``NOTIFY`` inside the intake transaction would make PostgreSQL serialise the commits of every
worker (one cluster-wide lock held until the commit is flushed; see ``db.jobs.notify_runners``),
so concurrent deliveries could not share an fsync. Instead each worker pokes this after its
commit; a daemon thread sends one asynchronous-commit NOTIFY, on a connection of its own, for
every burst of pokes (at most one per ``min_interval_s``, so a busy listener costs PostgreSQL a
few NOTIFYs a second, not one per delivery). If it fails, the runners' poll
(``ZIXLY_RUNNER_POLL_S``) finds the jobs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from db.wakeup import wake_runners, wake_runners_connection

log = logging.getLogger("webhook")

IDLE_S = 5.0  # a worker with no deliveries for this long closes its NOTIFY connection


class RunnerWakeup:
    def __init__(self, engine: Engine, min_interval_s: float = 0.05) -> None:
        self.engine = engine
        self.min_interval_s = min_interval_s
        self._poked = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Ask for a NOTIFY soon (returns at once)."""
        if self.engine.dialect.name != "postgresql":
            return  # SQLite runners poll
        if self._thread is None or self._pid != os.getpid():  # first use in this (forked) worker
            with self._lock:
                if self._thread is None or self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._poked = threading.Event()
                    self._thread = threading.Thread(target=self._run, name="zixly-wakeup", daemon=True)
                    self._thread.start()
        self._poked.set()

    def _run(self) -> None:
        poked = self._poked
        conn: Connection | None = None
        while True:
            if not poked.wait(IDLE_S):
                with self._lock:  # idle: hand the connection back and end (a poke starts a new thread)
                    if not poked.is_set():
                        self._thread = None
                        break
            poked.clear()
            try:
                if conn is None:
                    conn = wake_runners_connection(self.engine)
                wake_runners(conn)
            except SQLAlchemyError as exc:
                log.warning("could not wake the runners (%s); they will poll", type(exc).__name__)
                self._close(conn)
                conn = None
            # Pokes arriving meanwhile are coalesced into the next NOTIFY.
            time.sleep(self.min_interval_s)
        self._close(conn)

    @staticmethod
    def _close(conn: Connection | None) -> None:
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()  # not pooled: the connection is gone; a new one next time
