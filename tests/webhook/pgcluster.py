"""A throwaway PostgreSQL cluster (initdb in a temp dir, its own port) that tests may stop.

Never the shared server on :5432: outage tests stop and start only this one
(``initdb`` and ``pg_ctl`` from /usr/lib/postgresql/15/bin, run as postgres through ``runuser``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from process import free_port

PGBIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Cluster:
    root: Path
    port: int
    durable: bool = False  # fsync and synchronous commit on, as in production

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/zixly"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PGBIN / "pg_ctl"), "-D", str(self.root / "data"), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "30", "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


def available() -> bool:
    return (PGBIN / "initdb").exists() and shutil.which("runuser") is not None


@contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="zixly-pg-"))
    shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(root, free_port(), durable)
    try:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PGBIN / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=True,
            capture_output=True,
        )
        cluster.start()
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE zixly")
        yield cluster
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PGBIN / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
