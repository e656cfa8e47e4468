"""Shopify orders through the GraphQL Admin API (REST is legacy: https://shopify.dev/docs/api/admin-rest).

``base_url`` is the shop's base (``https://<shop>.myshopify.com``, or the sandbox's
``…/shopify/<shop>``); calls go to ``/admin/api/<version>/graphql.json`` with the
``X-Shopify-Access-Token`` header (set by the connection's auth).

Rate limits (shopify.dev/docs/api/usage/rate-limits): GraphQL is throttled by query cost.
A throttled query answers 200 with
``errors[].extensions.code == "THROTTLED"``; the wait is computed from
``extensions.cost.throttleStatus`` (points missing / restore rate). A 429 with
``Retry-After`` is honoured as well.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from integrations.http import ApiClient, NotFound, PermanentError, RateLimited, backoff, parse_retry_after
from integrations.shopify import queries
from integrations.shopify.models import (
    LineItem,
    Order,
    OrderSummary,
    line_item,
    order_from_graphql,
    order_gid,
    summary_from_graphql,
)

API_VERSION = "2026-10"


class GraphQLError(PermanentError):
    """The query was rejected (syntax, validation, access): repeating it cannot help."""


class ShopifyClient(ApiClient):
    system: ClassVar[str] = "shopify"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(
        self, base_url: str, auth: httpx.Auth | None = None, *, api_version: str = API_VERSION, **kwargs: Any
    ) -> None:
        super().__init__(base_url, auth, **kwargs)
        self.api_version = api_version

    # -- GraphQL ----------------------------------------------------------------------------
    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one query; returns ``data``. Throttling is retried; other errors raise."""
        response = self.request(
            "POST",
            f"/admin/api/{self.api_version}/graphql.json",
            json={"query": query, "variables": dict(variables or {})},
        )
        data: dict[str, Any] = response.json().get("data") or {}
        return data

    # -- orders -----------------------------------------------------------------------------
    def get_order(self, order_id: int | str) -> Order:
        """The order with its line items (all pages), taxes, shipping, discounts and totals.

        ``order_id`` is the numeric id (as in webhooks) or the ``gid://shopify/Order/…`` id.
        """
        gid = order_gid(order_id)
        node = self.graphql(queries.ORDER, {"id": gid}).get("order")
        if node is None:
            raise NotFound(f"shopify order {gid} not found", system=self.system, record=gid)
        items = [line_item(n) for n in node["lineItems"]["nodes"]]
        page = node["lineItems"]["pageInfo"]
        while page["hasNextPage"]:
            more = self.graphql(queries.ORDER_LINE_ITEMS, {"id": gid, "after": page["endCursor"]})["order"]
            items += [line_item(n) for n in more["lineItems"]["nodes"]]
            page = more["lineItems"]["pageInfo"]
        return order_from_graphql(node, items)

    def orders_updated_since(self, since: datetime, *, page_size: int = 50) -> Iterator[OrderSummary]:
        """Every order updated after ``since`` (oldest first), following the cursor."""
        search = f"updated_at:>'{since.isoformat()}'"
        after: str | None = None
        while True:
            data = self.graphql(queries.ORDERS_UPDATED_SINCE, {"first": page_size, "after": after, "query": search})
            connection = data["orders"]
            yield from (summary_from_graphql(n) for n in connection["nodes"])
            if not connection["pageInfo"]["hasNextPage"]:
                return
            after = connection["pageInfo"]["endCursor"]

    # -- policy hooks -----------------------------------------------------------------------
    def is_retry_safe(self, request: httpx.Request) -> bool:
        # Queries only read; we send no mutations (a mutation must not be repeated blindly).
        if request.url.path.endswith("/graphql.json"):
            try:
                document = str(json.loads(request.content).get("query", ""))
            except ValueError:
                return False
            return not document.lstrip().startswith("mutation")
        return super().is_retry_safe(request)

    def raise_for_response(self, response: httpx.Response, path_template: str) -> None:
        super().raise_for_response(response, path_template)
        if not path_template.endswith("/graphql.json"):
            return
        try:
            body = response.json()
        except ValueError as exc:
            raise PermanentError("shopify: a GraphQL answer that is not JSON", system=self.system) from exc
        errors = body.get("errors") if isinstance(body, dict) else None
        if not errors:
            return
        if isinstance(errors, list) and any(_code(e) == "THROTTLED" for e in errors):
            raise RateLimited(
                "shopify: GraphQL query throttled",
                system=self.system,
                status_code=200,
                retry_after=_throttle_wait(body) or 1.0,
            )
        messages = [
            e.get("message", "") if isinstance(e, dict) else str(e)
            for e in (errors if isinstance(errors, list) else [errors])
        ]
        raise GraphQLError("shopify GraphQL: " + "; ".join(messages)[:300], system=self.system, status_code=200)

    def retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        if response.status_code == 200:
            try:
                wait = _throttle_wait(response.json())
            except ValueError:
                wait = None
            if wait is not None:
                return wait
        return backoff(attempt)


def _code(error: object) -> str | None:
    if isinstance(error, dict):
        extensions = error.get("extensions")
        if isinstance(extensions, dict):
            return str(extensions.get("code"))
    return None


def _throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds until the bucket holds enough points for the query that was throttled."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None
    if rate <= 0:
        return None
    return max(0.0, math.ceil(needed / rate * 10) / 10)


__all__ = ["API_VERSION", "GraphQLError", "LineItem", "Order", "OrderSummary", "ShopifyClient"]
