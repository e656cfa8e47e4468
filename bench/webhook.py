"""Benchmark of the webhook listener: gunicorn on PostgreSQL, signed Shopify deliveries.

Runs from a fresh clone with requirements-dev.lock (pure Python); ``--load-generator wrk``
drives the saturation phase with ``wrk`` instead (apt-get install wrk), which costs the shared
cores far less per request than the Python client. Steps:

1. create a scratch database on the test PostgreSQL server (``ZIXLY_TEST_POSTGRES_URL``,
   default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), migrate it, seed tenants
   with Shopify connections; it is dropped at the end;
2. start ``python -m webhook`` (gunicorn) on a free loopback port;
3. saturation: closed-loop clients (processes × keep-alive connections, or wrk threads ×
   connections each cycling through its share of pre-signed unique deliveries) for ``--saturation-s``;
4. fixed rate: an open-loop schedule of ``--rate`` requests/s for ``--duration-s``; latency is
   measured from each request's *scheduled* time, so a stall is not hidden (no coordinated
   omission);
5. checks that every acknowledged delivery is in the database with its job.

Every request is a unique ``orders/paid`` delivery (own order id and event id), signed with
the app secret: each one is verified, deduplicated, stored and enqueued in one transaction
before its 202. The per-tenant rate limit is raised out of the way (its counter is still
updated on every request). The last line printed is JSON:
``{"saturation_rps": …, "load_generator": "python" | "wrk",
"fixed_rate": {"rps": 200, "p50_ms": …, "p95_ms": …, "p99_ms": …, "errors": …}}``.

    python bench/webhook.py                      # defaults: 2 workers, 10 s saturation, 200/s × 30 s
    python bench/webhook.py --load-generator wrk --client-threads 2 --connections 64
    python bench/webhook.py --slow-clients 100   # 100 trickling connections during the fixed-rate run
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import itertools
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import threading
import time
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Imports resolve against the project root (and the listener test helpers), never bench/ itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "webhook"))

import psutil  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

SECRET = "bench-shopify-secret"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def shop(i: int) -> str:
    return f"bench-{i}.myshopify.com"


def signed_delivery(n: int, tag: str, shops: int) -> tuple[bytes, dict[str, str]]:
    order_id = 10**12 + n
    body = json.dumps(
        {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#{n}",
            "financial_status": "paid",
            "total_price": "42.00",
            "currency": "EUR",
            "line_items": [{"title": "Widget", "quantity": 2, "price": "21.00"}],
            # Shopify's dedup key is the topic and a digest of the body: each phase's bodies
            # must differ from the others' (the warm-up's order 10**9 is the saturation's too).
            "tags": f"bench-{tag}",
        }
    ).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Shop-Domain": shop(n % shops),
        "X-Shopify-Event-Id": f"{tag}-{n}",
        "X-Shopify-Webhook-Id": f"wh-{tag}-{n}",
        "X-Shopify-API-Version": "2026-10",
    }
    return body, headers


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("POST", "/webhook/shopify", body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    return 0
        return 0


# -- saturation: closed loop ------------------------------------------------------------------


def _saturate(  # type: ignore[type-arg]
    port: int, seconds: float, threads: int, offset: int, shops: int, tag: str, out: mp.Queue
) -> None:
    counter = itertools.count()
    ok = [0] * threads
    errors = [0] * threads
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    def run(t: int) -> None:
        client = Client(port)
        while time.perf_counter() < deadline:
            n = offset + next(counter)
            status = client.post(*signed_delivery(n, tag, shops))
            if status == 202:
                ok[t] += 1
            else:
                errors[t] += 1
                statuses[status] = statuses.get(status, 0) + 1

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((sum(ok), sum(errors), statuses))


def saturation(
    port: int, seconds: float, processes: int, threads: int, shops: int, tag: str = "sat"
) -> tuple[float, int, int]:
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [
        mp.Process(target=_saturate, args=(port, seconds, threads, 10**9 * (p + 1), shops, tag, queue))
        for p in range(processes)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    for r in results:
        for status, n in r[2].items():
            print(f"  saturation: {n} answers with status {status or 'connection error'}")
    return ok / elapsed, ok, errors


# -- saturation with wrk: a C load generator, far cheaper per request than the Python client ----

WRK_SCRIPT = r"""
-- Each wrk thread sends its own share of pre-signed unique deliveries (never one twice) and
-- counts the answers by status; done() prints them as one JSON line.
local threads, next_id = {}, 0
function setup(thread)
  thread:set("tid", next_id); next_id = next_id + 1
  table.insert(threads, thread)
