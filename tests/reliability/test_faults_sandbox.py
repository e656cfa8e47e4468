"""The vendor misbehaves: Xero answers 500s, 503s and 429s, times out, and loses answers.

Real processes on PostgreSQL (sandbox, gunicorn listener, two runners). Paid Shopify orders
arrive as signed webhooks — each order several times, as unique deliveries — while the
sandbox's Xero fails the next calls in turn: 500, 503, 429 (Retry-After), a slow 504, and
"drop" (the write happens, its answer is lost). Counted afterwards: every job COMPLETED, the
faults were met (the jobs' call steps show them), and the sandbox saw exactly one invoice
write and one contact write per idempotency key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from procs import SHOP, SHOPIFY_ORDERS, Deliveries, Procs, count, wait_all_final
from sqlalchemy import text

from sync.workflows.shopify_order_to_xero import idempotency_key

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]

# Applied in this order, each to the next matching Xero calls (sandbox/control.py).
FAULTS = (
    {"mode": "500", "count": 3},
    {"mode": "503", "count": 3},
    {"mode": "429", "count": 3},
    {"mode": "timeout", "count": 2, "delay_s": 1.0},
    {"mode": "drop", "count": 2, "path_contains": "Invoices"},
    {"mode": "drop", "count": 1, "path_contains": "Contacts"},
)
REDELIVERIES = 4  # extra unique deliveries per order


@pytest.fixture
def stack(module_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Procs]:
    stack = Procs(module_pg_url, tmp_path_factory.mktemp("sandbox-faults"), ZIXLY_WEBHOOK_WORKERS="2")
    try:
        stack.start_sandbox()
        stack.start_listener()
        stack.start_runner()
        stack.start_runner()
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


def test_xero_failing_every_way_still_gives_one_invoice_per_order(stack: Procs) -> None:
    stack.generous_limits()
    # One job per delivery, redeliveries included (they are what the faults test): no debounce.
    stack.without_debounce(stack.create_tenant())
    for fault in FAULTS:
        stack.control("faults", vendor="xero", **fault)
    for order in SHOPIFY_ORDERS:  # paid at the shop: the sandbox sends the webhook itself
        stack.sandbox_post(f"/shopify/_sandbox/orders/{order}/pay", shop=SHOP)
    deliveries = Deliveries(stack.listener)
    with httpx.Client(base_url=stack.listener, timeout=10, trust_env=False) as http:
        for n in range(REDELIVERIES * len(SHOPIFY_ORDERS)):
            path, body, headers = deliveries.shopify(n)
            assert http.post(path, content=body, headers=headers).status_code == 202

    n_jobs = len(SHOPIFY_ORDERS) * (1 + REDELIVERIES)
    final = wait_all_final(stack.engine, n_jobs, timeout=120, what="the orders' jobs to finish")
    with stack.engine.connect() as conn:
        calls = conn.execute(text("SELECT status_code FROM job_steps WHERE kind = 'call' AND system = 'xero'"))
        seen = Counter("no answer" if code is None else str(code) for (code,) in calls)
        attempts = Counter(int(a) for (a,) in conn.execute(text("SELECT attempts FROM pipeline_jobs")))
        errors = [e for (e,) in conn.execute(text("SELECT error FROM pipeline_jobs WHERE status <> 'COMPLETED'"))]
    writes = stack.writes("xero")
    invoices = {k: v for k, v in writes.items() if k.startswith("zixly:shopify:")}
    contacts = {k: v for k, v in writes.items() if k.startswith("zixly:contact:")}
    count("faults: sandbox Xero 500/503/429/timeout/drop").update(
        jobs=sum(final.values()), **{f"jobs {k}": v for k, v in final.items()},
        **{f"jobs with attempts={k}": v for k, v in attempts.items()},
        **{f"xero answers {k}": v for k, v in seen.items()},
        invoice_keys=len(invoices), invoice_writes=sum(invoices.values()),
        contact_keys=len(contacts), contact_writes=sum(contacts.values()),
    )  # fmt: skip

    assert final["COMPLETED"] == n_jobs, errors
    for fault in ("500", "503", "429", "504", "502"):  # every kind of failure was met (502: answer dropped)
        assert seen[fault] > 0, seen
    assert set(invoices) == {idempotency_key(SHOP, o) for o in SHOPIFY_ORDERS}
    assert all(v == 1 for v in invoices.values()), invoices  # no duplicate external write
    assert all(v == 1 for v in contacts.values()), contacts
