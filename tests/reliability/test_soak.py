"""Soak: a steady stream of signed webhooks through the whole system, and nothing drifts.

Real processes on PostgreSQL: the sandbox (vendor APIs), the listener under gunicorn (two
workers) and two runners. Unique signed deliveries — Shopify ``orders/paid`` and Xero invoice
updates, alternating, about the sandbox's 4 orders and 6 invoices — arrive at a steady rate
(10/s by default, ``SOAK_RATE``), and every one becomes a job that makes real vendor calls. Sampled over time: the RSS
of every process (gunicorn with its workers), the request latency, and the queue depth.

Asserted, by counting: every delivery answered 202 and its job COMPLETED (no errors); the
sender kept the rate; the queue stayed bounded (median ≤ 2 s of traffic, never a minute's
worth), did not grow from the first third to the last, and drained; the RSS of the last third of the
run is within a threshold of the first third's; the request latency of the last third is not
far above the first third's. The figures go to ``test-artifacts/soak-<seconds>s.json``.

Quick (every run): ~20 s. Full (``-m slow``): ``ZIXLY_SOAK_SECONDS`` (default 600);
``python bench/soak.py --seconds N`` runs the full soak as a script.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from procs import SHOP, SHOPIFY_ORDERS, Deliveries, Procs, count, learn_xero_invoices, queue_depth, wait_all_final
from sqlalchemy import text

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
# Deliveries per second. Each becomes a job of ~4-6 vendor calls to the sandbox (~340 ms);
# at 20/s the shared 2-core machine (load ~7 from other work) completed only ~10 jobs/s, so
# the default stays below capacity: a soak measures drift, not saturation.
RATE = float(os.environ.get("SOAK_RATE", "10"))
SENDERS = 4  # threads sharing the schedule, so one slow answer does not stall the rate
INVOICES = ("INV-0038", "INV-0039", "INV-0040", "INV-0041", "INV-0042", "INV-0043")
MiB = 1024 * 1024


def soak_seconds(default: float) -> float:
    """``ZIXLY_SOAK_SECONDS`` (the root conftest leaves this one setting in the environment)."""
    value = os.environ.get("ZIXLY_SOAK_SECONDS")
    return float(value) if value else default


@dataclass
class Sent:
    at: float  # seconds since the start of the run
    latency_ms: float
    status: int  # 0: no answer


@dataclass
class Sample:
    at: float
    rss: dict[str, int]
    depth: int
    completed: int


@dataclass
class Run:
    seconds: float
    warmup_s: float
    sent: list[Sent] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    late: int = 0

    def thirds(self, items: list[Any]) -> tuple[list[Any], list[Any]]:
        """The first and the last third of the measured window (after the warm-up)."""
        span = (self.seconds - self.warmup_s) / 3
        first = [x for x in items if self.warmup_s <= x.at < self.warmup_s + span]
        last = [x for x in items if x.at >= self.seconds - span]
        return first, last


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def send_steadily(stack: Procs, run: Run, deliveries: Deliveries, start: float) -> None:
    total = int(run.seconds * RATE)
    lock = threading.Lock()

    def sender(offset: int) -> None:
        with httpx.Client(base_url=stack.listener, timeout=10, trust_env=False) as http:
            for i in range(offset, total, SENDERS):
                due = start + i / RATE
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -1.0:
                    with lock:
                        run.late += 1
                path, body, headers = deliveries.xero(i) if i % 2 else deliveries.shopify(i)
                t0 = time.monotonic()
                try:
                    status = http.post(path, content=body, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                with lock:
                    run.sent.append(Sent(t0 - start, (time.monotonic() - t0) * 1000, status))

    threads = [threading.Thread(target=sender, args=(k,), name=f"sender-{k}") for k in range(SENDERS)]
    for t in threads:
        t.start()
    every = 2.0 if run.seconds <= 60 else 10.0
    while any(t.is_alive() for t in threads) and time.monotonic() - start < run.seconds + 60:
        with stack.engine.connect() as conn:
            done = conn.execute(text("SELECT count(*) FROM pipeline_jobs WHERE status = 'COMPLETED'")).scalar_one()
        run.samples.append(Sample(time.monotonic() - start, stack.rss(), queue_depth(stack.engine), int(done)))
        time.sleep(every)
    for t in threads:
        t.join(30)


def soak(pg_url: str, tmp: Path, seconds: float) -> dict[str, Any]:
    stack = Procs(pg_url, tmp, ZIXLY_WEBHOOK_WORKERS="2", ZIXLY_RUNNER_LEASE_S="10", ZIXLY_RUNNER_POLL_S="0.5")
    try:
        stack.start_sandbox()
        stack.start_listener()
        stack.start_runner()
        stack.start_runner()
        stack.generous_limits()
        stack.without_debounce(stack.create_tenant())  # it counts one job per delivery
        for order in SHOPIFY_ORDERS:  # paid at the shop (each sends its own webhook)
            stack.sandbox_post(f"/shopify/_sandbox/orders/{order}/pay", shop=SHOP)
        org, invoice_ids = learn_xero_invoices(stack, INVOICES)
        deliveries = Deliveries(stack.listener, xero_org=org, invoice_ids=invoice_ids)
        setup_jobs = len(SHOPIFY_ORDERS) + len(INVOICES)
        wait_all_final(stack.engine, setup_jobs, timeout=60, what="the set-up jobs")

        run = Run(seconds, warmup_s=min(30.0, max(5.0, seconds * 0.05)))
        start = time.monotonic()
        send_steadily(stack, run, deliveries, start)
        drained_at = time.monotonic()
        final = wait_all_final(stack.engine, setup_jobs + len(run.sent), timeout=120, what="the queue to drain")
        drain_s = time.monotonic() - drained_at
        with stack.engine.connect() as conn:
            job_latency = [
                float(s)
                for (s,) in conn.execute(
                    text(
                        "SELECT EXTRACT(EPOCH FROM completed_at - created_at) FROM pipeline_jobs "
                        "WHERE status = 'COMPLETED' ORDER BY id OFFSET :skip"
                    ),
                    {"skip": setup_jobs},
                )
            ]
        report = summarize(run, final, drain_s, job_latency)
        report["processes"] = {n: p.pid for n, p in stack.procs.items()}
        report["setup_jobs"] = setup_jobs
        with stack.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT job_type, count(*), avg(CAST(metrics ->> 'duration_ms' AS float)) FROM pipeline_jobs "
                    "GROUP BY job_type"
                )
            )
            report["job_duration_ms_avg"] = {str(t): round(float(d or 0), 1) for t, _n, d in rows}
            origin = "CASE WHEN created_by LIKE 'webhook:%' THEN 'webhook' ELSE created_by END"
            by_origin = conn.execute(text(f"SELECT {origin}, count(*) FROM pipeline_jobs GROUP BY 1"))
            report["jobs_by_origin"] = {str(o): int(n) for o, n in by_origin}  # the tenant's schedules run too
        return report
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


def latency_figures(values: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}": round(percentile(values, q), 1) for q in (0.5, 0.95, 0.99)}


def summarize(run: Run, final: Counter[str], drain_s: float, job_latency: list[float]) -> dict[str, Any]:
    first_s, last_s = run.thirds(run.sent)
    first_m, last_m = run.thirds(run.samples)
    names = sorted({n for s in run.samples for n in s.rss})
    rss = {
        n: {
            "first_mib": round(statistics.median([s.rss[n] for s in first_m if n in s.rss]) / MiB, 1),
            "last_mib": round(statistics.median([s.rss[n] for s in last_m if n in s.rss]) / MiB, 1),
            "max_mib": round(max(s.rss.get(n, 0) for s in run.samples) / MiB, 1),
        }
        for n in names
    }
    lat_first = [s.latency_ms for s in first_s]
    lat_last = [s.latency_ms for s in last_s]
    third = len(job_latency) // 3
    measured = [s for s in run.samples if s.at >= run.warmup_s]
    return {
        "seconds": run.seconds,
        "warmup_s": run.warmup_s,
        "rate_target": RATE,
        "sent": len(run.sent),
        "rate_achieved": round(len(run.sent) / run.seconds, 2),
        "late_sends": run.late,
        "answers": dict(Counter(str(s.status) for s in run.sent)),
        "jobs": dict(final),
        "drain_s": round(drain_s, 1),
        "queue_depth": {
            "max": max((s.depth for s in measured), default=0),
            "median": statistics.median([s.depth for s in measured]) if measured else 0,
            "first_third_max": max((s.depth for s in first_m), default=0),
            "last_third_max": max((s.depth for s in last_m), default=0),
        },
        "request_latency_ms": {"first_third": latency_figures(lat_first), "last_third": latency_figures(lat_last)},
        "job_latency_s": {
            "first_third_p50": round(percentile(job_latency[:third], 0.5), 3),
            "last_third_p50": round(percentile(job_latency[-third:] if third else [], 0.5), 3),
            "last_third_p95": round(percentile(job_latency[-third:] if third else [], 0.95), 3),
        },
        "rss": rss,
        "samples": len(run.samples),
        # The samples themselves (seconds, queue depth, completed jobs, RSS MiB per process).
        "series": [
            [round(s.at, 1), s.depth, s.completed, {n: round(v / MiB, 1) for n, v in sorted(s.rss.items())}]
            for s in run.samples
        ],
    }


def check(report: dict[str, Any]) -> None:
    """The soak's invariants (the report is written before they are checked)."""
    rate = report["rate_target"]
    # No errors at intake: Shopify deliveries are answered 202, Xero's 200 (what Xero expects).
    assert set(report["answers"]) <= {"200", "202"}, report["answers"]
    assert set(report["jobs"]) == {"COMPLETED"}, report["jobs"]  # no job failed
    # One job per delivery (the set-up's included); scheduled jobs of the tenant come on top.
    assert report["jobs_by_origin"].get("webhook") == report["sent"] + report["setup_jobs"], report["jobs_by_origin"]
    assert report["rate_achieved"] >= 0.9 * rate, "the sender could not keep the rate"
    depth = report["queue_depth"]
    # Bounded: in steady state (the median) at most 2 s of traffic waits; a neighbour's burst on
    # the shared machine may pile up more for a while, but never a minute's worth.
    assert depth["median"] <= 2 * rate, depth
    assert depth["max"] <= 60 * rate, depth
    # Not growing: the last third's worst backlog within twice the first third's, or 5 s of
    # traffic (the machine is shared: a neighbour's burst can stall the runners briefly).
    assert depth["last_third_max"] <= max(2 * depth["first_third_max"], 5 * rate), depth
    assert report["drain_s"] <= 60
    for name, rss in report["rss"].items():  # memory flat: last third vs first third
        assert rss["last_mib"] <= rss["first_mib"] * 1.15 + 16, (name, rss)
    lat = report["request_latency_ms"]
    assert lat["last_third"]["p95"] <= max(3 * lat["first_third"]["p95"], lat["first_third"]["p95"] + 100), lat


def run_and_check(pg_url: str, tmp: Path, seconds: float) -> dict[str, Any]:
    report = soak(pg_url, tmp, seconds)
    out = ROOT / "test-artifacts" / f"soak-{int(seconds)}s.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    print(json.dumps(report, indent=1, sort_keys=True))
    flat = {
        "sent": report["sent"], "answers 2xx": report["answers"].get("202", 0) + report["answers"].get("200", 0),
        "jobs COMPLETED": report["jobs"].get("COMPLETED", 0), "queue depth max": report["queue_depth"]["max"],
    }  # fmt: skip
    count(f"soak {int(seconds)} s at {RATE:g}/s").update(flat)
    check(report)
    return report


def test_a_20_second_soak_stays_flat(pg_url: str, tmp_path: Path) -> None:
    run_and_check(pg_url, tmp_path, 20.0)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_a_long_soak_stays_flat(pg_url: str, tmp_path: Path) -> None:
    run_and_check(pg_url, tmp_path, soak_seconds(600.0))
