"""The Shopify GraphQL client against the Shopify sandbox, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Response
from sandbox_live import Receiver, ShopifyToken, live_sandbox, reset

from integrations.http import AuthError, NotFound, RateLimited
from integrations.shopify import webhooks
from integrations.shopify.client import GraphQLError, ShopifyClient
from settings import Settings

SHOP = "zixly-demo.myshopify.com"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver, Settings]]:
    with live_sandbox(tmp_path_factory.mktemp("shopify")) as running:
        yield running


@pytest.fixture
def base(live: tuple[str, Receiver, Settings]) -> str:
    reset(live[0])
    live[1].received.clear()
    live[1].answer = lambda r: Response("", status=200)
    return live[0]


def shop_client(base: str, token: str = "shpat_test", **kwargs: object) -> ShopifyClient:  # noqa: S107
    return ShopifyClient(f"{base}/shopify/{SHOP}", ShopifyToken(token), sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]


def test_it_reads_an_order_with_tax_shipping_discount_currency_and_customer_email(base: str) -> None:
    with shop_client(base) as api:
        order = api.get_order(5100001001)
    assert order.name == "#1001" and order.legacy_id == 5100001001
    assert order.id == "gid://shopify/Order/5100001001"
    assert order.currency == "AUD" and order.customer_email == "alice@northwind.example"
    assert order.discount_codes == ["WELCOME10"] and order.total_discounts == Decimal("10.00")
    assert [(li.sku, li.quantity, li.unit_price) for li in order.line_items] == [
        ("MT-GRY", 1, Decimal("189.00")),
        ("KC-4", 2, Decimal("34.50")),
    ]
    assert order.shipping_lines[0].title == "Courier" and order.total_shipping == Decimal("12.00")
    assert order.subtotal == Decimal("248.00")  # 189 + 69 - 10
    assert order.total_tax == sum((t.amount for li in order.line_items for t in li.tax_lines), Decimal(0))
    assert order.total == order.subtotal + order.total_shipping + order.total_tax
    assert order.financial_status == "PENDING"


def test_it_accepts_the_graphql_id_and_pages_through_sixty_line_items(base: str) -> None:
    with shop_client(base) as api:
        order = api.get_order("gid://shopify/Order/5100001003")
    assert len(order.line_items) == 60
    assert len({li.id for li in order.line_items}) == 60


def test_an_unknown_order_is_not_found(base: str) -> None:
    with shop_client(base) as api, pytest.raises(NotFound):
        api.get_order(1)


def test_it_lists_orders_updated_since_a_moment_following_the_cursor(base: str) -> None:
    with shop_client(base) as api:
        every = list(api.orders_updated_since(datetime(2026, 1, 1, tzinfo=UTC), page_size=3))
        assert [o.name for o in every] == ["#1001", "#1002", "#1003", "#1004"]
        # The moment is taken before the payment: taken after, a payment at hh:mm:59.99 fell in the
        # minute before it (a red CI at 00:33 UTC).
        since = datetime.now(UTC).replace(microsecond=0, second=0)
        httpx.post(f"{base}/shopify/_sandbox/orders/5100001002/pay", json={})
        recent = list(api.orders_updated_since(since))
    assert [o.name for o in recent] == ["#1002"] and recent[0].financial_status == "PAID"


def test_a_throttled_query_waits_as_long_as_the_bucket_needs_and_then_succeeds(base: str) -> None:
    httpx.post(f"{base}/shopify/_sandbox/throttle", json={"available": 0, "restore_rate": 1000})
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with ShopifyClient(f"{base}/shopify/{SHOP}", ShopifyToken("shpat_x"), sleep=sleep) as api:
        assert api.get_order(5100001002).name == "#1002"
    assert len(waits) == 1 and 0 < waits[0] <= 1.0


def test_throttling_that_outlasts_the_retries_raises_rate_limited(base: str) -> None:
    httpx.post(f"{base}/shopify/_sandbox/throttle", json={"available": 0, "restore_rate": 0.001})
    with shop_client(base, max_retries=1) as api, pytest.raises(RateLimited) as caught:
        api.get_order(5100001002)
    assert caught.value.retry_after > 1000


def test_an_invalid_query_is_a_permanent_graphql_error(base: str) -> None:
    with shop_client(base) as api, pytest.raises(GraphQLError) as caught:
        api.graphql('{ order(id: "gid://shopify/Order/1") { noSuchField } }')
    assert caught.value.permanent and "noSuchField" in str(caught.value)


def test_calls_without_a_valid_token_are_refused(base: str) -> None:
    with shop_client(base, token="not-a-token") as api, pytest.raises(AuthError):
        api.get_order(5100001001)


def test_the_oauth_callback_is_signed_and_its_token_is_bound_to_the_shop(base: str, live: tuple) -> None:
    settings: Settings = live[2]
    redirect = "http://127.0.0.1:3000/oauth/shopify/callback"
    answer = httpx.get(
        f"{base}/shopify/{SHOP}/admin/oauth/authorize",
        params={"client_id": "app", "scope": "read_orders", "redirect_uri": redirect, "state": "n1"},
    )
    assert answer.status_code == 302
    pairs = parse_qs(urlsplit(answer.headers["Location"]).query)
    params = {k: v[0] for k, v in pairs.items()}
    assert params["shop"] == SHOP and params["state"] == "n1"
    assert webhooks.verify_query(settings.shopify_client_secret.get_secret_value(), params)  # type: ignore[union-attr]
    token = httpx.post(
        f"{base}/shopify/{SHOP}/admin/oauth/access_token",
        json={"client_id": "app", "client_secret": "x", "code": params["code"], "expiring": "1"},
    ).json()
    assert token["expires_in"] == 3600 and token["refresh_token"]
    with shop_client(base, token=token["access_token"]) as api:
        assert api.get_order(5100001001).name == "#1001"
    other = ShopifyClient(f"{base}/shopify/other-shop.myshopify.com", ShopifyToken(token["access_token"]))
    with other, pytest.raises(AuthError):
        other.get_order(5100001001)
    rotated = httpx.post(
        f"{base}/shopify/{SHOP}/admin/oauth/access_token",
        json={
            "client_id": "app",
            "client_secret": "x",
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
        },
    ).json()
    assert rotated["refresh_token"] != token["refresh_token"]
    httpx.post(f"{base}/shopify/_sandbox/{SHOP}/uninstall")
    with shop_client(base, token=rotated["access_token"]) as api, pytest.raises(AuthError):
        api.get_order(5100001001)


def test_paying_an_order_sends_a_signed_orders_paid_webhook(base: str, live: tuple) -> None:
    receiver: Receiver = live[1]
    result = httpx.post(f"{base}/shopify/_sandbox/orders/5100001001/pay", json={}).json()
    assert result["deliveries"][0]["delivered"]
    [delivery] = receiver.received
    assert delivery.url == live[2].public_url + "/webhook/shopify"
    signature = delivery.headers["X-Shopify-Hmac-Sha256"]
    assert webhooks.verify_webhook("shopify-test-secret", delivery.body, signature)
    event = webhooks.parse_webhook(delivery.headers, delivery.body)
    assert (event.event_type, event.org_id) == ("orders/paid", SHOP)
    assert event.external_ids["order_id"] == "5100001001"
    assert event.payload["resource"]["financial_status"] == "paid"


def test_a_duplicate_delivery_keeps_the_event_id_and_so_the_dedup_key(base: str, live: tuple) -> None:
    httpx.post(f"{base}/shopify/_sandbox/orders/5100001002/pay", json={"duplicate": True})
    first, second = live[1].received
    assert first.headers["X-Shopify-Webhook-Id"] != second.headers["X-Shopify-Webhook-Id"]
    keys = {webhooks.parse_webhook(r.headers, r.body).dedup_key for r in (first, second)}
    assert len(keys) == 1


def test_failed_deliveries_are_retried_with_the_original_payload(base: str, live: tuple) -> None:
    statuses = iter([500, 502, 200])
    live[1].answer = lambda r: Response("", status=next(statuses))
    result = httpx.post(f"{base}/shopify/_sandbox/orders/5100001004/pay", json={"retry_delay_s": 0.01}).json()
    assert [a["status"] for a in result["deliveries"][0]["attempts"]] == [500, 502, 200]
    assert len({r.body for r in live[1].received}) == 1
    assert json.loads(live[1].received[0].body)["id"] == 5100001004
