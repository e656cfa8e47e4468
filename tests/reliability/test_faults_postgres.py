"""PostgreSQL stops and starts again under a running system: during intake, during processing.

Everything runs as real processes — sandbox, gunicorn listener, two runners — against a
throwaway cluster (own port, fsync off) that the tests stop with ``pg_ctl -m fast`` and start
again; the shared server on :5432 is never touched. Counted afterwards: the listener answered
only 202 (stored) or 503 (not stored) — never a 2xx for something it did not store; every
202-acknowledged delivery has its job; the vendor's retries of the rest were accepted; every
job ended COMPLETED or FAILED with an error, none ran twice per attempt; and the listener and
both runners are the same processes as before the outage (they recovered without a restart);
and a runner started while PostgreSQL is down waits for it, then registers and runs jobs.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from procs import (
    Cluster,
    Deliveries,
    Procs,
    available,
    check_noop_effects,
    count,
    final_statuses,
    migrated_cluster,
    noop_specs,
    wait_all_final,
    wait_for,
)
from sqlalchemy import text

from db import jobs

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.e2e,
    pytest.mark.skipif(not available(), reason="needs PostgreSQL 15 binaries and runuser"),
]

OUTAGE_S = 3.0


class System:
    def __init__(self, cluster: Cluster, stack: Procs, tenant_id: int) -> None:
        self.cluster, self.stack, self.tenant_id = cluster, stack, tenant_id
        self.pids = {name: proc.pid for name, proc in stack.procs.items()}

    def same_processes(self) -> bool:
        """Every process of the start is still alive, with its original pid (no restarts).

        When one is not, its name and the end of the logs are printed, to say which and why.
        """
        procs = self.stack.procs
        gone = [n for n, pid in self.pids.items() if procs[n].pid != pid or procs[n].poll() is not None]
        if gone:
            print(f"not the same processes: {gone}\n{self.stack.logs()[-6000:]}")
        return not gone

    def outage(self) -> None:
        self.cluster.stop()
        try:
            time.sleep(OUTAGE_S)
        finally:
            self.cluster.start()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with migrated_cluster() as cluster:
        stack = Procs(cluster.url, tmp_path_factory.mktemp("pg-outage"), ZIXLY_WEBHOOK_WORKERS="2")
        try:
            stack.start_sandbox()
            stack.start_listener()
            stack.start_runner()
            stack.start_runner()
            stack.wait_runners_registered()
            stack.generous_limits()
            tenant_id = stack.create_tenant()
            # Every delivery its own job: the deliveries cycle through a few orders, which debounce
            # by record would (rightly) merge; what this counts is intake, not debounce.
            stack.without_debounce(tenant_id)
            yield System(cluster, stack, tenant_id)
        except BaseException:
            print(stack.logs())
            raise
        finally:
            stack.stop()


def test_an_outage_during_intake_gives_503s_and_loses_no_acknowledged_delivery(system: System) -> None:
    stack = system.stack
    deliveries = Deliveries(stack.listener)
    sent: dict[int, tuple[str, bytes, dict[str, str]]] = {}
    answers: dict[int, list[int]] = {}  # delivery -> statuses seen (0: no answer)
    acked: dict[int, list[int]] = {}  # delivery -> job ids of its 2xx
    stop = threading.Event()

    def post(n: int, http: httpx.Client) -> int:
        path, body, headers = sent[n]
        try:
            response = http.post(path, content=body, headers=headers)
        except httpx.TransportError:
            answers.setdefault(n, []).append(0)
            return 0
        answers.setdefault(n, []).append(response.status_code)
        if response.is_success:
            acked[n] = response.json()["job_ids"]
        return response.status_code

    def vendor() -> None:
        with httpx.Client(base_url=stack.listener, timeout=10, trust_env=False) as http:
            for n in range(5000):  # bounded: ~40/s for at most a couple of minutes
                if stop.is_set():
                    return
                sent[n] = deliveries.shopify(n)
                post(n, http)
                time.sleep(0.025)

    sender = threading.Thread(target=vendor)
    sender.start()
    try:
        time.sleep(1.5)
        system.outage()
        time.sleep(2.0)
    finally:
        stop.set()
        sender.join(60)

    # The vendor retries what was not acknowledged (the listener is back: no restart).
    retried = Counter[str]()
    with httpx.Client(base_url=stack.listener, timeout=10, trust_env=False) as http:
        wait_for(lambda: http.get("/health").status_code == 200, 30, "the listener to report healthy")
        for n in sorted(set(sent) - set(acked)):
            retried[str(post(n, http))] += 1

    statuses = Counter(s for seen in answers.values() for s in seen)
    with stack.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar_one()
        # The deliveries' jobs only: the tenant's default schedules may fire during the run (a
        # 15-minute sync at the quarter hour) and are not what this counts.
        q = "SELECT id FROM pipeline_jobs WHERE created_by = 'webhook:shopify'"
        job_ids = {int(r[0]) for r in conn.execute(text(q))}
    wait_all_final(stack.engine, len(job_ids), timeout=180, what="every delivery's job to finish")
    final = final_statuses(stack.engine, "shopify-order-to-xero")  # the deliveries' jobs, not a schedule's
    count("faults: PostgreSQL outage during intake").update(
        deliveries=len(sent), **{f"answer {k}": v for k, v in statuses.items()},
        **{f"retry answer {k}": v for k, v in retried.items()}, stored=stored, jobs=len(job_ids),
        **{f"jobs {k}": v for k, v in final.items()},
    )  # fmt: skip

    assert statuses[503] > 0, "the outage was not seen"
    assert set(statuses) <= {202, 503, 0}, statuses  # never a 2xx for an unstored delivery, no 5xx but 503
    assert retried and set(retried) == {"202"}, retried  # every retry of an unacknowledged one is accepted
    assert all(set(ids) <= job_ids for ids in acked.values()), "a 202-acknowledged delivery has no job"
    assert stored == len(sent) == len(job_ids)  # every delivery once, one job each
    assert final["COMPLETED"] == len(job_ids), final
    assert system.same_processes()


def test_an_outage_during_processing_is_survived_by_the_runners_without_a_restart(system: System) -> None:
    stack = system.stack
    with stack.factory() as session, session.begin():
        specs = noop_specs(150, system.tenant_id, sleep_ms=(100, 400), max_attempts=5, seed=11)
        job_ids = [e.id for e in jobs.enqueue_many(session, specs)]

    def completed() -> int:
        with stack.engine.connect() as conn:
            q = "SELECT count(*) FROM pipeline_jobs WHERE status = 'COMPLETED' AND id = ANY(:ids)"
            return int(conn.execute(text(q), {"ids": job_ids}).scalar_one())

    wait_for(lambda: completed() >= 30, 60, "the runners to get going")
    before = completed()
    system.outage()
    wait_all_final(stack.engine, len(job_ids), timeout=180, what="the jobs to finish after the outage")
    tally = check_noop_effects(stack.engine, job_ids)

    # Work queued after the outage is picked up by the same runners.
    with stack.factory() as session, session.begin():
        late = jobs.enqueue(session, tenant_id=system.tenant_id, job_type="noop", params={"note": True}).id
    wait_for(lambda: stack.job(late).status == "COMPLETED", 30, "a job queued after the outage")
    # The listener was idle through this outage, so its pooled connections went stale (no
    # pre-ping, webhook/__init__.py): the first request on each is run again on a fresh
    # connection, so no request after the restart sees a 503.
    stale_503s = 0
    with httpx.Client(base_url=stack.listener, timeout=10, trust_env=False) as http:
        for _ in range(20):
            status = http.get("/health").status_code
            if status == 200:
                break
            assert status == 503
            stale_503s += 1
    assert status == 200

    tally.update(**{"completed before the outage": before, "listener 503s after the restart": stale_503s})
    count("faults: PostgreSQL outage during processing").update(tally)
    assert before < len(job_ids), "the outage came after all the work"
    assert stale_503s == 0
    assert tally["COMPLETED"] + tally["FAILED"] == len(job_ids)
    assert system.same_processes()


def runner_rows(stack: Procs, pid: int) -> int:
    with stack.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM runners WHERE pid = :pid"), {"pid": pid}).scalar_one())


def log_of(stack: Procs, proc: subprocess.Popen[bytes]) -> str:
    name = next(n for n, p in stack.procs.items() if p is proc)
    return (stack.tmp / f"{name}.log").read_text(errors="replace")


def test_a_runner_started_during_an_outage_waits_for_postgresql_then_runs_jobs(system: System) -> None:
    stack = system.stack
    earlier = stack.alive_runners()
    system.cluster.stop()
    try:
        late = stack.start_runner()
        told_to_stop = stack.start_runner()
        for proc in (late, told_to_stop):  # booted (signal handlers in place) and found no database
            wait_for(lambda p=proc: "database unreachable" in log_of(stack, p) or p.poll() is not None, 60,
                     "a runner to find the database down")  # fmt: skip
        time.sleep(OUTAGE_S)
        assert late.poll() is None, f"the runner exited during the outage\n{stack.logs()[-4000:]}"
        told_to_stop.send_signal(signal.SIGTERM)  # a deploy that gives up: it leaves at once
        assert told_to_stop.wait(10) == 0
    finally:
        system.cluster.start()
    wait_for(lambda: runner_rows(stack, late.pid) == 1, 60, "the late runner to register")
    assert runner_rows(stack, told_to_stop.pid) == 0
    # With the runners that were there before paused, only the late one can run these.
    with stack.paused(earlier):
        with stack.factory() as session, session.begin():
            specs = noop_specs(8, system.tenant_id, sleep_ms=(10, 50), max_attempts=1, seed=12)
            job_ids = [e.id for e in jobs.enqueue_many(session, specs)]

        def statuses() -> dict[str, int]:
            with stack.engine.connect() as conn:
                q = "SELECT status, count(*) FROM pipeline_jobs WHERE id = ANY(:ids) GROUP BY status"
                return {str(k): int(v) for k, v in conn.execute(text(q), {"ids": job_ids})}

        wait_for(lambda: statuses().get("COMPLETED") == len(job_ids), 60, "the late runner to run the jobs")
    waited = log_of(stack, late)
    count("faults: a runner started during an outage").update(
        jobs=len(job_ids), completed=statuses()["COMPLETED"], **{"waits logged": waited.count("database unreachable")}
    )  # fmt: skip
    assert "database unreachable" in waited
