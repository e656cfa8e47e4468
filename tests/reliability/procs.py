"""Real processes for the fault and soak tests: the e2e stack in process groups, runner kills,
a throwaway PostgreSQL cluster, signed deliveries, RSS sampling and the counting invariants.

A plain module (imported by ``test_faults_*.py`` and ``test_soak.py``), not a conftest:
:class:`Procs` extends the e2e suite's :class:`e2e_stack.Stack` (sandbox, gunicorn listener,
runners, OAuth-connected tenants) so that every process runs in its own process group and
teardown kills whole groups, whatever happened. The PostgreSQL cluster that tests stop and
start is always a throwaway one (``tests/webhook/pgcluster.py``), never the shared server.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Engine, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _extra in (ROOT / "tests" / "e2e", ROOT / "tests" / "webhook"):
    if str(_extra) not in sys.path:
        sys.path.insert(0, str(_extra))

from e2e_stack import SECRETS, SHOP, Stack, free_port, wait_for  # noqa: E402
from pgcluster import Cluster, available, throwaway_cluster  # noqa: E402

from db.migrate import upgrade  # noqa: E402
from integrations.xero.webhooks import DEV_WEBHOOK_KEY  # noqa: E402
from integrations.xero.webhooks import signature as xero_signature  # noqa: E402

__all__ = ["SHOP", "Cluster", "Stack", "available", "free_port", "wait_for"]  # re-exported

SHOPIFY_ORDERS = (5100001001, 5100001002, 5100001003, 5100001004)
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
# Sandbox budgets high enough that a steady test load is never rate limited by accident.
GENEROUS_LIMITS = (
    ("xero", "minute", 1_000_000, 60),
    ("xero", "day", 10_000_000, 86_400),
    ("hubspot", "burst", 1_000_000, 10),
    ("hubspot-search", "search", 1_000_000, 1),
)


class Procs(Stack):
    """The e2e stack, with every process in its own group (``kill -9`` hits the whole group)."""

    def __init__(self, db_url: str, tmp: Path, **env: str) -> None:
        # Test traffic must not meet the listener's per-source rate limit (tested elsewhere), nor the
        # runners' vendor quota governor (tests/sync/test_quota_processes.py): its windows are
        # shortened to nothing, so the sandbox's own limits (and injected 429s) are what the runs meet.
        quiet = {"ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000", "ZIXLY_QUOTA_TIME_SCALE": "0.0001"}
        super().__init__(db_url, tmp, **{**quiet, **env})
        self.killed: list[str] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def start_listener(self) -> None:
        self.spawn("webhook", "-m", "webhook")
        wait_for(lambda: self._up(f"{self.listener}/health"), 30, "the listener")

    def start_sandbox(self) -> None:
        self.spawn("sandbox", "-m", "sandbox")
        wait_for(lambda: self._up(f"{self.base}/_sandbox/health"), 30, "the sandbox")

    def alive_runners(self) -> list[str]:
        return [n for n, p in self.procs.items() if n.startswith("runner-") and p.poll() is None]

    def wait_runners_registered(self, timeout: float = 60) -> None:
        """Until every runner started has registered (its first statement): a runner still booting
        on a loaded machine when a test stops the database is not yet one that runs through it."""
        wanted = sum(1 for n in self.procs if n.startswith("runner-"))

        def registered() -> bool:
            with self.engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM runners")).scalar_one()) >= wanted

        wait_for(registered, timeout, f"{wanted} runners to register")

    @contextmanager
    def paused(self, names: list[str]) -> Iterator[None]:
        """SIGSTOP these processes' groups for the block (they hold their connections, claim nothing)."""
        for name in names:
            _killpg(self.procs[name].pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for name in names:
                _killpg(self.procs[name].pid, signal.SIGCONT)

    def kill9(self, name: str) -> None:
        """``kill -9`` the process group of ``name`` (no drain, no goodbye)."""
        proc = self.procs[name]
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.killed.append(name)

    def stop(self) -> None:
        """Drain (SIGTERM; gunicorn: SIGQUIT), then SIGKILL every group still there."""
        for name, proc in self.procs.items():
            if proc.poll() is None:
                _killpg(proc.pid, signal.SIGQUIT if name == "webhook" else signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            with suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            _killpg(proc.pid, signal.SIGKILL)  # the group: gunicorn workers, anything left over
            with suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.engine.dispose()

    def generous_limits(self) -> None:
        for vendor, budget, limit, window in GENEROUS_LIMITS:
            self.control("limits", vendor=vendor, budget=budget, limit=limit, window_s=window)
        self.sandbox_post("/shopify/_sandbox/throttle", maximum=1_000_000, restore_rate=1_000_000, available=1_000_000)

    def rss(self) -> dict[str, int]:
        """Resident memory (bytes) of each live process, children included (gunicorn's workers)."""
        out: dict[str, int] = {}
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            try:
                parent = psutil.Process(proc.pid)
                out[name] = sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
            except psutil.Error:
                continue
        return out


def _killpg(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextmanager
def migrated_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster (own port, fsync off) with the schema; removed afterwards."""
    from db.engine import make_engine

    with throwaway_cluster() as cluster:
        engine = make_engine(cluster.url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield cluster


# -- signed deliveries ---------------------------------------------------------------------------


@dataclass
class Deliveries:
    """Unique signed vendor deliveries for one connected tenant (Shopify orders, Xero invoices)."""

    listener: str
    xero_org: str = ""
    invoice_ids: list[str] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=lambda: iter(range(10**9)))

    def shopify(self, n: int | None = None) -> tuple[str, bytes, dict[str, str]]:
        """An ``orders/paid`` delivery about one of the sandbox's orders, a new event each time.

        As Shopify's: a new event about an order carries the order as it is then (its
        ``updated_at`` moves), since Zixly recognises a redelivery by the signed body, not by the
        unsigned event id.
        """
        n = next(self.counter) if n is None else n
        order = SHOPIFY_ORDERS[n % len(SHOPIFY_ORDERS)]
        event_id = f"rel-{n}-{uuid.uuid4().hex[:8]}"
        body = json.dumps(
            {
                "id": order,
                "admin_graphql_api_id": f"gid://shopify/Order/{order}",
                "financial_status": "paid",
                "updated_at": dt.datetime.now(dt.UTC).isoformat(),
                "note": event_id,
            }
        ).encode()
        digest = hmac.new(SECRETS["ZIXLY_SHOPIFY_CLIENT_SECRET"].encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Webhook-Id": "wh-" + event_id,
            "X-Shopify-API-Version": "2026-10",
        }
        return "/webhook/shopify", body, headers

    def xero(self, n: int | None = None) -> tuple[str, bytes, dict[str, str]]:
        """An INVOICE UPDATE delivery about one of the org's invoices (unique by its timestamp)."""
        n = next(self.counter) if n is None else n
        invoice = self.invoice_ids[n % len(self.invoice_ids)]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
        event = {
            "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice}",
            "resourceId": invoice,
            "eventDateUtc": stamp,
            "eventType": "UPDATE",
            "eventCategory": "INVOICE",
            "tenantId": self.xero_org,
            "tenantType": "ORGANISATION",
        }
        payload = {"events": [event], "firstEventSequence": n, "lastEventSequence": n, "entropy": uuid.uuid4().hex}
        body = json.dumps(payload, separators=(",", ":")).encode()
        return "/webhook/xero", body, {"Content-Type": "application/json", "x-xero-signature": xero_signature(
            DEV_WEBHOOK_KEY, body)}  # fmt: skip

    def mixed(self) -> tuple[str, bytes, dict[str, str]]:
        n = next(self.counter)
        return self.xero(n) if self.invoice_ids and n % 2 else self.shopify(n)


def learn_xero_invoices(stack: Stack, numbers: tuple[str, ...]) -> tuple[str, list[str]]:
    """Pay the sandbox's invoices once (each sends its real webhook); their org and invoice ids."""
    org, ids = "", []
    for number in numbers:
        event = stack.control(f"xero/invoices/{number}/pay")["event"]
        org, ids = str(event["tenantId"]), [*ids, str(event["resourceId"])]
    return org, ids


# -- counting -------------------------------------------------------------------------------------

_LOCAL_COUNTS: dict[str, Counter[str]] = {}


def count(name: str) -> Counter[str]:
    """The reliability conftest's named counter (printed at the end of the run and saved to
    ``test-artifacts/reliability-counts.json``); a local one when that conftest is not loaded."""
    conftest = str(HERE / "conftest.py")
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == conftest and hasattr(module, "count"):
            counter: Counter[str] = module.count(name)
            return counter
    return _LOCAL_COUNTS.setdefault(name, Counter())


def final_statuses(engine: Engine, job_type: str | None = None) -> Counter[str]:
    where = "WHERE job_type = :t" if job_type else ""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT status, count(*) FROM pipeline_jobs {where} GROUP BY status"), {"t": job_type}
        )
        return Counter({str(s): int(n) for s, n in rows})


def queue_depth(engine: Engine) -> int:
    """Jobs not finished yet (QUEUED or RUNNING)."""
    with engine.connect() as conn:
        q = "SELECT count(*) FROM pipeline_jobs WHERE status IN ('QUEUED', 'RUNNING')"
        return int(conn.execute(text(q)).scalar_one())


def wait_all_final(engine: Engine, expected: int, timeout: float, what: str) -> Counter[str]:
    def done() -> Counter[str] | None:
        counts = final_statuses(engine)
        return counts if sum(counts[s] for s in TERMINAL) >= expected and not queue_depth(engine) else None

    result: Counter[str] = wait_for(done, timeout, what, every=0.5)
    return result


def check_noop_effects(engine: Engine, job_ids: list[int]) -> Counter[str]:
    """The at-least-once invariants of ``noop`` jobs with ``note``, counted; returns the tallies.

    Each execution of the handler leaves one effect row (the step ``noop ran (attempt N)``).
    Raises AssertionError naming the first job that breaks: a job not COMPLETED/FAILED, a FAILED
    job without an error, an attempt executed twice (two effects with one attempt number), an
    effect from an attempt the job never had, a COMPLETED job whose result is not from its last
    attempt or that has no effect from it, or a job executed again after it completed.
    """
    with engine.connect() as conn:
        jobs = {
            int(r[0]): (str(r[1]), int(r[2]), r[3], r[4])
            for r in conn.execute(
                text("SELECT id, status, attempts, error, result FROM pipeline_jobs WHERE id = ANY(:ids)"),
                {"ids": job_ids},
            )
        }
        effects: dict[int, list[int]] = {}
        for job_id, attempt in conn.execute(
            text(
                "SELECT job_id, attempt FROM job_steps WHERE job_id = ANY(:ids) AND message LIKE 'noop ran (attempt %'"
            ),
            {"ids": job_ids},
        ):
            effects.setdefault(int(job_id), []).append(int(attempt))
    tally: Counter[str] = Counter(jobs=len(jobs))
    assert len(jobs) == len(job_ids), f"lost jobs: {sorted(set(job_ids) - set(jobs))[:10]}"
    for job_id, (status, attempts, error, result) in jobs.items():
        ran = effects.get(job_id, [])
        tally[status] += 1
        tally["executions"] += len(ran)
        # Spent, but its handler never reached its first step: killed after the start's commit, before
        # the handler began or while it waited (for a pooled connection, say) to write that step.
        tally["attempts without an effect"] += attempts - len(ran)
        assert status in ("COMPLETED", "FAILED"), f"job {job_id} ended {status}"
        if status == "FAILED":
            assert error, f"job {job_id} FAILED without an error"
            tally["FAILED: attempts without an effect (killed before the handler's first step)"] += attempts - len(ran)
        assert len(ran) == len(set(ran)), f"job {job_id}: an attempt ran twice: {sorted(ran)}"
        assert all(1 <= a <= attempts for a in ran), f"job {job_id}: effects {ran} beyond attempts={attempts}"
        if status == "COMPLETED":
            done_by = (result or {}).get("attempt")
            assert done_by == attempts, f"job {job_id}: completed by attempt {done_by}, attempts={attempts}"
            assert done_by in ran, f"job {job_id}: no effect from its completing attempt {done_by}"
            assert max(ran) == done_by, f"job {job_id}: executed again after completing: {sorted(ran)}"
        if len(ran) > 1:
            tally["re-executed after a crash"] += 1
        if attempts >= 2:
            tally["attempts>=2"] += 1
    return tally


def noop_specs(n: int, tenant_id: int, *, sleep_ms: tuple[int, int], max_attempts: int, seed: int) -> list[Any]:
    """``n`` noop jobs with an effect per execution and a random duration."""
    from db.jobs import JobSpec

    rnd = random.Random(seed)
    return [
        JobSpec(
            tenant_id=tenant_id,
            job_type="noop",
            params={"note": True, "sleep_ms": rnd.randint(*sleep_ms)},
            max_attempts=max_attempts,
            timeout_s=120,
            created_by="reliability",
        )
        for _ in range(n)
    ]
