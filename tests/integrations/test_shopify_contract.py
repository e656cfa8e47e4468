"""Contract: the Shopify client's GraphQL documents against the schema the sandbox serves,
and the sandbox's webhook payloads against Shopify's documented order sample.

Shopify publishes no OpenAPI for the Admin API; ``shopify_order_webhook_sample.json`` is the
``order`` of ``order.get.2026-07.json`` (official @shopify/shopify-api test, MIT).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLSchema,
    NoDeprecatedCustomRule,
    build_client_schema,
    build_schema,
    get_introspection_query,
    parse,
    validate,
)
from sandbox_live import RecordingTransport, ShopifyToken, live_sandbox, reset

from integrations.shopify import queries
from integrations.shopify.client import API_VERSION, ShopifyClient
from sandbox.shopify import api as sandbox
from sandbox.shopify import graphql_schema as shopify_graphql

SHOP = "zixly-demo.myshopify.com"
SAMPLE = Path(__file__).with_name("shopify_order_webhook_sample.json")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_sandbox(tmp_path_factory.mktemp("shopify-contract")) as (url, _receiver, _settings):
        yield url


@pytest.fixture(scope="module")
def served_schema(base: str) -> GraphQLSchema:
    sdl = httpx.get(f"{base}/shopify/{SHOP}/admin/api/{API_VERSION}/schema.graphql").text
    return build_schema(sdl)


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_each_client_query_validates_against_the_served_schema(name: str, served_schema: GraphQLSchema) -> None:
    assert validate(served_schema, parse(queries.ALL[name])) == []


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_each_client_query_stays_under_the_single_query_cost_limit(name: str) -> None:
    variables = {"first": 50}
    assert shopify_graphql.query_cost(parse(queries.ALL[name]), variables) <= shopify_graphql.MAX_QUERY_COST


def test_the_client_uses_no_deprecated_field(served_schema: GraphQLSchema) -> None:
    for document in queries.ALL.values():
        assert validate(served_schema, parse(document), [NoDeprecatedCustomRule]) == []


def test_introspection_over_http_describes_the_same_schema(base: str, served_schema: GraphQLSchema) -> None:
    answer = httpx.post(
        f"{base}/shopify/{SHOP}/admin/api/{API_VERSION}/graphql.json",
        json={"query": get_introspection_query()},
        headers={"X-Shopify-Access-Token": "shpat_x"},
    )
    introspected = build_client_schema(answer.json()["data"])
    assert set(introspected.type_map) == set(served_schema.type_map)


def test_every_document_the_client_sends_validates_and_every_answer_reports_its_cost(
    base: str, served_schema: GraphQLSchema
) -> None:
    reset(base)
    transport = RecordingTransport()
    with ShopifyClient(f"{base}/shopify/{SHOP}", ShopifyToken("shpat_c"), transport=transport) as api:
        api.get_order(5100001003)  # two pages of line items
        list(api.orders_updated_since(datetime(2026, 1, 1, tzinfo=UTC), page_size=2))
    assert len(transport.exchanges) == 4
    for request, response in transport.exchanges:
        assert request.url.path == f"/shopify/{SHOP}/admin/api/{API_VERSION}/graphql.json"
        assert validate(served_schema, parse(json.loads(request.content)["query"])) == []
        cost = response.json()["extensions"]["cost"]
        assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
        assert 0 < cost["requestedQueryCost"] <= 1000


def _same_shape(ours: Any, sample: Any, where: str) -> list[str]:
    """Paths where our payload has a key the sample lacks, or a value of another JSON type."""
    if ours is None or sample is None:
        return []
    if isinstance(ours, dict) and isinstance(sample, dict):
        problems = []
        for key, value in ours.items():
            if key not in sample:
                problems.append(f"{where}.{key} is not in the documented order")
            else:
                problems += _same_shape(value, sample[key], f"{where}.{key}")
        return problems
    if isinstance(ours, list) and isinstance(sample, list):
        return _same_shape(ours[0], sample[0], f"{where}[0]") if ours and sample else []
    kinds = (bool, int | float, str)
    for kind in kinds:
        if isinstance(sample, kind):
            return [] if isinstance(ours, kind) else [f"{where} is {type(ours).__name__}, documented {kind}"]
    return [f"{where}: unexpected JSON type"]


def test_the_orders_paid_payload_has_the_documented_order_shape(base: str) -> None:
    reset(base)
    sample = json.loads(SAMPLE.read_text())
    result = httpx.post(
        f"{base}/shopify/_sandbox/orders/5100001001/pay",
        json={"target": "http://127.0.0.1:9/unreachable", "retries": 0},
    ).json()
    assert not result["deliveries"][0]["delivered"]
    payload = json.loads(json.dumps(sandbox.orders(SHOP)[5100001001]))
    assert _same_shape(payload, sample, "order") == []
    assert {
        "id",
        "admin_graphql_api_id",
        "email",
        "currency",
        "line_items",
        "tax_lines",
        "shipping_lines",
        "discount_codes",
        "total_price",
        "total_tax",
        "financial_status",
        "updated_at",
    } <= set(payload)


def test_the_shape_check_notices_an_undocumented_field() -> None:
    sample = json.loads(SAMPLE.read_text())
    assert _same_shape({"id": "450789469", "invented": 1}, sample, "order") == [
        "order.id is str, documented int | float",
        "order.invented is not in the documented order",
    ]
