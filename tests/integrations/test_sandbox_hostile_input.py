"""Hostile input to every sandbox route: a client's mistake is never a 500.

Every URL rule of the sandbox app, every method, with valid and hostile path values, hostile
query strings, bodies and headers, authenticated (so the request reaches the parsing), from
Flask's test client (the real app, no network needed except for the webhooks some controls
send, which go to a real receiver). Each answer must be below 500, and a vendor's answer must
have that vendor's error shape.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fidelity_record import Exchange
from fidelity_specs import check, hubspot_specs_present
from flask import Flask
from flask.testing import FlaskClient
from sandbox_live import SECRETS, Receiver
from werkzeug.routing import Rule

from sandbox import control
from sandbox.app import create_sandbox_app, reset_all
from sandbox.xero.data import DEMO_TENANT_ID
from settings import Settings
from tests.servers import serving

HOSTILE = ["", "0", "-1", "x" * 300, "%00", "../../etc/passwd", "' OR 1=1 --", "ä€😀", "9" * 30, "null", "{}", "[]"]
# Values a route's path arguments need to reach its deeper code (seeded records, real shops).
GOOD = {
    "shop": ["zixly-demo.myshopify.com"],
    "version": ["2026-10", "2026-09"],
    "object_type": ["contacts", "deals"],
    "to_type": ["companies"],
    "object_id": ["1", "101"],
    "number": ["INV-0042"],
    "vendor": ["xero", "asana"],
    "action": ["settings", "expire"],
    "project_gid": ["1201000000000201"],
    "user_gid": ["me", "ana@zixly.example"],
    "ticker": ["BHP", "AAPL"],
}
QUERY_NAMES = [
    "offset",
    "limit",
    "page",
    "pageSize",
    "where",
    "order",
    "IDs",
    "Statuses",
    "InvoiceNumbers",
    "ContactIDs",
    "searchTerm",
    "opt_fields",
    "modified_since",
    "completed_since",
    "after",
    "properties",
    "associations",
    "idProperty",
    "archived",
    "workspace",
    "project",
    "assignee",
    "resource",
    "authEventId",
    "start",
    "end",
    "format",
    "code",
    "state",
    "redirect_uri",
    "client_id",
    "response_type",
]
BODIES: list[Any] = [
    "{not json",
    [],
    None,
    "a string",
    12,
    {"data": "x"},
    {"data": {"name": ["x"], "projects": "1201000000000201", "due_on": "tomorrow", "assignee": {"a": 1}}},
    {"data": {"resource": {"x": 1}, "target": "not a url"}},
    {"Invoices": [{"LineItems": "x", "Contact": None, "Date": "yesterday"}]},
    {"Invoices": "x"},
    {"Contacts": [None, 5, {"Name": {"x": 1}}]},
    {"properties": {"email": {"x": 1}}, "associations": ["x", {"to": "y"}]},
    {"properties": "x"},
    {"inputs": [None, {"id": None, "properties": [1]}]},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}], "limit": "abc"},
    {"filterGroups": "x", "sorts": [{"propertyName": 5}], "after": "zzz"},
    {"query": "{ orders(first: 5) { nodes { id } } }", "variables": []},
    {"query": '{ orders(first: "many", query: "created_at:>garbage") { nodes { id } } }'},
    {"query": "mutation { x }"},
    {"stage": ["closedwon"], "shop": {"x": 1}, "target": 5, "retries": "many", "retry_delay_s": "soon"},
    {"vendor": None, "budget": None, "limit": "lots", "window_s": "x"},
    {"access_ttl": "forever", "refresh_grace_s": [], "rotate_refresh": "maybe"},
    {"heartbeat_delay_s": "x", "maximum": "x", "restore_rate": None, "available": "y"},
    {"grant_type": "refresh_token", "refresh_token": "forged", "code": ["x"]},
]
HEADERS = [
    {"If-Modified-Since": "not a date"},
    {"If-Modified-Since": "Tue, 01 Dec 2026 10:00:00 GMT"},
    {"Idempotency-Key": "k" * 500},
    {"xero-tenant-id": "not-a-tenant", "Accept": "text/html"},
    {"Content-Type": "application/x-www-form-urlencoded"},
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    receiver = Receiver()
    with serving(receiver.app()) as receiver_url:
        settings = Settings(  # type: ignore[call-arg]
            env="test", var_dir=tmp_path_factory.mktemp("hostile"), public_url=receiver_url, _env_file=None, **SECRETS
        )
        yield create_sandbox_app(settings)


def _fresh(client: FlaskClient) -> dict[str, str]:
    """Reset the sandbox, lift its rate limits, and return authorisation headers for every vendor."""
    reset_all()
    with control.LOCK:
        for budgets in control._budgets.values():
            for budget in budgets:
                budget.limit = 10**9
    redirect = "http://127.0.0.1:9/cb"
    consent = client.get(
        "/xero/login/identity/connect/authorize",
        query_string={"response_type": "code", "client_id": "c", "redirect_uri": redirect, "state": "s"},
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    token = client.post(
        "/xero/identity/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        headers={"Authorization": "Basic Yzpz"},
    ).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}", "xero-tenant-id": DEMO_TENANT_ID, "Accept": "application/json"}


def _auth_for(path: str, xero: dict[str, str]) -> dict[str, str]:
    if path.startswith("/xero"):
        return xero
    if path.startswith("/hubspot"):
        return {"Authorization": "Bearer pat-na1-hostile"}
    if path.startswith("/asana"):
        return {"Authorization": "Bearer 2/1201000000000101/1201000000009999:0123456789abcdef"}
    if path.startswith("/shopify"):
        return {"X-Shopify-Access-Token": "shpat_hostile"}
    return {}


def _paths(rule: Rule) -> list[tuple[str, bool]]:
    """The rule with its arguments all good (every combination), then one at a time hostile."""
    names = list(rule.arguments)
    if not names:
        return [(rule.rule, False)]

    def good(name: str) -> list[str]:
        converter = rule._converters[name]
        if type(converter).__name__ == "IntegerConverter":
            return ["5100001001"]
        return list(getattr(converter, "items", None) or GOOD.get(name, ["1"]))

    def bad(name: str) -> list[str]:
        if type(rule._converters[name]).__name__ == "IntegerConverter":
            return ["0", "99999999999999999999"]
        return [h for h in HOSTILE if h]

    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(good(n) for n in names))]
    hostile = [{**combos[0], name: value} for name in names for value in bad(name)]
    paths = []
    for combo in combos + hostile:
        path = rule.rule
        for name, value in combo.items():
            path = re.sub(rf"<(?:[^<>]*:)?{name}>", lambda _m, v=value: v, path)
        paths.append((path, combo in hostile))
    return paths


def _requests(method: str, control: bool) -> Iterator[dict[str, Any]]:
    """Request variants; the sandbox's own controls read no query string, so they get none."""
    yield {}
    for value in [] if control else HOSTILE:
        yield {"query_string": {name: value for name in QUERY_NAMES}}
    if method in ("POST", "PUT", "PATCH"):
        for body in BODIES:
            data = body if isinstance(body, str) else json.dumps(body)
            yield {"data": data, "content_type": "application/json"}
        yield {"data": {"grant_type": "authorization_code", "code": "x"}}
    for headers in [] if control else HEADERS:
        yield {"headers": headers, "query_string": {"where": 'Name=="x', "page": "x"}}


