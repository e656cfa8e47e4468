"""pgqueuer 1.6.0, run as its own benchmark runs it.

Its benchmark (``tools/benchmark.py`` in the 1.6.0 sdist, documented in its
``docs/comparisons/benchmarks.md``) drives it with the asyncpg driver (``-d apg``, the default),
``--dequeue 5`` (five ``PgQueuer`` instances, each on its own asyncpg connection, in one
process), ``--dequeue-batch-size 10``, under uvloop. Each worker process here is one such
consumer. Its LISTEN/NOTIFY wake-up then works: with the psycopg driver the enqueue→start
latency measured here was its ~1 s poll (the driver's notification watcher holds the
connection while it waits, so the wake-up's dequeue queued behind it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from bench.anchors.base import BATCH, System, libpq, payload, stamp

DEQUEUE = int(os.environ.get("BENCH_PGQ_DEQUEUE", "5"))
BATCH_SIZE = int(os.environ.get("BENCH_PGQ_BATCH", "10"))
SETTINGS = (
    f"asyncpg driver, uvloop, {DEQUEUE} PgQueuer instances per process (one connection each), "
    f"run(batch_size={BATCH_SIZE}); source: tools/benchmark.py defaults (-d apg --dequeue 5 "
    "--dequeue-batch-size 10) and docs/comparisons/benchmarks.md, pgqueuer 1.6.0 sdist"
)


def worker(url: str, stamp_file: str) -> None:
    import asyncpg
    import uvloop
    from pgqueuer import AsyncpgDriver, Job, PgQueuer, Queries

    async def main() -> None:
        pgqs = []
        for _ in range(DEQUEUE):
            queries = Queries(AsyncpgDriver(await asyncpg.connect(dsn=libpq(url))))
            pgq = PgQueuer(queries.driver, queries=queries)

            @pgq.entrypoint("noop")
            async def noop(job: Job) -> None:
                return None

            @pgq.entrypoint("stamp")
            async def stamp_job(job: Job) -> None:
                stamp(stamp_file, (job.payload or b"").decode())

            pgqs.append(pgq)
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        tasks = [asyncio.create_task(pgq.run(batch_size=BATCH_SIZE)) for pgq in pgqs]
        await loop.run_in_executor(None, sys.stdin.readline)
        for pgq in pgqs:
            pgq.shutdown.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    uvloop.run(main())


class PgQueuerSystem(System):
    name = "pgqueuer"
    settings = SETTINGS

    def setup(self) -> None:
        import asyncpg
        from pgqueuer import AsyncpgDriver, Queries

        self.loop = asyncio.new_event_loop()
        self.conn: Any = self.loop.run_until_complete(asyncpg.connect(dsn=libpq(self.url)))
        self.q = Queries(AsyncpgDriver(self.conn))
        self.loop.run_until_complete(self.q.install())

    def clear(self) -> None:
        self.loop.run_until_complete(self.conn.execute("TRUNCATE pgqueuer, pgqueuer_log"))

    def enqueue_one(self, i: int) -> None:
        self.loop.run_until_complete(self.q.enqueue("noop", None))

    def enqueue_batch(self, n: int) -> None:
        for start in range(0, n, BATCH):
            k = min(BATCH, n - start)
            payloads = [json.dumps(p).encode() if (p := payload(start + j)) else None for j in range(k)]
            self.loop.run_until_complete(self.q.enqueue(["noop"] * k, payloads, [0] * k))

    def enqueue_stamp(self, i: int) -> None:
        self.loop.run_until_complete(self.q.enqueue("stamp", str(i).encode()))

    def any_left(self) -> bool:  # done jobs leave the table
        return bool(self.loop.run_until_complete(self.conn.fetchval("SELECT EXISTS (SELECT 1 FROM pgqueuer)")))

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()
