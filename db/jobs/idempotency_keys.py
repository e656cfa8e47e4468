"""PostgreSQL's idempotency keys in generations: unique across all of them, dropped whole at retention.

Since migration 0020, ``job_idempotency_keys (tenant_id, idempotency_key, job_id, generation)``
is ``PARTITION BY LIST (generation)``, one partition ``job_idempotency_keys_g<lo>`` per row of
``job_key_generations (lo, closed_below, lowest_id)``. Every new key goes to the current
generation (the highest ``lo``); a closed generation's keys name ids from ``lowest_id`` to below
``closed_below``, so once no job in that span is left (whichever ranges retention dropped, in
whatever order) its partition is dropped whole: no row-by-row delete, no dead rows (at 10 M
jobs the delete was most of retention's 37–66 s, and left 3 M dead rows a month).

Why generations and not the jobs' own id ranges: a unique index on a partitioned table must
contain the partition key, so uniqueness is only per partition, and the enqueue must see
every other partition itself. Keys filed by their job's id range would break when two
deliveries of one key take ids either side of a range's end (both land in different partitions,
neither sees the other's uncommitted row). A generation is instead switched under a lock the
enqueue conflicts with (``rotate`` locks the parent, as creating the new partition must; the
enqueue holds ROW EXCLUSIVE on it until it commits), so:

* an enqueue that started before the switch finishes (commits) before it, and its keys are in
  the old generation;
* an enqueue that starts after takes its snapshot after the switch committed (READ COMMITTED
  takes a statement's snapshot once its tables are locked), reads the new generation, and sees
  every key of the closed ones: its ``NOT EXISTS`` over them is exact, and only the current
  generation can gain rows concurrently, where ``ON CONFLICT`` on its unique index waits for
  the other transaction.

A key of a closed generation counts only while its job exists: a generation may outlive some
of the jobs it names (it spans the end of an id range), and those keys are free again, as the
row-by-row delete made them. Retention records each id range it drops in
``job_ranges_dropped`` (in the drop's transaction), which the enqueue reads; a row there is
forgotten once no closed generation spans it. The generation's ``lo`` is the
``lo`` of the id range holding the newest id when it started (one generation per range, ~9 days
at 1,000,000 ids); the partitions tick switches, and retention switches before it drops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from db.jobs import partitions

log = logging.getLogger("zixly.jobs")


@dataclass(frozen=True)
class Generation:
    lo: int
    closed_below: int | None  # None: the current generation; its keys name ids below this
    lowest_id: int | None = None  # its keys name ids from this (known once closed and scanned)

    @property
    def table(self) -> str:
        return f"job_idempotency_keys_g{self.lo}"


def generations(conn: Connection) -> list[Generation]:
    """Every generation, oldest first; the last is the current one."""
    rows = conn.execute(text("SELECT lo, closed_below, lowest_id FROM job_key_generations ORDER BY lo")).all()
    return [Generation(int(r[0]), _int(r[1]), _int(r[2])) for r in rows]


def _int(v: object) -> int | None:
    return None if v is None else int(v)  # type: ignore[call-overload]


def rotate(engine: Engine, *, lock_timeout_ms: int = partitions.LOCK_TIMEOUT_MS) -> Generation | None:
    """Start a new generation once the newest id is in a range above the current one's ``lo``.

    Returns the new generation, or None (nothing to do, or the lock not had within the
    timeout: the enqueues in flight hold it; the next tick tries again).
    """
    try:
        with engine.begin() as conn:
            partitions.limit_lock_waits(conn, lock_timeout_ms)
            target = _newest_range_lo(conn)
            if target is None or target <= generations(conn)[-1].lo:
                return None
            # Waits for every enqueue in flight to commit; enqueues arriving meanwhile wait for us.
            conn.execute(text("LOCK TABLE ONLY job_idempotency_keys IN ACCESS EXCLUSIVE MODE"))
            current = generations(conn)[-1]  # again, under the lock: another runner may have switched
            if target <= current.lo:
                return None
            # No keyed insert is in flight: every key of ``current`` names an id handed out already.
            closed = int(conn.execute(text("SELECT pg_sequence_last_value('pipeline_jobs_id_seq')")).scalar() or 0)
            conn.execute(
                text("UPDATE job_key_generations SET closed_below = :c WHERE lo = :lo"),
                {"c": closed + 1, "lo": current.lo},
            )
            made = Generation(target, None)
            conn.execute(text(f"CREATE TABLE {made.table} PARTITION OF job_idempotency_keys FOR VALUES IN ({target})"))
            conn.execute(text("INSERT INTO job_key_generations (lo) VALUES (:lo)"), {"lo": target})
            return made
    except DBAPIError as exc:
        # The lock not had in time, or another runner made the generation first: nothing to do.
        if partitions.sqlstate(exc) in (partitions.LOCK_TIMED_OUT, partitions.ALREADY_EXISTS):
            return None
        raise


def _newest_range_lo(conn: Connection) -> int | None:
    newest = partitions.newest_id(conn)
    return max((r.lo for r in partitions.ranges(conn) if r.lo <= newest), default=None)


def _bounded(conn: Connection, g: Generation) -> Generation:
    """``g`` with the exact ids its keys name (one scan of its partition, once, after it closed).

    The switch's bound is the newest id at the switch (it cannot know which ids were keyed, and
    an id range's jobs may not all be keyed); once closed nothing is added to the partition, so
    its own lowest and highest ids are final, read without a lock and kept.
    """
    if g.closed_below is None or g.lowest_id is not None:
        return g
    low, high = conn.execute(text(f"SELECT min(job_id), max(job_id) FROM {g.table}")).one()
    lowest, below = (g.closed_below, g.closed_below) if low is None else (int(low), int(high) + 1)
    conn.execute(
        text("UPDATE job_key_generations SET lowest_id = :l, closed_below = :c WHERE lo = :lo"),
        {"l": lowest, "c": below, "lo": g.lo},
    )
    return Generation(g.lo, below, lowest)


def _spent(conn: Connection, g: Generation) -> bool:
    """Closed, and no job left among the ids its keys name (an index probe per id range)."""
    if g.closed_below is None or g.lowest_id is None:
        return False
    sql = "SELECT NOT EXISTS (SELECT 1 FROM pipeline_jobs WHERE id >= :l AND id < :c)"
    return bool(conn.execute(text(sql), {"l": g.lowest_id, "c": g.closed_below}).scalar())


def drop_spent(engine: Engine, *, lock_timeout_ms: int = partitions.LOCK_TIMEOUT_MS) -> tuple[int, int]:
    """Drop every closed generation whose jobs are all gone; (generations, keys) dropped.

    One short transaction per generation: ``DROP TABLE`` of a partition locks the parent (the
    enqueues wait) for a moment; a lock not had within the timeout leaves it to the next pass.
    """
    with engine.begin() as conn:
        spent = [g for g in (_bounded(conn, g) for g in generations(conn)) if _spent(conn, g)]
        sizes = {g.lo: int(conn.execute(text(f"SELECT count(*) FROM {g.table}")).scalar_one()) for g in spent}
    dropped = keys = 0
    for g in spent:
        try:
            with engine.begin() as conn:
                partitions.limit_lock_waits(conn, lock_timeout_ms)
                conn.execute(text(f"DROP TABLE IF EXISTS {g.table}"))
                conn.execute(text("DELETE FROM job_key_generations WHERE lo = :lo"), {"lo": g.lo})
        except DBAPIError as exc:
            if partitions.sqlstate(exc) != partitions.LOCK_TIMED_OUT:
                raise
            log.warning("idempotency keys of generation %d waited too long for a lock; next tick", g.lo)
            continue
        dropped += 1
        keys += sizes[g.lo]
    with engine.begin() as conn:  # dropped ranges no closed generation's keys can name any more
        conn.execute(text(_FORGET_DROPPED))
    return dropped, keys


_FORGET_DROPPED = """
DELETE FROM job_ranges_dropped d
WHERE d.hi <= (SELECT max(lo) FROM job_key_generations) AND NOT EXISTS (
    SELECT 1 FROM job_key_generations g
    WHERE g.closed_below IS NOT NULL AND coalesce(g.lowest_id, g.lo) < d.hi AND g.closed_below > d.lo)
"""
