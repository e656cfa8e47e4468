"""Property: every Shopify order the workflow accepts becomes a Xero invoice that reconciles to the cent.

Generated orders (:mod:`shopify_order_gen`: mixed rates, tax-inclusive and exclusive prices,
line- and order-level discounts, shipping with and without tax and with shipping discounts, five
currencies) go through the real ``shopify-order-to-xero`` workflow — runner, Shopify GraphQL,
Xero API, all over HTTP — against one sandbox holding an Australian organisation (the demo's,
GST 10 %) and a New Zealand one (GST 15 %), each connected to its own tenant and shop. The
invoice's ``Total`` must equal the order's ``total_price`` and its ``TotalTax`` the order's
``total_tax``; an order with a rate the organisation does not have must fail permanently, naming
the tax line and the ``tax_types`` option, and leave no invoice. The whole set runs on SQLite; a
smaller companion set runs on PostgreSQL; ``make test`` runs a quick set of each (50 and 30
orders), ``make test-slow`` the full ones (200 and 40). Counts are printed (``-s``) and kept in
``test-artifacts/tax-reconciliation.json``.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shopify_order_gen import UNMAPPABLE_LABEL, OrderSpec, order_specs, rest_order
from workflow_harness import SHOP, Env, workflow_env

from db import jobs
from db.models import Connection, Tenant
from demo.connect import connect
from sandbox.shopify import api as shopify_sandbox
from sandbox.xero import data as xero_data
from sync.workflow_settings import SHOPIFY_ORDER_TO_XERO, save

JOB = "shopify-order-to-xero"
NZ_SHOP = "kiwi-outdoor.myshopify.com"
# Generated orders per run: a quick set in every ``make test``, the full set with the slow runs
# (``make test-slow``). Each order is a job through the runner and both vendors' HTTP APIs.
EXAMPLES = {("sqlite", "quick"): 50, ("postgres", "quick"): 30, ("sqlite", "full"): 200, ("postgres", "full"): 40}
ARTIFACT = Path("test-artifacts") / "tax-reconciliation.json"
_ids = itertools.count(1)


class Region:
    def __init__(self, tenant_id: int, xero_tenant: str, shop: str) -> None:
        self.tenant_id, self.xero_tenant, self.shop = tenant_id, xero_tenant, shop


def _unthrottle(env: Env) -> None:
    """Hundreds of jobs in a minute: lift Xero's per-minute budgets and Shopify's query bucket, at the
    sandbox and in the runner's quota governor."""
    env.control("limits", vendor="xero", budget="minute", limit=1_000_000, window_s=60)
    env.control("limits", vendor="xero:app", budget="appminute", limit=1_000_000, window_s=60)
    httpx.post(f"{env.base}/shopify/_sandbox/throttle", json={"maximum": 1e9, "restore_rate": 1e9, "available": 1e9},
               trust_env=False).raise_for_status()  # fmt: skip
    # The runner's quota governor keeps to the same vendor limits: shorten its windows to nothing.
    env.runner.settings = env.runner.settings.model_copy(update={"quota_time_scale": 1e-4})


def _nz_region(env: Env) -> Region:
    """A New Zealand organisation, connected to a second tenant with its own shop."""
    nz = env.control("xero/organisations", name="Kiwi Outdoor Ltd", country="NZ")["tenant_id"]
    env.control("xero/consent", tenant_ids=[nz])
    with env.factory() as session, session.begin():
        tenant = Tenant(name="Kiwi Outdoor")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
        session.add(Connection(tenant_id=tenant_id, system="xero"))
        session.add(Connection(tenant_id=tenant_id, system="shopify", external_org_id=NZ_SHOP))
    connect(env.settings, env.factory, tenant_id, "xero", via_listener=False)
    connect(env.settings, env.factory, tenant_id, "shopify", shop=NZ_SHOP, via_listener=False)
    env.control("xero/consent", tenant_ids=None)
    with env.factory() as session, session.begin():
        save(session, tenant_id, SHOPIFY_ORDER_TO_XERO, options={"untaxed_tax_type": "NONE"})
    return Region(tenant_id, nz, NZ_SHOP)


def _au_region(env: Env) -> Region:
    with env.factory() as session, session.begin():
        save(session, env.tenant_id, SHOPIFY_ORDER_TO_XERO, options={"tax_types": {"Goods and Services Tax": "OUTPUT"}})
    return Region(env.tenant_id, xero_data.DEMO_TENANT_ID, SHOP)