end
local requests, sent = {}, 0
statuses = {}  -- a global: done() reads it with thread:get
function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local body, digest, shop, event = line:match("^(.-)\t(.-)\t(.-)\t(.-)$")
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json", ["X-Shopify-Hmac-Sha256"] = digest,
        ["X-Shopify-Topic"] = "orders/paid", ["X-Shopify-Shop-Domain"] = shop,
        ["X-Shopify-Event-Id"] = event, ["X-Shopify-Webhook-Id"] = "wh-" .. event,
        ["X-Shopify-API-Version"] = "2026-10"}, body)
    end
    i = i + 1
  end
end
function request()
  sent = sent + 1
  if sent > #requests then sent = 1 end  -- ran out: repeats, answered 200 (duplicate), not 202
  return requests[sent]
end
function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end
function done(summary, latency, _requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(total) do parts[#parts + 1] = string.format('"%s": %d', status, n) end
  io.write(string.format('WRK {"statuses": {%s}, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    table.concat(parts, ", "), summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def saturation_wrk(
    port: int, seconds: float, threads: int, connections: int, shops: int, workdir: Path
) -> tuple[float, int, int]:
    """Closed loop with ``wrk`` (``threads`` × ``connections``), every request a unique signed delivery."""
    import subprocess

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--load-generator wrk: wrk is not installed (apt-get install wrk)")
    count = int(max(20_000, 3_000 * seconds))  # more than two cores can take in ``seconds``
    data = workdir / "deliveries.tsv"
    with data.open("w") as out:
        for n in range(count):
            body, headers = signed_delivery(5 * 10**9 + n, "wrk", shops)
            out.write(
                f"{body.decode()}\t{headers['X-Shopify-Hmac-Sha256']}\t{headers['X-Shopify-Shop-Domain']}"
                f"\t{headers['X-Shopify-Event-Id']}\n"
            )
    script = workdir / "deliveries.lua"
    script.write_text(WRK_SCRIPT)
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script)]
    command += [f"http://127.0.0.1:{port}/webhook/shopify", "--", str(data), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    result = json.loads(line[4:])
    statuses = {int(k): v for k, v in result["statuses"].items()}
    ok = statuses.pop(202, 0)
    for status, n in sorted(statuses.items()):
        print(f"  saturation: {n} answers with status {status}")
    errors = sum(statuses.values()) + sum(int(x) for x in _wrk_socket_errors(done.stdout))
    print(
        f"  wrk: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms ({threads} threads × {connections} connections)"
    )
    return ok / result["seconds"], ok, errors


def _wrk_socket_errors(output: str) -> list[str]:
    """The counts of wrk's "Socket errors: connect N, read N, write N, timeout N" line."""
    import re

    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return list(found.groups()) if found else []


# -- fixed rate: open loop --------------------------------------------------------------------


def fixed_rate(port: int, rate: float, seconds: float, threads: int, shops: int) -> dict[str, float | int]:
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    start = time.perf_counter() + 0.2

    def run() -> None:
        nonlocal errors
        client = Client(port)
        while True:
            i = next(counter)
            if i >= total:
                return
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = client.post(*signed_delivery(i, "fix", shops))
            took = time.perf_counter() - due  # from the schedule, not from the send
            with lock:
                latencies.append(took)
                if status != 202:
                    errors += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    achieved = len(latencies) / (time.perf_counter() - start)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "rps": int(rate),
        "achieved_rps": round(achieved, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "errors": errors,
    }


# -- slow clients: connections trickling their body or headers --------------------------------


def _slow_clients(port: int, n: int, stop: MpEvent, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Hold ``n`` slow connections until ``stop``; probe ``/health`` meanwhile.

    Four in five send ``POST /webhook/xero`` with ``Content-Length: 1000`` and then one body
    byte every 2 s; the others send their headers a byte every 2 s. One answered (408) or
    closed comes straight back. Reports connections held, answers by status, /health latencies.
    """
    import select
    import socket

    body_head = (
        b"POST /webhook/xero HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"x-xero-signature: bm90LXJlYWQ=\r\nContent-Length: 1000\r\n\r\n"
    )
    slow_head = b"POST /webhook/shopify HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"x" * 4000

    def open_one(i: int) -> tuple[socket.socket, bytes]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 5:
            sock.sendall(body_head)
            return sock, b"{" + b" " * 998 + b"}"
        return sock, slow_head

    conns = [open_one(i) for i in range(n)]
    answers: dict[str, int] = {}
    held: list[int] = []
    health: list[float] = []
    health_errors = 0

    def probe() -> None:
        nonlocal health_errors
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                client.request("GET", "/health")
                response = client.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            health.append(time.perf_counter() - t0)
            health_errors += not ok
            time.sleep(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    next_byte = time.monotonic()
    while not stop.is_set():
        readable, _, _ = select.select([c[0] for c in conns], [], [], 0.1)
        for i, (sock, _pending) in enumerate(conns):
            if sock in readable:
                try:
                    reply = sock.recv(65536)
                except OSError:
                    reply = b""
                status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "closed"
                answers[status] = answers.get(status, 0) + 1
                sock.close()
                conns[i] = open_one(i)
        if time.monotonic() >= next_byte:
            next_byte += 2.0
            for i, (sock, pending) in enumerate(conns):
                try:
                    sock.send(pending[:1])
                except OSError:
                    continue
                conns[i] = (sock, pending[1:])
            held.append(len(conns))
    prober.join()
    for sock, _ in conns:
        sock.close()
    q = statistics.quantiles(health, n=100, method="inclusive") if len(health) > 1 else [0.0] * 99
    out.put(
        {
            "held_min": min(held, default=n),
            "answers": answers,
            "health_p99_ms": round(q[98] * 1000, 2),
            "health_max_ms": round(max(health, default=0.0) * 1000, 2),
            "health_errors": health_errors,
        }
    )


# -- CPU accounting ---------------------------------------------------------------------------


def _cpu_s(pids: list[int]) -> dict[int, tuple[float, float]]:
    """(user, system) CPU seconds of each process, by pid (a process gone meanwhile is left out)."""
    times: dict[int, tuple[float, float]] = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        times[pid] = (t.user, t.system)
    return times


def _spent(before: dict[int, tuple[float, float]], after: dict[int, tuple[float, float]], part: int = -1) -> float:
    """CPU seconds spent since ``before``: user (``part`` 0), system (1) or both (-1)."""
    # A process started since ``before`` (a backend opened by a pool under load) counts from 0.
    parts = (0, 1) if part < 0 else (part,)
    return sum(cpu[i] - before.get(pid, (0.0, 0.0))[i] for pid, cpu in after.items() for i in parts)


def _metrics(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def answered_within(port: int) -> dict[str, float]:
    """The listener's own count of accepted Shopify deliveries answered within each bucket (seconds).

    From its ``http_request_duration_seconds`` histogram: the time from the complete request to
    its answer, inside the listener, without the client's share of the latency.
    """
    counts: dict[str, float] = {}
    for line in _metrics(port).splitlines():
        if line.startswith("http_request_duration_seconds_bucket") and "shopify" in line and 'status="202"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            counts[bound] = counts.get(bound, 0.0) + float(line.split()[-1])
    return counts


def group_commits(port: int) -> tuple[float, float]:
    """(deliveries, transactions) the listener's group commit wrote so far (0, 0 without one)."""
    text = _metrics(port)
    found = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"webhook_group_commit_deliveries_{part} "):
                found[part] = float(line.split()[1])
    return found["sum"], found["count"]


def _backends(conn: psycopg.Connection, name: str) -> list[int]:  # type: ignore[type-arg]
    """The pids of database ``name``'s backends."""
    return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]


def server_pids(listener_port: int, server_url: str, name: str) -> tuple[list[int], list[int]]:
    """The gunicorn workers serving ``listener_port`` and the PostgreSQL backends of database ``name``."""
    serving: dict[int, int] = {}  # pid -> parent pid, of every process holding the listening socket
    for proc in psutil.process_iter(["cmdline", "ppid"]):
        cmd = proc.info.get("cmdline") or []
        if any("zixly-webhook" in part or part == "webhook" for part in cmd):
            try:
                if any(c.laddr.port == listener_port for c in proc.net_connections(kind="tcp")):
                    serving[proc.pid] = proc.info["ppid"]
            except psutil.Error:
                continue
    workers = [pid for pid, parent in serving.items() if parent in serving] or list(serving)
    with _admin(server_url) as conn:
        backends = _backends(conn, name)
    return sorted(set(workers)), backends


class BackendWatch:
    """The database's backends, read every 50 ms while a phase runs: each one's CPU as last seen.

    Read only at the start and the end, a backend a pool opened and closed during the phase
    (an overflow connection) was never seen, and one open at the start but closed by the end was
    dropped: the listener's PostgreSQL CPU read 0.03–0.17 ms per delivery where the whole
    (private) cluster spent 0.28 (docs/benchmarks.md, "Webhook listener", 2026-12-07 08:00). What a
    backend spends in its last 50 ms, or in a life shorter than that, is still missed.
    """

    def __init__(self, server_url: str, name: str) -> None:
        self.seen: dict[int, tuple[float, float]] = {}
        self._url, self._name = server_url, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with _admin(self._url) as conn:
            while True:
                self.seen.update(_cpu_s(_backends(conn, self._name)))
                if self._stop.wait(0.05):
                    return


def cpu_per_request(
    pids: tuple[list[int], list[int]],
    before: tuple[dict[int, tuple[float, float]], dict[int, tuple[float, float]]],
    requests: int,
    backends_seen: dict[int, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """CPU milliseconds per accepted delivery since ``before``: listener workers and PostgreSQL backends.

    ``pids`` are taken again at the end: backends opened during the run are counted too, and with
    ``backends_seen`` (a ``BackendWatch``'s) those closed during it, as last seen.
    """
    after = (_cpu_s(pids[0]), {**(backends_seen or {}), **_cpu_s(pids[1])})
    return {
        "listener_cpu_ms": round(_spent(before[0], after[0]) * 1000 / max(1, requests), 3),
        "listener_system_ms": round(_spent(before[0], after[0], 1) * 1000 / max(1, requests), 3),
        "postgres_cpu_ms": round(_spent(before[1], after[1]) * 1000 / max(1, requests), 3),
    }


# -- setup ------------------------------------------------------------------------------------


def _admin(url: str) -> psycopg.Connection:  # type: ignore[type-arg]
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False), autocommit=True)


def prepare_database(server_url: str, name: str, shops: int) -> str:
    from db.engine import make_engine, make_session_factory
    from db.migrate import upgrade
    from db.models import Connection, Tenant

    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(False)
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        for i in range(shops):
            tenant = Tenant(name=f"bench-{i}")
            session.add(tenant)
            session.flush()
            session.add(Connection(tenant_id=tenant.id, system="shopify", external_org_id=shop(i)))
        session.commit()
    engine.dispose()
    return url


def stored_counts(url: str) -> tuple[int, int]:
    from db.engine import make_engine, make_session_factory
    from db.models import PipelineJob, WebhookDelivery

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        deliveries = session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
        jobs = session.scalar(select(func.count()).select_from(PipelineJob)) or 0
    engine.dispose()
    return int(deliveries), int(jobs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (ZIXLY_WEBHOOK_WORKERS)")
    parser.add_argument("--gunicorn-args", default="", help="extra GUNICORN_CMD_ARGS, e.g. '--threads 8'")
    parser.add_argument("--saturation-s", type=float, default=10.0)
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--client-threads", type=int, default=8)
    parser.add_argument(
        "--load-generator",
        choices=("python", "wrk"),
        default="python",
        help="saturation client: this script's threads (default) or wrk (C, much less CPU per request; "
        "--client-threads wrk threads × --connections); the fixed-rate phase always uses the Python "
        "open-loop client (wrk has no fixed-rate mode)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="wrk connections (--load-generator wrk); a closed loop of too few measures their round trip, "
        "not the listener's capacity: 16 left the workers half idle (docs/benchmarks.md)",
    )
    # Passed as settings: the listener is started with none of this shell's ZIXLY_* variables.
    parser.add_argument("--group-commit", choices=("on", "off"), default="on", help="ZIXLY_WEBHOOK_GROUP_COMMIT")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--shops", type=int, default=8, help="tenants (one Shopify shop each)")
    parser.add_argument(
        "--slow-clients",
        type=int,
        default=0,
        help="connections trickling a body or headers (a byte every 2 s) during the fixed-rate run",
    )
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="run on a private throwaway PostgreSQL 15 cluster (fsync on) instead of the shared server",
    )
    args = parser.parse_args()
    if args.own_cluster:
        from pgcluster import throwaway_cluster

        with throwaway_cluster(durable=True) as cluster:
            server = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres"
            print(f"private PostgreSQL cluster on port {cluster.port} (fsync on)")
            return run(args, server)
    return run(args, os.environ.get("ZIXLY_TEST_POSTGRES_URL", DEFAULT_PG))


def run(args: argparse.Namespace, server_url: str) -> int:
    from process import listener_process

    name = f"zixly_bench_webhook_{os.getpid()}"
    url = prepare_database(server_url, name, args.shops)
    env = {
        "ZIXLY_DATABASE_URL": url,
        "ZIXLY_WEBHOOK_WORKERS": str(args.workers),
        "ZIXLY_SHOPIFY_CLIENT_ID": "bench",
        "ZIXLY_SHOPIFY_CLIENT_SECRET": SECRET,
        "ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": str(10**9),
        "ZIXLY_LOG_LEVEL": "WARNING",
        "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
    }
    env["ZIXLY_WEBHOOK_GROUP_COMMIT"] = str(args.group_commit == "on").lower()
    if args.gunicorn_args:
        env["GUNICORN_CMD_ARGS"] = args.gunicorn_args
    log = Path(f"/tmp/{name}.log")
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="zixly-bench-webhook-"))
    try:
        # A worker's boot (its imports) took 20 s at load 10 on the shared machine: a longer wait.
        with listener_process(env, log, timeout_s=90.0) as base:
            port = int(base.rsplit(":", 1)[1])
            saturation(port, 2.0, 1, 4, args.shops, tag="warm")  # warm-up: pools, imports, caches
            pids = server_pids(port, server_url, name)
            before = (_cpu_s(pids[0]), _cpu_s(pids[1]))
            grouped = group_commits(port)
            with BackendWatch(server_url, name) as backends:
                if args.load_generator == "wrk":
                    rps, ok, sat_errors = saturation_wrk(
                        port, args.saturation_s, args.client_threads, args.connections, args.shops, workdir
                    )
                else:
                    rps, ok, sat_errors = saturation(
                        port, args.saturation_s, args.client_processes, args.client_threads, args.shops
                    )
            pids = server_pids(port, server_url, name)
            cpu = cpu_per_request(pids, before, ok, backends.seen)
            grouped_after = group_commits(port)
            if grouped_after[1] > grouped[1]:
                cpu["deliveries_per_commit"] = round(
                    (grouped_after[0] - grouped[0]) / (grouped_after[1] - grouped[1]), 2
                )
                print(f"  group commit: {cpu['deliveries_per_commit']} deliveries per transaction")
            print(
                f"saturation ({args.load_generator}): {rps:.0f} req/s ({ok} accepted, {sat_errors} errors) "
                f"in {args.saturation_s:.0f} s"
            )
            print(
                f"  CPU per accepted delivery: listener {cpu['listener_cpu_ms']} ms "
                f"(of which kernel {cpu['listener_system_ms']} ms) "
                f"({len(pids[0])} workers), PostgreSQL backends {cpu['postgres_cpu_ms']} ms "
                f"({len(pids[1])} backends); load average {os.getloadavg()[0]:.1f}"
            )
            slow = None
            if args.slow_clients:
                stop, queue = mp.Event(), mp.Queue()
                slow = mp.Process(target=_slow_clients, args=(port, args.slow_clients, stop, queue))
                slow.start()
                time.sleep(1.0)  # every slow connection open
            inside_before = answered_within(port)
            fixed = fixed_rate(port, args.rate, args.duration_s, 32, args.shops)
            inside_after = answered_within(port)
            print(
                f"fixed {fixed['rps']}/s for {args.duration_s:.0f} s: achieved {fixed['achieved_rps']}/s, "
                f"p50 {fixed['p50_ms']} ms, p95 {fixed['p95_ms']} ms, p99 {fixed['p99_ms']} ms, "
                f"{fixed['errors']} errors"
            )
            total = inside_after.get("+Inf", 0.0) - inside_before.get("+Inf", 0.0)
            if total:
                shares = {
                    bound: round((n - inside_before.get(bound, 0.0)) / total, 3)
                    for bound, n in inside_after.items()
                    if bound != "+Inf" and float(bound) <= 0.1
                }
                fixed["listener_answered_within_s"] = shares  # type: ignore[assignment]
                within = ", ".join(f"{100 * share:.1f} % ≤ {float(b) * 1000:g} ms" for b, share in shares.items())
                print(f"  inside the listener (its own histogram): {within}")
            if slow is not None:
                stop.set()
                slow_figures = queue.get(timeout=60)
                slow.join()
                fixed["slow_clients"] = slow_figures
                print(
                    f"  meanwhile {args.slow_clients} slow clients: at least {slow_figures['held_min']} held, "
                    f"answers {slow_figures['answers']}; /health p99 {slow_figures['health_p99_ms']} ms, "
                    f"max {slow_figures['health_max_ms']} ms, {slow_figures['health_errors']} failures"
                )
        deliveries, jobs = stored_counts(url)
        print(f"stored: {deliveries} deliveries, {jobs} jobs (every 202 is a committed delivery and job)")
    finally:
        with _admin(server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    fixed.pop("achieved_rps")
    print(json.dumps({"cpu_per_delivery": cpu}))
    print(
        json.dumps(
            {
                "saturation_rps": round(rps, 1),
                "load_generator": args.load_generator,
                # None: no delivery went through a group commit (--group-commit off)
                "deliveries_per_commit": cpu.get("deliveries_per_commit"),
                "fixed_rate": fixed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
