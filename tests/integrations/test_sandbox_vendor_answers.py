"""The sandbox answers like the vendors where a client's request is unusual or wrong.

Each case is one the vendor documents and the sandbox once got wrong: an RFC 1123
``If-Modified-Since`` on Xero, a forged Asana ``offset``, an unknown HubSpot search operator,
Asana's ``GET /users/me``, Xero's 30-minute refresh-token grace, and Shopify's order webhook
carrying every field of Shopify's own sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_live import Receiver, live_sandbox, reset
from xero_live import sandbox_token

from sandbox.demo_accounts import ASANA_WORKSPACE_NAME
from sandbox.xero.data import DEMO_TENANT_ID

PAT = "2/1201000000000101/1201000000009999:0123456789abcdef"
ONBOARDING = "1201000000000201"
SAMPLE = Path(__file__).with_name("shopify_order_webhook_sample.json")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver]]:
    with live_sandbox(tmp_path_factory.mktemp("vendor-answers")) as (url, receiver, _settings):
        yield url, receiver


@pytest.fixture
def base(live: tuple[str, Receiver]) -> str:
    reset(live[0])
    return live[0]


def _xero_get(base: str, path: str, **headers: str) -> httpx.Response:
    token = sandbox_token(base)
    return httpx.get(
        f"{base}/xero/api.xro/2.0{path}",
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": DEMO_TENANT_ID, "Accept": "application/json"}
        | headers,
        trust_env=False,
    )


def test_xero_takes_if_modified_since_as_rfc_1123_and_as_iso_8601_alike(base: str) -> None:
    rfc = _xero_get(base, "/Invoices", **{"If-Modified-Since": "Fri, 20 Nov 2026 00:00:00 GMT"})
    iso = _xero_get(base, "/Invoices", **{"If-Modified-Since": "2026-11-20T00:00:00"})
    assert rfc.status_code == iso.status_code == 200
    assert [i["InvoiceID"] for i in rfc.json()["Invoices"]] == [i["InvoiceID"] for i in iso.json()["Invoices"]]


def test_xero_refuses_a_garbled_if_modified_since_with_a_validation_exception(base: str) -> None:
    answer = _xero_get(base, "/Contacts", **{"If-Modified-Since": "last tuesday"})
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException" and "If-Modified-Since" in answer.json()["Message"]


def test_xero_answers_an_unknown_record_with_its_404_shape(base: str) -> None:
    answer = _xero_get(base, "/Invoices/00000000-0000-0000-0000-000000000000")
    assert answer.status_code == 404 and {"ErrorNumber", "Type", "Message"} <= set(answer.json())


def test_xero_takes_a_used_refresh_token_again_within_the_grace_and_answers_the_same_tokens(base: str) -> None:
    redirect = "http://127.0.0.1:9/cb"
    consent = httpx.get(
        f"{base}/xero/login/identity/connect/authorize",
        params={"response_type": "code", "client_id": "c", "redirect_uri": redirect, "scope": "offline_access"},
        trust_env=False,
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]

    def token(**form: str) -> httpx.Response:
        return httpx.post(f"{base}/xero/identity/connect/token", data=form, auth=("c", "s"), trust_env=False)

    first = token(grant_type="authorization_code", code=code, redirect_uri=redirect).json()
    rotated = token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    again = token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == again.status_code == 200
    assert again.json()["refresh_token"] == rotated.json()["refresh_token"] != first["refresh_token"]
    assert again.json()["access_token"] == rotated.json()["access_token"]
    # Past the grace the old token is refused, as Xero does.
    httpx.post(f"{base}/_sandbox/oauth/xero/settings", json={"refresh_grace_s": 0}, trust_env=False)
    late = token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def _asana(base: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{base}/asana/api/1.0{path}", params=params, headers={"Authorization": f"Bearer {PAT}"}, trust_env=False
    )


@pytest.mark.parametrize("offset", ["not-base64!", "bm90LWEtbnVtYmVy", "LTU="])  # junk, "not-a-number", "-5"
def test_asana_refuses_a_forged_offset_with_its_error_shape(base: str, offset: str) -> None:
    answer = _asana(base, f"/projects/{ONBOARDING}/tasks", limit="2", offset=offset)
    assert answer.status_code == 400
    assert "offset" in answer.json()["errors"][0]["message"]


def test_asana_answers_users_me_for_the_token_with_its_workspaces(base: str) -> None:
    answer = _asana(base, "/users/me", opt_fields="name,email,workspaces.name")
    assert answer.status_code == 200
    me = answer.json()["data"]
    assert (me["gid"], me["name"], me["email"]) == ("1201000000000101", "Ana Operator", "ana@zixly.example")
    assert [w["name"] for w in me["workspaces"]] == [ASANA_WORKSPACE_NAME]
    assert _asana(base, "/users/404").status_code == 404


def _search(base: str, operator: str) -> httpx.Response:
    body = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": operator, "value": "x"}]}]}
    return httpx.post(
        f"{base}/hubspot/crm/objects/2026-09/contacts/search",
        json=body,
        headers={"Authorization": "Bearer pat-na1-test"},
        trust_env=False,
    )


def test_hubspot_refuses_an_operator_outside_its_documented_enum(base: str) -> None:
    answer = _search(base, "STARTS_WITH")
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error" and body["correlationId"]
    assert "STARTS_WITH" in body["message"]
    assert _search(base, "CONTAINS_TOKEN").status_code == 200


def _key_paths(value: Any, sample: Any, prefix: str = "") -> set[str]:
    """Key paths of ``sample`` missing from ``value`` (list items: only where ``value`` has items)."""
    missing: set[str] = set()
    if isinstance(sample, dict):
        if not isinstance(value, dict):
            return {prefix or "."} if value is not None else set()
        for key, inner in sample.items():
            if key not in value:
                missing.add(prefix + key)
            else:
                missing |= _key_paths(value[key], inner, f"{prefix}{key}.")
    elif isinstance(sample, list) and sample and isinstance(value, list):
        for item in value:
            missing |= _key_paths(item, sample[0], f"{prefix}[].")
    return missing


def test_shopifys_order_webhook_carries_every_field_of_shopifys_sample(live: tuple[str, Receiver]) -> None:
    base, receiver = live
    reset(base)
    receiver.received.clear()
    httpx.post(f"{base}/shopify/_sandbox/orders/5100001001/pay", json={}, trust_env=False).raise_for_status()
    [delivery] = receiver.received
    order = json.loads(delivery.body)
    assert _key_paths(order, json.loads(SAMPLE.read_text())) == set()
    assert order["current_total_tax"] == order["total_tax"]
    assert [d["code"] for d in order["discount_applications"]] == [d["code"] for d in order["discount_codes"]]
