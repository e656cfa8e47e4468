"""graphile-worker 0.17.3 (Node), with the batching preset of its performance page.

Installed from npm into ``bench/anchors/graphile/`` only (``make bench-graphile`` runs ``npm ci``
there; nothing of it is part of the product). Its worker is ``graphile/worker.mjs``; the bench
enqueues through graphile-worker's SQL API (``graphile_worker.add_job`` / ``add_jobs``, the
latter as its perfTest's ``init.js`` does), and jobs leave its table on completion.
"""

from __future__ import annotations

import json
import os
import shutil

import psycopg

from bench.anchors.base import BATCH, System, libpq, payload

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graphile")
WORKER = os.path.join(HERE, "worker.mjs")
SETTINGS = (
    "concurrentJobs 24, maxPoolSize 25, localQueue {size: 500}, completeJobBatchDelay 0, "
    "failJobBatchDelay 0, prepared statements on; source: worker.graphile.org/docs/performance and "
    "perfTest/graphile.config.js, perfTest/run.js (-j 24 -m 25), perfTest/init.js (add_jobs)"
)


def missing() -> str | None:
    """Why graphile-worker cannot run here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.path.isdir(os.path.join(HERE, "node_modules", "graphile-worker")):
        return "graphile-worker is not installed (make bench-graphile)"
    return None


def job_specs(identifier: str, payloads: list[dict[str, object]]) -> str:
    """A ``graphile_worker.job_spec[]`` literal, as perfTest/init.js builds it."""

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rows = [quote(f"({quote(identifier)},{quote(json.dumps(p))},,,,,,)") for p in payloads]
    return "{" + ",".join(rows) + "}"


class GraphileSystem(System):
    name = "graphile"
    settings = SETTINGS

    def worker_command(self, stamp_file: str) -> list[str]:
        return ["node", WORKER, libpq(self.url), stamp_file]

    def setup(self) -> None:
        # The worker installs the schema; one started and stopped here makes it exist for the bench.
        import subprocess

        done = subprocess.run(self.worker_command(os.devnull), input="\n\n", capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"graphile-worker failed to start: {done.stderr[-2000:]}")
        self.raw = psycopg.connect(libpq(self.url), autocommit=True)

    def clear(self) -> None:
        self.raw.execute("TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues CASCADE")

    def enqueue_one(self, i: int) -> None:
        self.raw.execute("SELECT graphile_worker.add_job('noop', '{}'::json)")

    def enqueue_batch(self, n: int) -> None:
        sql = "SELECT graphile_worker.add_jobs(%s::graphile_worker.job_spec[])"
        for start in range(0, n, BATCH):
            payloads = [payload(i) for i in range(start, min(start + BATCH, n))]
            self.raw.execute(sql, (job_specs("noop", payloads),))

    def enqueue_stamp(self, i: int) -> None:
        self.raw.execute("SELECT graphile_worker.add_job('stamp', json_build_object('i', %s::int))", (i,))

    def any_left(self) -> bool:  # done jobs leave the table
        row = self.raw.execute("SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs)").fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self.raw.close()
