"""CPU time a queue spends per job: its worker processes plus the PostgreSQL backends serving them.

As ``bench/webhook.py`` counts the listener's: psutil's user + system time of each process. The
backends are found by the client ports of the workers' own TCP connections (``pg_stat_activity.
client_port``), so the bench's probe and enqueue connections are not counted; PostgreSQL's
shared background processes (WAL writer, checkpointer) are not either, for any system.
"""

from __future__ import annotations

import psutil
import psycopg


def tree(pids: list[int]) -> list[int]:
    """The processes and all their descendants (node's helpers, a runner's children)."""
    out: list[int] = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out += [pid] + [child.pid for child in proc.children(recursive=True)]
        except psutil.Error:
            continue
    return out


def backends(admin: psycopg.Connection, database: str, pids: list[int]) -> list[int]:
    """The backends of ``database`` whose client is one of ``pids``' TCP connections."""
    ports: set[int] = set()
    for pid in pids:
        try:
            ports |= {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr}
        except psutil.Error:
            continue
    sql = "SELECT pid, client_port FROM pg_stat_activity WHERE datname = %s"
    return [pid for pid, port in admin.execute(sql, (database,)).fetchall() if port in ports]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    times: dict[int, float] = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        times[pid] = t.user + t.system
    return times


class Meter:
    """CPU of a set of worker processes and their backends between ``start()`` and ``stop()``."""

    def __init__(self, admin: psycopg.Connection, database: str, worker_pids: list[int]) -> None:
        self.admin, self.database, self.worker_pids = admin, database, worker_pids

    def _sample(self) -> tuple[dict[int, float], dict[int, float]]:
        procs = tree(self.worker_pids)
        return cpu_seconds(procs), cpu_seconds(backends(self.admin, self.database, procs))

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        """Seconds of CPU since ``start()``: ``workers``, ``postgres`` (and how many ``backends``
        served them); a process new since counts from 0. psutil reads whole clock ticks (10 ms)
        per process, so a tiny run may show 0 for a side that did work."""
        after = self._sample()
        spent = [
            sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())
            for before, now in zip(self.before, after, strict=True)
        ]
        return {"workers": spent[0], "postgres": spent[1], "backends": len(after[1])}
