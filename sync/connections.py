"""The runner's database connections: the shared pool, and one own connection per hot statement.

The three statements every job passes through each have their own connection on PostgreSQL,
used by one thread only: the dispatcher's claims, the starter's starts and the finisher's
outcomes. Each is planned once, generically (``plan_cache_mode=force_generic_plan``; psycopg
prepares a statement on its fifth execution): planned afresh for every batch, as PostgreSQL
chose to for the batch-sized arrays, the planning cost more than the execution — 930 against
560 µs of wall time per 4-start statement, and for a claim of 16 (a partitioned table, four
CTEs) 110–118 against 40–77 µs of PostgreSQL CPU per job (docs/benchmarks.md). On SQLite (one
writer, no plans to keep) all of them use the runner's engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from db.engine import hot_statement_engine
from settings import Settings

# The shared pool keeps at most this many connections for workers, whatever their number. A worker
# holds one only while it writes a step or a record (a short transaction of its own), so workers
# beyond it wait a moment for one. A runner tuned for many tiny jobs (128 workers in
# bench/job_queue.py) must not open a connection per worker: PostgreSQL's connections are shared
# by every runner, listener and dashboard (max_connections is 100 by default), and three runners
# of 128 tiny-job workers with 32 each ran out of them in the kill -9 test (its own connections:
# this pool + 3 + 4 overflow, the three hot statements' 1 + 1 each, the LISTEN connection).
WORKER_CONNECTIONS = 8


def pool_options(settings: Settings) -> dict[str, Any]:
    """The shared pool's options: workers (steps), heartbeats and ticks."""
    if settings.is_sqlite:
        return {}
    return {
        "pool_size": min(settings.runner_concurrency, WORKER_CONNECTIONS) + 3,
        "max_overflow": 4,
        # No ping round trip per checkout on the hot path: a connection broken by a database
        # restart fails one operation, the pool is invalidated, and the next tick retries.
        "pool_pre_ping": False,
        # Claims, heartbeats and steps commit asynchronously (no WAL flush wait). A database
        # crash can then forget only a claim or a log line: the job is queued again, exactly as
        # after a runner crash. Outcomes are written with synchronous commit (``outcome_engine``),
        # and flushing them flushes every earlier step of the job too (the WAL is sequential).
        "connect_args": {"options": "-c synchronous_commit=off"},
    }


def claim_engine(engine: Engine) -> Engine:
    """The dispatcher's: a claim (and, rarely, its key-race check) in one transaction, committed asynchronously."""
    return hot_statement_engine(engine, durable=False)


def start_engine(engine: Engine) -> Engine:
    """The starter's: a batch of starts is one UPDATE that commits on its own (autocommit: one
    round trip, where BEGIN / UPDATE / COMMIT took three), asynchronously like the claim it follows."""
    return hot_statement_engine(engine, durable=False, autocommit=True)


def outcome_engine(engine: Engine) -> Engine:
    """The finisher's: outcomes are durable (synchronous commit, set once for the connection
    rather than by a ``SET LOCAL`` round trip per batch)."""
    return hot_statement_engine(engine, durable=True)
