"""procrastinate 3.10.0, tuned as its docs tune it.

- async tasks: a worker's ``concurrency`` runs async sub-workers, and the docs say not to use
  concurrency with synchronous blocking tasks (``App.run_worker`` docstring;
  docs/howto/concurrency.md, whose example is ``concurrency=30``);
- the connector's pool holds ``concurrency + 1`` connections: for short jobs "the more your pool
  will need to contain as many connections as your concurrency (plus one)" (docs/discussions.md,
  "Mind the size of your PostgreSQL pool"); psycopg_pool's default (4) starved the sub-workers;
- LISTEN/NOTIFY on (``listen_notify=True``, the default), jobs kept (``delete_jobs="never"``,
  the default; Zixly keeps its jobs too), batched enqueue with ``batch_defer``
  (docs/howto/basics/batch_defer.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Any

import psycopg

from bench.anchors.base import BATCH, System, libpq, payload, stamp

CONCURRENCY = int(os.environ.get("BENCH_PROC_CONCURRENCY", "30"))
SETTINGS = (
    f"async tasks, worker concurrency={CONCURRENCY}, PsycopgConnector pool max_size={CONCURRENCY + 1}, "
    "listen_notify=True; source: docs/howto/concurrency.md, docs/discussions.md (pool size), "
    "App.run_worker docstring, procrastinate 3.10.0"
)


def app(url: str, stamp_file: str | None = None) -> Any:
    import procrastinate

    connector = procrastinate.PsycopgConnector(conninfo=libpq(url), min_size=1, max_size=CONCURRENCY + 1)
    application = procrastinate.App(connector=connector)

    @application.task(name="noop")
    async def noop(**params: object) -> None:  # the payload (``--payload``) comes as keyword arguments
        return None

    @application.task(name="stamp")
    async def stamp_task(i: int) -> None:
        if stamp_file:
            stamp(stamp_file, str(i))

    return application


def worker(url: str, stamp_file: str) -> None:
    application = app(url, stamp_file)

    async def main() -> None:
        async with application.open_async():
            loop = asyncio.get_running_loop()
            print("ready", flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
            task = asyncio.create_task(
                application.run_worker_async(concurrency=CONCURRENCY, wait=True, install_signal_handlers=False)
            )
            await loop.run_in_executor(None, sys.stdin.readline)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)

    asyncio.run(main())


class ProcrastinateSystem(System):
    name = "procrastinate"
    settings = SETTINGS

    def setup(self) -> None:
        self.app = app(self.url)
        self.app.open()
        self.app.schema_manager.apply_schema()
        self.raw = psycopg.connect(libpq(self.url), autocommit=True)

    def clear(self) -> None:
        self.raw.execute("TRUNCATE procrastinate_jobs CASCADE")

    def enqueue_one(self, i: int) -> None:
        self.app.tasks["noop"].defer()

    def enqueue_batch(self, n: int) -> None:
        for start in range(0, n, BATCH):
            self.app.tasks["noop"].batch_defer(*(payload(i) for i in range(start, min(start + BATCH, n))))

    def enqueue_stamp(self, i: int) -> None:
        self.app.tasks["stamp"].defer(i=i)

    def any_left(self) -> bool:
        sql = "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))"
        row = self.raw.execute(sql).fetchone()
        return bool(row and row[0])

    def processed(self) -> int:
        row = self.raw.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.raw.close()
        self.app.close()
