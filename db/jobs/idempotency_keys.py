"""PostgreSQL's idempotency keys in generations: unique across all of them, dropped whole at retention.

Since migration 0020, ``job_idempotency_keys (tenant_id, idempotency_key, job_id, generation)``
is ``PARTITION BY LIST (generation)``, one partition ``job_idempotency_keys_g<lo>`` per row of
``job_key_generations (lo, closed_below)``. Every new key goes to the current generation (the
highest ``lo``); a closed generation's keys all name jobs with ids below its ``closed_below``, so
once every job below it is gone its partition is dropped whole: no row-by-row delete, no dead
rows (at 10 M jobs the delete was most of retention's 37–66 s, and left 3 M dead rows a month).

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

A key of a closed generation counts only while its job exists (the enqueue joins the jobs):
a generation may outlive some of the jobs it names (it spans the end of an id range), and
those keys are free again, as the row-by-row delete made them. The generation's ``lo`` is the
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
    closed_below: int | None  # None: the current generation

    @property
    def table(self) -> str:
        return f"job_idempotency_keys_g{self.lo}"


def generations(conn: Connection) -> list[Generation]:
    """Every generation, oldest first; the last is the current one."""
    rows = conn.execute(text("SELECT lo, closed_below FROM job_key_generations ORDER BY lo")).all()
    return [Generation(int(r[0]), None if r[1] is None else int(r[1])) for r in rows]


def rotate(engine: Engine, *, lock_timeout_ms: int = partitions.LOCK_TIMEOUT_MS) -> Generation | None:
    """Start a new generation once the newest id is in a range above the current one's ``lo``.

    Returns the new generation, or None (nothing to do, or the lock not had within the
    timeout: the enqueues in flight hold it; the next tick tries again).
    """
    try:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'"))
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
        if getattr(exc.orig, "sqlstate", None) in ("55P03", "42P07"):  # lock timeout; another runner made it
            return None
        raise


def _newest_range_lo(conn: Connection) -> int | None:
    newest = partitions.newest_id(conn)
    return max((r.lo for r in partitions.ranges(conn) if r.lo <= newest), default=None)


def lowest_live_id(conn: Connection) -> int:
    """No job below this id exists: the lowest range's ``lo``, or a lower id in the DEFAULT partition."""
    candidates = [r.lo for r in partitions.ranges(conn)[:1]]
    in_default = conn.execute(text("SELECT min(id) FROM pipeline_jobs_default")).scalar()
    if in_default is not None:
        candidates.append(int(in_default))
    return min(candidates) if candidates else partitions.newest_id(conn) + 1


def _spent(g: Generation, floor: int) -> bool:
    return g.closed_below is not None and g.closed_below <= floor


def _tightened(conn: Connection, g: Generation, floor: int) -> Generation:
    """``g`` with ``closed_below`` lowered to its highest job id + 1 where that may make it spent.

    The switch's bound is the newest id at the switch (read under its lock, so it cannot know
    which ids were keyed); the generation's own highest id is one scan of its partition, safe
    without a lock once it is closed (nothing is added to it), made only for the generation
    the lowest live id has reached.
    """
    if g.closed_below is None or g.closed_below <= floor or g.lo >= floor:
        return g
    top = conn.execute(text(f"SELECT max(job_id) FROM {g.table}")).scalar()
    exact = g.lo if top is None else int(top) + 1
    if exact >= g.closed_below:
        return g
    conn.execute(text("UPDATE job_key_generations SET closed_below = :c WHERE lo = :lo"), {"c": exact, "lo": g.lo})
    return Generation(g.lo, exact)


def drop_spent(engine: Engine, *, lock_timeout_ms: int = partitions.LOCK_TIMEOUT_MS) -> tuple[int, int]:
    """Drop every closed generation whose jobs are all gone; (generations, keys) dropped.

    One short transaction per generation: ``DROP TABLE`` of a partition locks the parent (the
    enqueues wait) for a moment; a lock not had within the timeout leaves it to the next pass.
    """
    with engine.begin() as conn:
        floor = lowest_live_id(conn)
        spent = [g for g in (_tightened(conn, g, floor) for g in generations(conn)) if _spent(g, floor)]
        sizes = {g.lo: int(conn.execute(text(f"SELECT count(*) FROM {g.table}")).scalar_one()) for g in spent}
    dropped = keys = 0
    for g in spent:
        try:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'"))
                conn.execute(text(f"DROP TABLE IF EXISTS {g.table}"))
                conn.execute(text("DELETE FROM job_key_generations WHERE lo = :lo"), {"lo": g.lo})
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":
                raise
            log.warning("idempotency keys of generation %d waited too long for a lock; next tick", g.lo)
            continue
        dropped += 1
        keys += sizes[g.lo]
    return dropped, keys
