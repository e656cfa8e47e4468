"""Waking the runners from the listener: one asynchronous-commit NOTIFY on a connection of its own.

``webhook/wakeup.py`` calls these after intake commits (never inside the intake transaction:
PostgreSQL serialises the commits of all transactions that NOTIFY).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from db.jobs._sql import CHANNEL


def wake_runners_connection(engine: Engine) -> Connection:
    """A connection of its own for waking the runners: autocommit, asynchronous commit.

    Not from the pool: ``synchronous_commit = off`` must never reach a connection that
    acknowledges deliveries. A NOTIFY then costs one round trip and holds PostgreSQL's
    notify lock for microseconds instead of an fsync.
    """
    own = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    conn = own.connect()
    conn.exec_driver_sql("SET synchronous_commit = off")
    return conn


def wake_runners(conn: Connection) -> None:
    conn.exec_driver_sql(f"SELECT pg_notify('{CHANNEL}', '')")
