"""Property-based fuzzing of every vendor's webhook parser and signature check (hypothesis).

The contract each ``integrations/<vendor>/webhooks.py`` documents: a parser returns events or
raises ``ValueError`` (``json.JSONDecodeError`` and ``UnicodeDecodeError`` are ValueErrors);
a signature check returns a bool and never raises, whatever the headers hold. And no forgery
passes: a random signature, or the right signature over a body with one bit flipped, is
refused. Header text is what an HTTP server hands over: Latin-1 characters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import count, examples, slow_enabled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.asana import webhooks as asana
from integrations.events import VendorEvent
from integrations.hubspot import webhooks as hubspot
from integrations.shopify import webhooks as shopify
from integrations.xero import webhooks as xero

pytestmark = pytest.mark.reliability

# -- strategies -----------------------------------------------------------------------------

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
secret_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity too: Python's json reads them
    | st.text(max_size=30)
)
any_json = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
# The calendar's edges with an offset have no UTC equivalent (they overflow on conversion).
EDGE_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "2026-13-01T00:00:00"]
timestamps = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.datetimes(timezones=st.none() | offsets).map(lambda d: d.isoformat()),
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.text(max_size=30),
)
epoch_ms = st.one_of(
    st.integers(),
    st.floats(),
    st.sampled_from([10**20, -(10**20), 2**63, 1e300]),
    st.text(st.sampled_from("0123456789-.e"), max_size=30),
    any_json,
)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


xero_event = _optional(
    tenantId=st.uuids().map(str) | any_json,
    eventCategory=st.sampled_from(["INVOICE", "CONTACT", "CREDITNOTE"]) | any_json,
    eventType=st.sampled_from(["UPDATE", "CREATE"]) | any_json,
    resourceId=st.uuids().map(str) | any_json,
    eventDateUtc=timestamps | any_json,
    resourceUrl=st.text(max_size=20),
)
hubspot_event = _optional(
    subscriptionType=st.sampled_from(["deal.propertyChange", "contact.creation", "object.creation"]) | any_json,
    objectId=st.integers() | any_json,
    objectTypeId=st.text(max_size=8) | any_json,
    portalId=st.integers() | any_json,
    occurredAt=epoch_ms,
    eventId=st.integers() | any_json,
    subscriptionId=st.integers() | any_json,
    propertyName=st.just("dealstage") | any_json,
    propertyValue=any_json,
)
gid_ref = _optional(gid=st.text(max_size=12) | any_json, resource_type=st.sampled_from(["task", "project"]) | any_json)
asana_event = _optional(
    resource=gid_ref | any_json,
    parent=gid_ref | any_json,
    user=gid_ref | any_json,
    action=st.sampled_from(["changed", "added"]) | any_json,
    created_at=timestamps | any_json,
    change=_optional(field=st.text(max_size=10) | any_json) | any_json,
)
shopify_headers = _optional(
    **{
        shopify.HEADER_TOPIC: st.sampled_from(["orders/paid", "orders/create"]) | header_text,
        shopify.HEADER_SHOP: st.just("acme.myshopify.com") | header_text,
        shopify.HEADER_TRIGGERED_AT: timestamps.filter(lambda t: all(ord(c) <= 0xFF for c in t)) | header_text,
        shopify.HEADER_EVENT_ID: header_text,
        shopify.HEADER_WEBHOOK_ID: header_text,
        shopify.HEADER_API_VERSION: header_text,
    }
)
shopify_resource = _optional(
    id=st.integers() | any_json, admin_graphql_api_id=any_json, updated_at=timestamps | any_json
)


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


def bodies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, arbitrary JSON, and JSON in the vendor's own shape."""
    return st.one_of(st.binary(max_size=300), any_json.map(_dump), shaped.map(_dump))


