"""shopify-order-to-xero against the live sandbox: the invoice's content, and exactly one of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_harness import SHOP, Env, workflow_env

from integrations.xero.client import XeroClient
from integrations.xero.models import TaxRate
from sandbox import control
from sandbox.shopify import api as shopify_sandbox
from sandbox.xero import data as xero_data
from sync.workflow_settings import SHOPIFY_ORDER_TO_XERO, save
from sync.workflows.shopify_order_to_xero import idempotency_key

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
JOB = "shopify-order-to-xero"
ORDER = 5100001001  # Alice, two lines, WELCOME10 discount, courier shipping (untaxed), AUD, GST 10%


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    with workflow_env(db_url, tmp_path, ("xero", "shopify")) as env:
        yield env


def paid(order_id: int = ORDER) -> dict[str, str]:
    shopify_sandbox.orders(SHOP)[order_id]["financial_status"] = "paid"
    return {"order_id": str(order_id), "shop": SHOP}


def invoices_for(reference: str) -> list[dict[str, Any]]:
    org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
    return [i for i in org.invoices.values() if i["Reference"] == reference]


def test_a_paid_order_becomes_one_invoice_with_its_lines_discount_and_shipping(env: Env) -> None:
    job = env.run(JOB, paid())
    assert job.status == "COMPLETED", job.error
    [invoice] = invoices_for("#1001")
    assert invoice["Type"] == "ACCREC"
    assert invoice["CurrencyCode"] == "AUD"
    assert invoice["LineAmountTypes"] == "Exclusive"
    assert invoice["Contact"]["EmailAddress"] == "alice@northwind.example"
    lines = [
        (li["Description"], li["Quantity"], li["UnitAmount"], li.get("DiscountAmount"), li["LineAmount"],
         li["TaxType"], li["TaxAmount"])
        for li in invoice["LineItems"]
    ]  # fmt: skip
    # WELCOME10 is allocated across the products; the courier line carries no GST in Shopify.
    assert lines == [
        ("Merino throw (MT-GRY)", 1.0, 189.0, 7.33, 181.67, "OUTPUT", 18.17),
        ("Kauri coaster set (KC-4)", 2.0, 34.5, 2.67, 66.33, "OUTPUT", 6.63),
        ("Shipping: Courier", 1.0, 12.0, None, 12.0, "EXEMPTOUTPUT", 0.0),
    ]
    order = shopify_sandbox.orders(SHOP)[ORDER]
    assert (invoice["Total"], invoice["TotalTax"]) == (float(order["total_price"]), float(order["total_tax"]))
    assert (invoice["Total"], invoice["TotalTax"]) == (284.8, 24.8)
    assert job.result is not None and job.result["created"] is True
    records = env.records(job.id)
    assert ("shopify", "order", str(ORDER), "READ") in records
    assert ("xero", "invoice", invoice["InvoiceID"], "CREATE") in records
    assert env.writes("xero")[idempotency_key(SHOP, ORDER)] == 1


def test_a_second_run_finds_the_invoice_and_creates_nothing(env: Env) -> None:
    env.run(JOB, paid())
    again = env.run(JOB, paid())
    assert again.status == "COMPLETED"
    assert again.result is not None and again.result["created"] is False
    assert len(invoices_for("#1001")) == 1


def test_a_lost_answer_is_retried_with_the_same_key_and_creates_one_invoice(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arm the fault right after the tax rates are read, the last read before the create: Xero
    # processes the PUT but its answer is lost (502); the retry carries the same key and is
    # answered, not run.
    original = XeroClient.tax_rates

    def then_drop_the_next_write(self: XeroClient) -> list[TaxRate]:
        rates = original(self)
        control.add_fault("xero", "drop", 1, path_contains="Invoices")
        return rates

    monkeypatch.setattr(XeroClient, "tax_rates", then_drop_the_next_write)
    job = env.run(JOB, paid(), max_attempts=1)
    assert job.status == "COMPLETED", job.error
    assert [s.status_code for s in env.steps(job.id) if s.method == "PUT" and "Invoices" in (s.path or "")] == [
        502,
        200,
    ]
    assert len(invoices_for("#1001")) == 1
    assert env.writes("xero")[idempotency_key(SHOP, ORDER)] == 1


def test_an_unpaid_order_is_skipped(env: Env) -> None:
    job = env.run(JOB, {"order_id": "5100001003", "shop": SHOP})
    assert job.status == "COMPLETED"
    assert job.result == {"skipped": "order PENDING", "order": "#1003"}
    assert invoices_for("#1003") == []


def test_a_deleted_order_fails_at_once_naming_it(env: Env) -> None:
    job = env.run(JOB, {"order_id": "4242", "shop": SHOP})
    assert job.status == "FAILED"
    assert job.attempts == 1
    assert "Shopify order 4242 does not exist" in (job.error or "")


def _save_options(env: Env, **options: Any) -> None:
    with env.factory() as session, session.begin():
        save(session, env.tenant_id, SHOPIFY_ORDER_TO_XERO, options=options)


def _contacts(email: str) -> list[dict[str, Any]]:
    org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
    return [c for c in org.contacts.values() if c.get("EmailAddress") == email]


def test_the_options_map_tax_lines_and_untaxed_lines_to_the_named_tax_types(env: Env) -> None:
    _save_options(env, tax_types={"gst 10 %": "OUTPUT"}, untaxed_tax_type="BASEXCLUDED")
    job = env.run(JOB, paid())
    assert job.status == "COMPLETED", job.error
    [invoice] = invoices_for("#1001")
    assert [li["TaxType"] for li in invoice["LineItems"]] == ["OUTPUT", "OUTPUT", "BASEXCLUDED"]
    assert (invoice["Total"], invoice["TotalTax"]) == (284.8, 24.8)


def test_an_order_with_a_rate_the_organisation_lacks_fails_at_once_and_creates_nothing(env: Env) -> None:
    order = shopify_sandbox.orders(SHOP)[ORDER]
    for item in order["line_items"]:
        for tax in item["tax_lines"]:
            tax.update(title="VAT", rate=0.2)
    job = env.run(JOB, paid())
    assert job.status == "FAILED" and job.attempts == 1
    error = job.error or ""
    assert "Shopify tax line 'VAT 20%' on line 'Merino throw'" in error
    assert "option tax_types" in error and "{'VAT 20%': '<Xero TaxType>'}" in error
    assert invoices_for("#1001") == [] and _contacts("alice@northwind.example") == []


def test_a_mapping_to_a_tax_type_the_organisation_lacks_or_to_another_rate_fails_naming_the_option(env: Env) -> None:
    _save_options(env, tax_types={"GST": "OUTPUT2"})
    job = env.run(JOB, paid())
    assert job.status == "FAILED" and job.attempts == 1
    assert "option tax_types['GST'] maps Shopify tax line 'GST 10%' to Xero TaxType 'OUTPUT2'" in (job.error or "")
    _save_options(env, tax_types={"GST": "EXEMPTOUTPUT"})
    job = env.run(JOB, paid())
    assert job.status == "FAILED" and job.attempts == 1
    assert "charged 18.17 tax but Xero TaxType EXEMPTOUTPUT (0%) gives 0.00" in (job.error or "")
    assert "option tax_types" in (job.error or "")
    assert invoices_for("#1001") == []