def _shape_ok(path: str, status: int, body: bytes) -> bool:
    """A vendor's error answer has that vendor's error shape (oauth endpoints answer OAuth's)."""
    if status < 400 or not body or "oauth" in path or "/identity/" in path or "/-/" in path:
        return True
    try:
        doc = json.loads(body)
    except ValueError:
        if path.startswith("/slack/"):  # Slack's incoming webhooks answer a plain-text error code
            return body in (b"invalid_payload", b"no_text")
        return path.startswith("/xero") and status == 406  # Xero answers XML unless asked for JSON
    if path.startswith("/xero/api.xro"):
        return {"ErrorNumber", "Type", "Message"} <= set(doc)
    if path.startswith("/hubspot/crm"):
        return {"status", "message", "correlationId", "category"} <= set(doc)
    if path.startswith("/asana/api"):
        return isinstance(doc.get("errors"), list) and all("message" in e for e in doc["errors"])
    if path.startswith("/shopify") and "/_sandbox/" not in path:
        return "errors" in doc
    return True


@dataclass
class Fuzzed:
    sent: int
    failures: list[str]
    # One exchange per (method, route, status, answer keys): what the answers look like.
    samples: dict[tuple[str, str, int, str], Exchange]


@pytest.fixture(scope="module")
def fuzzed(app: Flask) -> Fuzzed:
    client = app.test_client()
    found = Fuzzed(0, [], {})
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    for rule in rules:
        xero = _fresh(client)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for path, hostile_path in _paths(rule):
                # A hostile path value gets a plain request and one more; good paths every variant.
                variants = _requests(method, "/_sandbox" in path)
                if hostile_path:
                    variants = itertools.islice(variants, 2)
                for extra in variants:
                    headers = {**_auth_for(path, xero), **extra.pop("headers", {})}
                    response = client.open(path, method=method, headers=headers, **extra)
                    found.sent += 1
                    if response.status_code >= 500 or not _shape_ok(path, response.status_code, response.data):
                        found.failures.append(
                            f"{method} {path} {extra} -> {response.status_code} {response.data[:200]!r}"
                        )
                    _sample(found, rule, response, method, path, headers, extra)
    print(f"hostile requests sent: {found.sent} to {len(rules)} routes; failures: {len(found.failures)}")
    return found


