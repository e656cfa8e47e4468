"""Hostile input against the real listener: ``python -m webhook`` (gunicorn) on PostgreSQL.

Counted invariants: schemathesis cases answered 5xx (0); hostile bodies answered anything but
a 4xx problem document (0) or leaving a row behind (0); replays creating a second job (0);
forgeries accepted or stored (0), while the ``bad_signature`` counter grows by exactly the
number of forgeries sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from conftest import (
    PORTAL,
    SECRETS,
    XERO_ORG,
    LiveListener,
    cases,
    count,
    signed_headers,
    slow_enabled,
)
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from prometheus_client.parser import text_string_to_metric_families
from schemathesis import GenerationMode

from integrations.hubspot import webhooks as hubspot
from webhook.openapi import spec

pytestmark = pytest.mark.reliability

MAX_BYTES = 65536  # ZIXLY_WEBHOOK_MAX_BYTES of the listener under test (conftest.listener_env)
TABLES = ("webhook_deliveries", "pipeline_jobs")


def vendor_paths(listener: LiveListener) -> dict[str, str]:
    return {
        "xero": "/webhook/xero",
        "hubspot": "/webhook/hubspot",
        "shopify": "/webhook/shopify",
        "asana": f"/webhook/asana/{listener.asana_connection_id}",
    }


def sample_body(vendor: str, n: int = 1) -> bytes:
    """A genuine-looking delivery (``n`` makes it a different event)."""
    if vendor == "xero":
        event = {
            "tenantId": XERO_ORG,
            "eventCategory": "INVOICE",
            "eventType": "UPDATE",
            "resourceId": f"00000000-0000-0000-0000-{n:012d}",
            "eventDateUtc": "2026-11-26T10:00:00.000",
        }
        return json.dumps({"events": [event], "firstEventSequence": n, "lastEventSequence": n}).encode()
    if vendor == "hubspot":
        return json.dumps(
            [
                {
                    "portalId": int(PORTAL),
                    "subscriptionType": "deal.propertyChange",
                    "propertyName": "dealstage",
                    "propertyValue": "closedwon",
                    "objectId": 1000 + n,
                    "eventId": n,
                    "subscriptionId": 7,
                    "occurredAt": 1_795_000_000_000 + n,
                }
            ]
        ).encode()
    if vendor == "shopify":
        return json.dumps({"id": 820982911946154508 + n, "financial_status": "paid", "name": f"#{n}"}).encode()
    event = {
        "resource": {"gid": str(1200 + n), "resource_type": "task"},
        "action": "changed",
        "created_at": "2026-11-26T10:00:00.000Z",
        "change": {"field": "completed"},
        "user": {"gid": "42"},
    }
    return json.dumps({"events": [event]}).encode()


def post_signed(listener: LiveListener, vendor: str, body: bytes, **kw: Any) -> httpx.Response:
    path = vendor_paths(listener)[vendor]
    headers = signed_headers(vendor, body, listener.base, path, **kw)
    return httpx.post(listener.base + path, content=body, headers=headers, timeout=30)


def rows(listener: LiveListener) -> dict[str, int]:
    return {t: listener.rows(t) for t in TABLES}


# -- schemathesis over /openapi.json ----------------------------------------------------------------


def _fuzz_document(listener: LiveListener, per_operation: int) -> None:
    tally = count("schemathesis")
    server_errors: list[str] = []
    schema = schemathesis.openapi.from_dict(spec(listener.base))
    vendors = {path: vendor for vendor, path in vendor_paths(listener).items()}
    vendors["/webhook/asana/{connection_id}"] = "asana"
    auth = {"Authorization": f"Bearer {listener.tokens['EDITOR']}"}

    with requests.Session() as http:

        def check(response: requests.Response, what: str) -> None:
            tally["requests"] += 1
            tally[f"{response.status_code // 100}xx"] += 1
            if response.status_code >= 500:
                server_errors.append(f"{what} -> {response.status_code} {response.text[:200]}")

        def send(case: Any) -> None:
            tally["cases"] += 1
            extra = {} if "Authorization" in (case.headers or {}) else auth
            check(case.call(base_url=listener.base, session=http, headers=extra, timeout=30), case.as_curl_command())
            vendor = vendors.get(case.operation.path)
            if vendor is None or case.body is None or not isinstance(case.body, dict | list):
                return
            # The same body signed as the vendor would: this reaches the parser, not just the 401.
            body = json.dumps(case.body).encode()
            path = vendor_paths(listener)[vendor]
            headers = signed_headers(vendor, body, listener.base, path, event_id=f"fuzz-{tally['cases']}")
            tally["signed"] += 1
            check(http.post(listener.base + path, data=body, headers=headers, timeout=30), f"signed {vendor} {body!r}")

        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=per_operation, deadline=None, database=None, suppress_health_check=list(HealthCheck)
                )
                @given(operation.as_strategy(mode))
                def run(case: Any) -> None:
                    send(case)

                try:
                    run()
                except Unsatisfiable:
                    tally["unsatisfiable_operation_modes"] += 1
    tally["server_errors"] += len(server_errors)
    assert server_errors == [], "\n".join(server_errors[:10])


def test_fuzzing_the_openapi_document_gets_no_5xx(live_listener: LiveListener) -> None:
    _fuzz_document(live_listener, cases(15, 15, False))


@pytest.mark.slow
def test_fuzzing_the_openapi_document_gets_no_5xx_long_run(
    live_listener: LiveListener, request: pytest.FixtureRequest
) -> None:
    _fuzz_document(live_listener, cases(15, 300, slow_enabled(request.config)))


# -- oversized, deeply nested, invalid UTF-8 ----------------------------------------------------------

HOSTILE_BODIES: dict[str, bytes] = {
    "oversized": b'{"events": ["' + b"x" * MAX_BYTES + b'"]}',
    "nested_arrays": b"[" * 30000 + b"]" * 30000,
    "nested_objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "nested_in_events": b'{"events": [' + b"[" * 20000 + b"]" * 20000 + b"]}",
    "invalid_utf8": b'{"events": [{"eventCategory": "\xff\xfe\xc3(", "x": "\xed\xa0\x80"}]}',
    "invalid_utf8_start": b"\xff\xfe\x00{",
}
# Valid JSON that PostgreSQL cannot store as text: the job API refuses it (422); vendor data is
# cleaned and stored instead (a vendor would retry a refused delivery forever).
UNSTORABLE = b'{"job_type": "noop", "tenant": "acme", "params": {"a": "\\u0000\\ud800"}}'


def _cases() -> list[Any]:
    out = []
    for endpoint in ("xero", "hubspot", "shopify", "asana", "jobs"):
        for kind in sorted(HOSTILE_BODIES):
            out.append(pytest.param(endpoint, kind, id=f"{endpoint}-{kind}"))
    return out


def endpoints(listener: LiveListener) -> dict[str, tuple[str, dict[str, str]]]:
    """Every endpoint that reads a body: path and the headers that get it past authentication."""
    found = {}
    for vendor, path in vendor_paths(listener).items():
        found[vendor] = (path, {})
    found["jobs"] = ("/webhook/jobs", {"Authorization": f"Bearer {listener.tokens['EDITOR']}"})
    return found


def _headers_for(listener: LiveListener, name: str, body: bytes) -> tuple[str, dict[str, str]]:
    path, headers = endpoints(listener)[name]
    if name == "jobs":
        return path, {"Content-Type": "application/json", **headers}
    return path, signed_headers(name, body, listener.base, path, event_id="hostile")


def _assert_problem(response: httpx.Response, what: str) -> None:
    tally = count("hostile_bodies")
    tally["requests"] += 1
    tally[f"{response.status_code // 100}xx"] += 1
    ok = 400 <= response.status_code < 500 and response.headers.get("content-type") == "application/problem+json"
    if not ok:
        tally["not_a_4xx_problem"] += 1
    assert ok, f"{what}: {response.status_code} {response.headers.get('content-type')} {response.text[:200]}"


@pytest.mark.parametrize(("endpoint", "kind"), _cases())
def test_a_hostile_body_gets_a_4xx_problem_and_leaves_nothing(
    live_listener: LiveListener, endpoint: str, kind: str
) -> None:
    before = rows(live_listener)
    body = HOSTILE_BODIES[kind]
    path, headers = _headers_for(live_listener, endpoint, body)  # correctly signed: the body itself is the attack
    response = httpx.post(live_listener.base + path, content=body, headers=headers, timeout=30)
    _assert_problem(response, f"{kind} to {endpoint}")
    if kind == "oversized":
        assert response.status_code == 413
    assert rows(live_listener) == before


def test_unstorable_text_is_a_422_at_the_job_api(live_listener: LiveListener) -> None:
    before = rows(live_listener)
    path, headers = _headers_for(live_listener, "jobs", UNSTORABLE)
    response = httpx.post(live_listener.base + path, content=UNSTORABLE, headers=headers, timeout=30)
    _assert_problem(response, "NUL and a lone surrogate to jobs")
    assert response.status_code == 422
    assert rows(live_listener) == before


@pytest.mark.parametrize("vendor", ["xero", "hubspot", "shopify", "asana"])
def test_unstorable_text_in_vendor_data_is_stored_cleaned_not_a_5xx(live_listener: LiveListener, vendor: str) -> None:
    data = json.loads(sample_body(vendor, n=800 + len(vendor)))
    item = data[0] if isinstance(data, list) else (data["events"][0] if "events" in data else data)
    item["note"] = "nul\u0000 and a lone surrogate \ud800"
    body = json.dumps(item if vendor == "shopify" else data).encode()
    response = post_signed(live_listener, vendor, body, event_id="unstorable")
    count("hostile_bodies")[f"{response.status_code // 100}xx"] += 1
    assert 200 <= response.status_code < 300, response.text[:300]


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        sent += 8192
        yield b"x" * 8192


@pytest.mark.parametrize("endpoint", ["xero", "hubspot", "shopify", "asana", "jobs"])
def test_an_oversized_chunked_body_without_content_length_is_refused_with_413(
    live_listener: LiveListener, endpoint: str
) -> None:
    before = rows(live_listener)
    path, headers = _headers_for(live_listener, endpoint, b"")
    response = httpx.post(live_listener.base + path, content=_chunks(4 * MAX_BYTES), headers=headers, timeout=30)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    _assert_problem(response, f"chunked to {endpoint}")
    assert response.status_code == 413
    assert rows(live_listener) == before


def _raw_exchange(listener: LiveListener, head: bytes, body: bytes, *, half_close: bool) -> bytes:
    port = int(listener.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        # The server may answer and close before it has read all we send (that is the point).
        with contextlib.suppress(OSError):
            sock.sendall(head + body)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
        return data


@pytest.mark.parametrize("lie", ["declares_less", "declares_more", "absent"])
@pytest.mark.parametrize("endpoint", ["xero", "hubspot", "shopify", "asana", "jobs"])
def test_a_lying_or_absent_content_length_is_a_4xx(live_listener: LiveListener, endpoint: str, lie: str) -> None:
    """The first answer on the connection is a 4xx problem, never a 5xx; nothing is stored."""
    before = rows(live_listener)
    body = sample_body(endpoint if endpoint != "jobs" else "xero", n=999) + b" " * (2 * MAX_BYTES)
    path, headers = _headers_for(live_listener, endpoint, body)
    declared = {"declares_less": 20, "declares_more": len(body) + 5000, "absent": None}[lie]
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if declared is not None:
        lines.append(f"Content-Length: {declared}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    reply = _raw_exchange(live_listener, head, body if lie != "absent" else b"", half_close=True)
    status_line, _, rest = reply.partition(b"\r\n")
    status = int(status_line.split()[1])
    tally = count("hostile_bodies")
    tally["requests"] += 1
    tally[f"{status // 100}xx"] += 1
    assert 400 <= status < 500, reply[:300]
    assert b"content-type: application/problem+json" in rest.lower()
    assert rows(live_listener) == before


# -- replayed and forged deliveries -----------------------------------------------------------------

VENDORS = ("xero", "hubspot", "shopify", "asana")


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_replayed_delivery_makes_one_job(live_listener: LiveListener, vendor: str) -> None:
    """The same event 20 times, 10 of them concurrently: one delivery row and one job."""
    tally = count("replays")
    before = rows(live_listener)
    body = sample_body(vendor, n=500 + VENDORS.index(vendor))

    def send(_: int) -> int:
        return post_signed(live_listener, vendor, body, event_id="replayed-1").status_code

    statuses = [send(i) for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        statuses += list(pool.map(send, range(10)))
    tally["sent"] += len(statuses)
    assert all(200 <= s < 300 for s in statuses), statuses
    after = rows(live_listener)
    extra_jobs = after["pipeline_jobs"] - before["pipeline_jobs"] - 1
    tally["extra_jobs"] += max(extra_jobs, 0)
    assert after["webhook_deliveries"] - before["webhook_deliveries"] == 1
    assert extra_jobs == 0


def bad_signatures(listener: LiveListener) -> dict[str, float]:
    text = httpx.get(listener.base + "/metrics", timeout=10).text
    found = {v: 0.0 for v in VENDORS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "webhook_deliveries_total" and sample.labels.get("outcome") == "bad_signature":
                found[sample.labels["source"]] += sample.value
    return found


def forgeries(listener: LiveListener, vendor: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """(what, body, headers): every way we could think of to fake a delivery from ``vendor``."""
    path = vendor_paths(listener)[vendor]
    body = sample_body(vendor, n=700)
    genuine = signed_headers(vendor, body, listener.base, path, event_id="forged")
    sig_names = {"xero": "x-xero-signature", "hubspot": hubspot.HEADER_V3, "shopify": "X-Shopify-Hmac-Sha256",
                 "asana": "X-Hook-Signature"}  # fmt: skip
    name = next(k for k in genuine if k.lower() == sig_names[vendor].lower())
    no_sig = {k: v for k, v in genuine.items() if k != name}
    flipped = bytearray(body)
    flipped[len(body) // 2] ^= 0x01
    other = signed_headers("shopify" if vendor != "shopify" else "xero", body, listener.base, path)
    out = [
        ("no signature", body, no_sig),
        ("empty signature", body, no_sig | {name: ""}),
        ("random signature", body, no_sig | {name: base64.b64encode(os.urandom(32)).decode()}),
        ("random hex signature", body, no_sig | {name: os.urandom(32).hex()}),
        ("bit-flipped body", bytes(flipped), genuine),
        ("appended body", body + b" ", genuine),
        ("truncated body", body[:-1], genuine),
        ("another vendor's signature", body, no_sig | {k: v for k, v in other.items() if k != "Content-Type"}),
        ("signature of the empty body", body, signed_headers(vendor, b"", listener.base, path, event_id="forged")),
    ]
    if vendor == "hubspot":
        old = str(int((time.time() - 600) * 1000))
        stale = hubspot.signature_v3(SECRETS["hubspot"], "POST", listener.base + path, body, old)
        out.append(("stale v3 timestamp", body, no_sig | {name: stale, hubspot.HEADER_TIMESTAMP: old}))
        out.append(("v1 signature with a wrong secret", body, {"Content-Type": "application/json",
                    hubspot.HEADER_LEGACY: hubspot.signature_v1("guess", body)}))  # fmt: skip
    if vendor == "asana":
        out.append(("another connection's id", body, genuine | {"X-Path": "/webhook/asana/999999"}))
    return out


@pytest.mark.parametrize("vendor", VENDORS)
def test_forged_deliveries_are_all_refused_and_only_counted(live_listener: LiveListener, vendor: str) -> None:
    tally = count("forgeries")
    before, counted = rows(live_listener), bad_signatures(live_listener)
    path = vendor_paths(live_listener)[vendor]
    attempts = forgeries(live_listener, vendor)
    refused_here = sum(1 for *_, h in attempts if "X-Path" not in h)
    accepted = []
    for what, body, headers in attempts:
        target = headers.pop("X-Path", path)
        response = httpx.post(live_listener.base + target, content=body, headers=headers, timeout=30)
        tally["sent"] += 1
        if response.status_code < 400:
            accepted.append(what)
        elif target == path:
            assert response.status_code == 401, (what, response.status_code)
    tally["accepted"] += len(accepted)
    assert accepted == []
    assert rows(live_listener) == before
    assert bad_signatures(live_listener)[vendor] - counted[vendor] == refused_here