PARSERS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], list[VendorEvent]]]] = {
    "xero": (
        bodies(st.fixed_dictionaries({"events": st.lists(xero_event, max_size=3)})),
        xero.parse_events,
    ),
    "hubspot": (bodies(st.lists(hubspot_event, max_size=3)), hubspot.parse_events),
    "asana": (
        bodies(st.fixed_dictionaries({"events": st.lists(asana_event, max_size=3)})),
        lambda body: asana.parse_events(body, org_id="ws-1"),
    ),
    "shopify": (
        st.tuples(shopify_headers, bodies(shopify_resource)),
        lambda pair: [shopify.parse_webhook(*pair)],
    ),
}


def _run(n: int, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(value: Any) -> None:
        check(value)

    prop()


# -- parsers ------------------------------------------------------------------------------------


def _parser_property(vendor: str, n: int) -> None:
    strategy, parse = PARSERS[vendor]
    tally = count(f"parser.{vendor}")

    def check(value: Any) -> None:
        tally["cases"] += 1
        try:
            events = parse(value)
        except ValueError:
            tally["refused_with_ValueError"] += 1
            return
        except Exception as exc:  # anything else would be a 500 at the listener
            tally["undocumented_error"] += 1
            raise AssertionError(f"{vendor} parser raised {type(exc).__name__}: {exc}") from exc
        assert all(isinstance(e, VendorEvent) and e.source == vendor for e in events)
        tally["parsed"] += 1

    _run(n, strategy, check)
    assert tally["undocumented_error"] == 0


@pytest.mark.parametrize("vendor", sorted(PARSERS))
def test_a_parser_only_ever_refuses_with_a_value_error(vendor: str, request: pytest.FixtureRequest) -> None:
    _parser_property(vendor, examples(300, 300, False))


@pytest.mark.slow
@pytest.mark.parametrize("vendor", sorted(PARSERS))
def test_a_parser_only_ever_refuses_with_a_value_error_long_run(vendor: str, request: pytest.FixtureRequest) -> None:
    _parser_property(vendor, examples(300, 5000, slow_enabled(request.config)))


# -- signatures ---------------------------------------------------------------------------------

# vendor -> (sign(secret, body) -> headers, verify(secret, body, headers) -> bool)
NOW = 1_800_000_000.0
URI = "https://hooks.example.test/webhook/hubspot"


def _hubspot_headers(secret: str, body: bytes) -> dict[str, str]:
    ts = str(int(NOW * 1000))
    return {hubspot.HEADER_V3: hubspot.signature_v3(secret, "POST", URI, body, ts), hubspot.HEADER_TIMESTAMP: ts}


SIGNERS: dict[str, tuple[Callable[[str, bytes], dict[str, str]], Callable[[str, bytes, dict[str, str]], bool]]] = {
    "xero": (
        lambda s, b: {xero.HEADER_SIGNATURE: xero.signature(s, b)},
        xero.verify_request,
    ),
    "hubspot-v3": (
        _hubspot_headers,
        lambda s, b, h: hubspot.verify_request(s, method="POST", uri=URI, body=b, headers=h, now=lambda: NOW),
    ),
    "hubspot-v1": (
        lambda s, b: {hubspot.HEADER_LEGACY: hubspot.signature_v1(s, b), hubspot.HEADER_VERSION: "v1"},
        lambda s, b, h: hubspot.verify_request(s, method="POST", uri=URI, body=b, headers=h, now=lambda: NOW),
    ),
    "hubspot-v2": (
        lambda s, b: {hubspot.HEADER_LEGACY: hubspot.signature_v2(s, "POST", URI, b), hubspot.HEADER_VERSION: "v2"},
        lambda s, b, h: hubspot.verify_request(s, method="POST", uri=URI, body=b, headers=h, now=lambda: NOW),
    ),
    "shopify": (
        lambda s, b: {shopify.HEADER_HMAC: shopify.webhook_signature(s, b)},
        lambda s, b, h: shopify.verify_webhook(s, b, shopify.header(h, shopify.HEADER_HMAC)),
    ),
    "asana": (
        lambda s, b: {asana.HEADER_SIGNATURE: asana.signature(s, b)},
        asana.verify_request,
    ),
}


def _signature_properties(scheme: str, n: int) -> None:
    sign, verify = SIGNERS[scheme]
    tally = count(f"signature.{scheme}")

    def genuine(args: tuple[str, bytes]) -> None:
        secret, body = args
        tally["genuine"] += 1
        assert verify(secret, body, sign(secret, body)) is True

    def bit_flip(args: tuple[str, bytes, int]) -> None:
        secret, body, bit = args
        headers = sign(secret, body)
        flipped = bytearray(body)
        flipped[(bit // 8) % len(body)] ^= 1 << (bit % 8)
        tally["bit_flipped"] += 1
        if verify(secret, bytes(flipped), headers):
            tally["forgeries_accepted"] += 1
            raise AssertionError(f"{scheme}: a bit-flipped body passed")

    def random_signature(args: tuple[str, bytes, dict[str, str]]) -> None:
        secret, body, forged = args
        tally["random_headers"] += 1
        real = sign(secret, body)
        if any(forged.get(k, "").strip().lower() == v.lower() for k, v in real.items() if "timestamp" not in k.lower()):
            return  # hypothesis guessed the real signature: not a forgery
        result = verify(secret, body, forged)
        assert isinstance(result, bool)
        if result:
            tally["forgeries_accepted"] += 1
            raise AssertionError(f"{scheme}: forged headers {forged!r} passed")

    names = [*sign("k", b"x"), "x-hubspot-signature-version", "content-type"]
    forged_headers = st.dictionaries(
        st.sampled_from(names) | st.sampled_from(names).map(str.upper) | header_text, header_text, max_size=4
    ) | st.fixed_dictionaries(
        {n: header_text | st.text(st.sampled_from("0123456789"), min_size=300, max_size=400) for n in names}
    )
    _run(n, st.tuples(secret_text, st.binary(max_size=200)), genuine)
    _run(n, st.tuples(secret_text, st.binary(min_size=1, max_size=200), st.integers(0, 10**6)), bit_flip)
    _run(n, st.tuples(secret_text, st.binary(max_size=200), forged_headers), random_signature)
    assert tally["forgeries_accepted"] == 0


@pytest.mark.parametrize("scheme", sorted(SIGNERS))
def test_no_forged_or_tampered_signature_is_accepted(scheme: str) -> None:
    _signature_properties(scheme, 150)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", sorted(SIGNERS))
def test_no_forged_or_tampered_signature_is_accepted_long_run(scheme: str, request: pytest.FixtureRequest) -> None:
    _signature_properties(scheme, examples(150, 5000, slow_enabled(request.config)))


def test_shopify_query_signature_check_never_raises_and_refuses_forgeries() -> None:
    tally = count("signature.shopify-query")
    params = st.lists(st.tuples(header_text | st.sampled_from(["hmac", "shop", "ids[]"]), header_text), max_size=6)

    def check(args: tuple[str, list[tuple[str, str]]]) -> None:
        secret, pairs = args
        tally["cases"] += 1
        real = shopify.query_signature(secret, pairs)
        if any(k == "hmac" and v.lower() == real for k, v in pairs):
            return
        if shopify.verify_query(secret, pairs):
            tally["forgeries_accepted"] += 1
            raise AssertionError(f"forged query {pairs!r} passed")

    _run(300, st.tuples(secret_text, params), check)
    assert tally["forgeries_accepted"] == 0


@pytest.mark.parametrize("vendor", sorted(PARSERS))
@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_deeply_nested_body_is_refused_with_a_value_error(vendor: str, depth: int) -> None:
    _, parse = PARSERS[vendor]
    nested = b'{"events": ' + b"[" * depth + b"]" * depth + b"}"
    headers = {"X-Shopify-Topic": "orders/paid", "X-Shopify-Shop-Domain": "a.myshopify.com"}
    with pytest.raises(ValueError):
        parse((headers, nested) if vendor == "shopify" else nested)
