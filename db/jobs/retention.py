"""The runner's retention pass: finished jobs past ``ZIXLY_JOB_RETENTION_DAYS`` go, per dialect.

PostgreSQL (job tables partitioned by id range, ``db.jobs.partitions``): whole ranges whose jobs
are all finished and past the retention are dropped, then the DEFAULT partition is pruned row by
row, then each generation of idempotency keys whose jobs are all gone is dropped whole
(``db.jobs.idempotency_keys``). A range with one unfinished or recent job waits whole (a job
outlives the retention by at most one range). SQLite: row by row, ``db.jobs.prune``, 5,000 jobs
per transaction. The scheduler's hourly tick and ``bench/prune.py`` both run this.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import Engine

from db.jobs import idempotency_keys, partitions
from db.jobs.log import prune

CHUNK = 5000


def retain(
    engine: Engine, retention_days: int, *, now: dt.datetime, should_stop: Callable[[], bool] = lambda: False
) -> partitions.Retired:
    """One retention pass; what it did (jobs gone, ranges dropped, its longest statement)."""
    out = partitions.Retired()
    cutoff = now - dt.timedelta(days=retention_days)
    pg = partitions.partitioned(engine)
    if pg:
        # The newest range's generation first, so the ranges below it are not held back by it.
        idempotency_keys.rotate(engine)
        with engine.connect() as conn:
            current = idempotency_keys.generations(conn)[-1].lo
        out = partitions.drop_expired(engine, retention_days, now=now, keep_from=current)
    while not should_stop():
        t = time.perf_counter()
        with engine.begin() as conn:
            if pg:
                n = partitions.prune_rows(conn, cutoff, CHUNK, table="pipeline_jobs_default")
            else:
                n = prune(conn, retention_days, limit=CHUNK, now=now)
        took = time.perf_counter() - t
        out.longest_transaction_s = max(out.longest_transaction_s, took)
        out.jobs += n
        out.row_transactions += 1
        if n < CHUNK:
            break
    if pg:  # after the DEFAULT's prune: its jobs' keys went with them, and its lowest id counts
        _, out.keys = idempotency_keys.drop_spent(engine)
    return out
