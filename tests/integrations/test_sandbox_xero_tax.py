"""The Xero sandbox computes tax as Xero documents it: per TaxType from the organisation's rates,
per-line rounding, Inclusive/Exclusive/NoTax, explicit TaxAmount within tolerance, and Xero's
ValidationException for what Xero refuses. Examples are Xero's own (its tax and rounding guides)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from sandbox_live import live_sandbox, reset
from xero_live import control, sandbox_token

import integrations.xero
from sandbox.xero.data import DEMO_TENANT_ID

SPEC = Path(integrations.xero.__file__).parent / "spec" / "xero_accounting.yaml"
API = "/xero/api.xro/2.0"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The sandbox with its Australian demo organisation plus a New Zealand and a UK one."""
    with live_sandbox(tmp_path_factory.mktemp("xero-tax")) as (base, _receiver, _settings):
        reset(base)
        orgs = {"AU": DEMO_TENANT_ID}
        for country in ("NZ", "GB"):
            orgs[country] = control(base, "xero/organisations", name=f"{country} Ltd", country=country)["tenant_id"]
        live = {"base": base, "token": sandbox_token(base), **orgs}
        for country in orgs:
            answer = call(live, "PUT", "/Contacts", country, json={"Contacts": [{"Name": "Tax test buyer"}]})
            live[f"contact:{country}"] = answer.json()["Contacts"][0]["ContactID"]
        yield live


def call(live: dict[str, str], method: str, path: str, org: str = "AU", **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {live['token']}", "xero-tenant-id": live[org], "Accept": "application/json"}
    return httpx.request(method, live["base"] + API + path, headers=headers, trust_env=False, **kwargs)


def create(live: dict[str, str], org: str = "AU", *, lines: list[dict[str, Any]], **invoice: Any) -> httpx.Response:
    body = {"Type": "ACCREC", "Contact": {"ContactID": live[f"contact:{org}"]}, "LineItems": lines, **invoice}
    return call(live, "PUT", "/Invoices", org, json={"Invoices": [body]})


def totals(response: httpx.Response) -> tuple[float, float, float]:
    assert response.status_code == 200, response.text
    invoice = response.json()["Invoices"][0]
    return invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]


