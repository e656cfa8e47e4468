"""Slow clients cannot starve the real listener (``python -m webhook``, 2 workers, PostgreSQL).

100 connections trickle: most send a body a byte at a time (``Content-Length: 1000``), some
their headers. While they are held, another client's signed deliveries get their 202 and
``/health`` its 200; each trickled body or head is answered 408 (problem+json) once the read
timeout (2 s here) has passed, and the attacker's reconnections keep 100 connections held
throughout.
Latencies are printed (``-s``), not asserted: the machine is shared.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from listener_helpers import SHOP, SHOPIFY_SECRET, order_body, shopify_headers
from process import listener_process
from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from db.engine import make_engine, make_session_factory
from db.models import Connection, PipelineJob, Tenant, WebhookDelivery
from webhook import SECURITY_HEADERS

pytestmark = pytest.mark.e2e

READ_TIMEOUT_S = 2.0
BODY_TRICKLERS = 80
HEADER_TRICKLERS = 20
TICK_S = 0.25
ATTACK_S = 7.0  # long enough for every first-wave trickler to meet the timeout


@pytest.fixture
def pg_session(pg_url: str) -> Iterator[Session]:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@dataclass
class Trickler:
    """One slow connection: the head (and for a body trickler the body) sent a byte per tick."""

    port: int
    trickle_body: bool
    sock: socket.socket = field(init=False)
    pending: bytes = field(init=False)
    opened: float = field(init=False)

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sock.setblocking(False)
        self.opened = time.monotonic()
        if self.trickle_body:
            head = (
                b"POST /webhook/xero HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"x-xero-signature: bm90LXJlYWQ=\r\nContent-Length: 1000\r\n\r\n"
            )
            self.sock.sendall(head)
            self.pending = b"{" + b" " * 998 + b"}"
        else:
            self.pending = (
                b"POST /webhook/shopify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"X-Shopify-Topic: orders/paid\r\nX-Shopify-Shop-Domain: acme.myshopify.com\r\n"
            ) * 20

    def tick(self) -> None:
        if self.pending:
            with contextlib.suppress(OSError):
                self.sock.send(self.pending[:1])
                self.pending = self.pending[1:]


@dataclass
class Attack:
    port: int
    answers: list[tuple[float, bytes]] = field(default_factory=list)  # (seconds after open, reply)
    head_answers: list[tuple[float, bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    held: list[int] = field(default_factory=list)  # connections held at each tick

    def run(self) -> None:
        slow = [Trickler(self.port, True) for _ in range(BODY_TRICKLERS)]
        slow += [Trickler(self.port, False) for _ in range(HEADER_TRICKLERS)]
        while not self.stop.is_set():
            readable, _, _ = select.select([t.sock for t in slow], [], [], 0)
            for t in slow:
                if t.sock in readable:
                    reply = self._read_reply(t.sock)
                    (self.answers if t.trickle_body else self.head_answers).append((time.monotonic() - t.opened, reply))
                    t.sock.close()
                    t.open()  # the attacker comes straight back
            for t in slow:
                t.tick()
            self.held.append(len(slow))
            time.sleep(TICK_S)
        for t in slow:
            t.sock.close()

    @staticmethod
    def _read_reply(sock: socket.socket) -> bytes:
        sock.setblocking(True)
        sock.settimeout(2)
        data = b""
        with contextlib.suppress(OSError):
            while part := sock.recv(65536):
                data += part
        return data


def _status_and_body(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = (line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {name.lower(): value for name, value in pairs}
    return int(lines[0].split()[1]), headers, body


def test_slow_clients_do_not_starve_the_listener_and_get_408(pg_url: str, pg_session: Session, tmp_path: Path) -> None:
    acme = Tenant(name="acme")
    pg_session.add(acme)
    pg_session.flush()
    pg_session.add(Connection(tenant_id=acme.id, system="shopify", external_org_id=SHOP))
    pg_session.commit()
    env = {
        "ZIXLY_DATABASE_URL": pg_url,
        "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_SECRET_KEY": "u5QmJ0eUVbpXhmqWQ8M_ajaEo3WqWeC8MgcI-3wT3aA=",
        "ZIXLY_WEBHOOK_WORKERS": "2",
        "ZIXLY_SHOPIFY_CLIENT_ID": "id",
        "ZIXLY_SHOPIFY_CLIENT_SECRET": SHOPIFY_SECRET,
        "ZIXLY_XERO_CLIENT_ID": "id",
        "ZIXLY_XERO_CLIENT_SECRET": "secret",
        "ZIXLY_XERO_WEBHOOK_KEY": "c2FtcGxlLXhlcm8td2ViaG9vay1rZXktZm9yLXRlc3RzLW9ubHk=",
        "ZIXLY_WEBHOOK_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
        "ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": "100000",
    }
    log_path = tmp_path / "listener.log"
    with listener_process(env, log_path) as base, httpx.Client(base_url=base, timeout=10) as http:
        attack = Attack(int(base.rsplit(":", 1)[1]))
        attacker = threading.Thread(target=attack.run, daemon=True)
        attacker.start()
        time.sleep(0.5)  # every slow connection open and trickling
        statuses: list[int] = []
        health: list[int] = []
        latencies: list[float] = []
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < ATTACK_S:
            body = order_body(5000 + i)
            t0 = time.perf_counter()
            r = http.post("/webhook/shopify", content=body, headers=shopify_headers(body, event_id=f"slow-{i}"))
            latencies.append(time.perf_counter() - t0)
            statuses.append(r.status_code)
            if i % 10 == 0:
                health.append(http.get("/health").status_code)
            i += 1
            time.sleep(0.02)
        attack.stop.set()
        attacker.join(10)
        metrics = http.get("/metrics").text  # multiprocess metrics, summed over both workers
    assert not attacker.is_alive()

    ms = sorted(x * 1000 for x in latencies)
    print(
        f"\n{len(statuses)} signed deliveries while {min(attack.held)}-{max(attack.held)} slow connections were held: "
        f"p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms; {len(attack.answers)} trickled bodies answered "
        f"after {min(a for a, _ in attack.answers):.2f}-{max(a for a, _ in attack.answers):.2f} s; "
        f"{len(attack.head_answers)} trickled heads answered"
    )
    assert statuses and set(statuses) == {202}
    assert health and set(health) == {200}
    assert min(attack.held) == BODY_TRICKLERS + HEADER_TRICKLERS

    # Every first-wave trickler (and any later one that ran out its time) got a 408 problem.
    assert len(attack.answers) >= BODY_TRICKLERS
    assert len(attack.head_answers) >= HEADER_TRICKLERS
    for elapsed, reply in attack.answers + attack.head_answers:
        status, headers, body = _status_and_body(reply)
        assert status == 408, reply[:300]
        assert headers["content-type"] == "application/problem+json"
        assert all(headers[name.lower()] == value for name, value in SECURITY_HEADERS.items())
        assert json.loads(body)["status"] == 408
        assert elapsed >= READ_TIMEOUT_S - TICK_S  # not before its time (the tick is the error bar)

    accepted = re.search(r'webhook_deliveries_total\{outcome="accepted",source="shopify"\} (\S+)', metrics)
    assert accepted and float(accepted.group(1)) == len(statuses)
    log = log_path.read_text()
    assert "WORKER TIMEOUT" not in log and "Booting worker" in log
    assert log.count("Booting worker") == 2  # no worker was killed and replaced
    pg_session.rollback()
    assert pg_session.scalar(sql_select(func.count()).select_from(WebhookDelivery)) == len(statuses)
    assert pg_session.scalar(sql_select(func.count()).select_from(PipelineJob)) == len(statuses)