def _sample(
    found: Fuzzed, rule: Rule, response: Any, method: str, path: str, headers: dict[str, str], extra: dict[str, Any]
) -> None:
    try:
        keys = ",".join(sorted(json.loads(response.data))) if response.data[:1] == b"{" else "-"
    except ValueError:
        keys = "?"
    key = (method, rule.rule, response.status_code, keys)
    if key in found.samples:
        return
    data = extra.get("data")
    body = data.encode() if isinstance(data, str) else b""
    found.samples[key] = Exchange(
        method=method,
        path=response.request.path,
        query=response.request.query_string.decode(),
        request_headers=headers,
        request_body=body,
        status=response.status_code,
        response_headers=dict(response.headers),
        response_body=response.data,
    )


def test_no_hostile_request_to_any_sandbox_route_is_a_500(fuzzed: Fuzzed) -> None:
    assert fuzzed.sent > 3000
    assert not fuzzed.failures, "\n".join(fuzzed.failures[:30])


def test_every_answer_to_hostile_input_is_one_the_vendor_documents(fuzzed: Fuzzed) -> None:
    """The answers (not the requests, wrong on purpose) against the vendors' documents."""
    checked, problems = 0, []
    for exchange in fuzzed.samples.values():
        if "/_sandbox" in exchange.path or (exchange.path.startswith("/hubspot/") and not hubspot_specs_present()):
            continue
        verdict = check(exchange, request_too=False)
        if verdict.unchecked_reason or verdict.response_unchecked:
            continue
        checked += 1
        if verdict.problems:
            problems.append(f"{exchange.describe()}: {verdict.problems}")
    print(f"hostile-input answers checked against the vendors' documents: {checked}; differing: {len(problems)}")
    assert not problems, "\n".join(problems[:20])
    assert checked > 50
    assert not problems, "\n".join(problems[:20])


def test_an_error_outside_any_route_takes_the_vendors_shape(app: Flask) -> None:
    client = app.test_client()
    assert {"ErrorNumber", "Type", "Message"} <= set(client.get("/xero/api.xro/2.0/Nothing").get_json())
    assert client.get("/hubspot/crm/nothing/here").get_json()["category"] == "OBJECT_NOT_FOUND"
    assert client.delete("/asana/api/1.0/tasks").get_json()["errors"][0]["message"]