def messages(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Type"] == "ValidationException" and body["ErrorNumber"] == 10
    return [e["Message"] for element in body["Elements"] for e in element["ValidationErrors"]]


def test_each_organisation_lists_its_countrys_tax_rates_as_the_spec_shapes_them(live: dict[str, str]) -> None:
    document = yaml.load(SPEC.read_text(), Loader=yaml.CSafeLoader)
    rates_schema = {**document["components"]["schemas"]["TaxRates"], "components": document["components"]}
    org_schema = {**document["components"]["schemas"]["Organisations"], "components": document["components"]}
    sales = {}
    for country in ("AU", "NZ", "GB"):
        body = call(live, "GET", "/TaxRates", country).json()
        OAS30Validator(rates_schema).validate(body)
        sales[country] = {r["TaxType"]: r["EffectiveRate"] for r in body["TaxRates"] if r["CanApplyToRevenue"]}
        organisation = call(live, "GET", "/Organisation", country).json()
        OAS30Validator(org_schema).validate(organisation)
        assert organisation["Organisations"][0]["CountryCode"] == country
    assert sales["AU"]["OUTPUT"] == 10.0 and sales["AU"]["EXEMPTOUTPUT"] == 0.0
    assert sales["NZ"]["OUTPUT2"] == 15.0 and sales["NZ"]["ZERORATED"] == 0.0 and sales["NZ"]["NONE"] == 0.0
    assert sales["GB"]["OUTPUT2"] == 20.0 and sales["GB"]["ZERORATEDOUTPUT"] == 0.0
    assert "INPUT" not in sales["AU"]  # a purchases rate
    one = call(live, "GET", "/TaxRates/OUTPUT2", "NZ").json()["TaxRates"]
    assert [r["Name"] for r in one] == ["15% GST on Income"]
    assert call(live, "GET", "/Organisation", "NZ").json()["Organisations"][0]["BaseCurrency"] == "NZD"


def test_tax_is_rounded_per_line_then_summed(live: dict[str, str]) -> None:
    # "Tax and the Xero API": two lines of 45.45 at 10 % are 4.55 each, 9.10 in all (not 9.09).
    lines = [{"Description": "A", "Quantity": 1, "UnitAmount": 45.45, "TaxType": "OUTPUT"}] * 2
    assert totals(create(live, lines=lines)) == (90.9, 9.1, 100.0)
    # "Rounding in Xero": 25.06, 25.61 and 25.63 at 15 % give 3.76 + 3.84 + 3.84 = 11.44.
    prices = ("25.06", "25.61", "25.63")
    nz = [{"Description": p, "Quantity": 1, "UnitAmount": float(p), "TaxType": "OUTPUT2"} for p in prices]
    assert totals(create(live, "NZ", lines=nz)) == (76.3, 11.44, 87.74)


def test_inclusive_exclusive_and_no_tax_amounts(live: dict[str, str]) -> None:
    line = {"Description": "Boots", "Quantity": 2, "UnitAmount": 57.5, "DiscountAmount": 5.0, "TaxType": "OUTPUT2"}
    assert totals(create(live, "NZ", lines=[line], LineAmountTypes="Exclusive")) == (110.0, 16.5, 126.5)
    assert totals(create(live, "NZ", lines=[line], LineAmountTypes="Inclusive")) == (95.65, 14.35, 110.0)
    assert totals(create(live, "NZ", lines=[line], LineAmountTypes="NoTax")) == (110.0, 0.0, 110.0)
    zero = {**line, "TaxType": "ZERORATEDOUTPUT"}
    assert totals(create(live, "GB", lines=[zero])) == (110.0, 0.0, 110.0)
    invoice = create(live, "NZ", lines=[line], LineAmountTypes="Inclusive").json()["Invoices"][0]
    assert invoice["CurrencyCode"] == "NZD" and invoice["LineItems"][0]["DiscountAmount"] == 5.0
    assert invoice["TotalDiscount"] == 5.0 and invoice["IsDiscounted"] is True


def test_a_line_without_tax_type_takes_the_sales_accounts_default_rate(live: dict[str, str]) -> None:
    line = {"Description": "Hire", "Quantity": 1, "UnitAmount": 100.0, "AccountCode": "200"}
    assert totals(create(live, lines=[line])) == (100.0, 10.0, 110.0)
    assert totals(create(live, "NZ", lines=[line])) == (100.0, 15.0, 115.0)


def test_an_explicit_tax_amount_is_kept_within_tolerance_and_refused_beyond(live: dict[str, str]) -> None:
    line = {"Description": "Rope", "Quantity": 1, "UnitAmount": 10.05, "TaxType": "OUTPUT", "TaxAmount": 1.0}
    assert totals(create(live, lines=[line])) == (10.05, 1.0, 11.05)  # Xero's own figure: 1.01
    off = create(live, lines=[{**line, "TaxAmount": 1.5}])
    assert messages(off) == ["Tax amount 1.50 is incorrect for OUTPUT tax type, should be 1.01"]


def test_what_xero_refuses_is_a_validation_exception_naming_each_problem(live: dict[str, str]) -> None:
    unknown = {"Description": "Rope", "Quantity": 1, "UnitAmount": 10.0, "TaxType": "GST"}
    purchases = {**unknown, "TaxType": "INPUT"}
    wrong_total = {**unknown, "TaxType": "OUTPUT", "LineAmount": 12.0}
    assert messages(create(live, lines=[unknown, purchases, wrong_total])) == [
        "The TaxType code GST does not exist or cannot be used for this type of transaction.",
        "The TaxType code INPUT does not exist or cannot be used for this type of transaction.",
        "The line total 12.00 does not match the expected line total 10.00",
    ]
    nz_only = {**unknown, "TaxType": "OUTPUT2"}
    assert messages(create(live, lines=[nz_only]))[0].startswith("The TaxType code OUTPUT2 does not exist")
    assert messages(create(live, lines=[unknown], LineAmountTypes="Gross"))[0].startswith("LineAmountTypes must be")