def _invoices(region: Region, reference: str) -> list[dict[str, Any]]:
    with xero_data.LOCK:
        org = xero_data.ORGS[region.xero_tenant]
        return [dict(i) for i in org.invoices.values() if i["Reference"] == reference]


def _check(env: Env, region: Region, spec: OrderSpec, tally: Counter[str]) -> None:
    n = next(_ids)
    order_id, number = 6_200_000_000 + n, 20_000 + n
    order = rest_order(spec, order_id, number, email=f"buyer{n % 7}@{spec.region.lower()}.example")
    shopify_sandbox.orders(region.shop)[order_id] = order
    with env.factory() as session, session.begin():
        job_id = jobs.enqueue(
            session, tenant_id=region.tenant_id, job_type=JOB, params={"order_id": str(order_id)}, max_attempts=3,
            created_by="test",
        ).id  # fmt: skip
    job = env.finish(job_id)
    invoices = _invoices(region, order["name"])
    tally["total"] += 1
    # An order charging no tax at all is invoiced NoTax, whatever its (0.00) tax lines say.
    if spec.unmappable and Decimal(order["total_tax"]) != 0:
        assert job.status == "FAILED" and job.attempts == 1, (spec, job.status, job.error)
        assert UNMAPPABLE_LABEL[spec.region] in (job.error or "") and "tax_types" in (job.error or ""), job.error
        assert invoices == [], spec
        tally["refused"] += 1
        return
    assert job.status == "COMPLETED", (spec, job.error)
    [invoice] = invoices
    total, tax = Decimal(str(invoice["Total"])), Decimal(str(invoice["TotalTax"]))
    assert (total, tax) == (Decimal(order["total_price"]), Decimal(order["total_tax"])), (spec, invoice)
    assert invoice["CurrencyCode"] == spec.currency
    taxed = Decimal(order["total_tax"]) != 0
    expected_types = ("Inclusive" if spec.taxes_included else "Exclusive") if taxed else "NoTax"
    assert invoice["LineAmountTypes"] == expected_types, spec
    tally["reconciled"] += 1
    tally[f"reconciled {spec.region} {expected_types}"] += 1
    tally["reconciled with split tax lines"] += any(i.kind == "split" for i in spec.items)
    tally["reconciled with a mapped title"] += spec.region == "AU" and any(i.kind == "mapped" for i in spec.items)


@pytest.mark.parametrize(
    ("db_url", "size"),
    [
        pytest.param("sqlite", "quick", id="sqlite"),
        pytest.param("postgres", "quick", id="postgres"),
        pytest.param("sqlite", "full", id="sqlite-full", marks=pytest.mark.slow),
        pytest.param("postgres", "full", id="postgres-full", marks=pytest.mark.slow),
    ],
    indirect=["db_url"],
)
def test_every_accepted_order_reconciles_to_the_cent_and_the_rest_fail_permanently(
    db_url: str, size: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    name = "sqlite" if db_url.startswith("sqlite") else "postgres"
    examples = EXAMPLES[name, size]
    tally: Counter[str] = Counter()
    with workflow_env(db_url, tmp_path, ("xero", "shopify")) as env:
        _unthrottle(env)
        regions = {"AU": _au_region(env), "NZ": _nz_region(env)}

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(spec=st.one_of(order_specs("AU"), order_specs("NZ")))
        def reconciles(spec: OrderSpec) -> None:
            _check(env, regions[spec.region], spec, tally)

        reconciles()
    print(f"\n{name} ({size}): {tally['reconciled']}/{tally['total']} generated orders reconciled, "
          f"{tally['refused']} refused as unmappable; {dict(tally)}")  # fmt: skip
    ARTIFACT.parent.mkdir(exist_ok=True)
    found = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    key = name if size == "quick" else f"{name}-full"
    ARTIFACT.write_text(json.dumps(found | {key: dict(tally)}, indent=2, sort_keys=True))
    assert tally["reconciled"] + tally["refused"] == tally["total"] >= examples
    assert tally["reconciled"] >= examples * 3 // 4 and tally["refused"] >= 1
    for kind in ("AU Exclusive", "AU Inclusive", "NZ Exclusive", "NZ Inclusive"):
        assert tally[f"reconciled {kind}"] > 0, kind
