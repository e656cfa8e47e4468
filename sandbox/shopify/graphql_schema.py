"""GraphQL execution for the Shopify emulator: the schema, query cost and the leaky bucket.

Cost follows Shopify's published rules closely enough to exercise throttling: scalars and
enums cost 0, an object 1, a connection 2 plus ``first``/``last`` times the cost of one
node. A query may cost at most 1,000 points; each shop's bucket holds ``maximum`` points and
refills at ``restore_rate`` points per second (Shopify's API rate limits; values configurable).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
    value_from_ast_untyped,
)
from graphql.error import GraphQLError

SDL_PATH = Path(__file__).with_name("shopify_admin.graphql")
MAX_QUERY_COST = 1000


@cache
def schema() -> GraphQLSchema:
    return build_schema(SDL_PATH.read_text())


def sdl() -> str:
    return SDL_PATH.read_text()


def _selection_cost(
    selection_set: SelectionSetNode | None,
    parent: Any,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            fields = getattr(parent, "fields", {})
            if name.startswith("__") or name not in fields:
                continue
            named = get_named_type(fields[name].type)
            if is_leaf_type(named):
                continue
            if named.name.endswith("Connection"):
                args = {a.name.value: value_from_ast_untyped(a.value, variables) for a in selection.arguments or ()}
                size = int(args.get("first") or args.get("last") or 0)
                total += 2 + size * _node_cost(selection.selection_set, named, fragments, variables)
            else:
                total += 1 + _selection_cost(selection.selection_set, named, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = schema().get_type(condition.name.value) if condition else parent
            total += _selection_cost(selection.selection_set, target, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            target = schema().get_type(fragment.type_condition.name.value)
            total += _selection_cost(fragment.selection_set, target, fragments, variables)
    return total


def _node_cost(
    selection_set: SelectionSetNode | None,
    connection: Any,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """The cost of one element of a connection (its ``nodes`` or ``edges { node }`` selection)."""
    if selection_set is None:
        return 0
    cost = 0
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        name = selection.name.value
        if name == "nodes":
            node_type = get_named_type(connection.fields["nodes"].type)
            cost = max(cost, 1 + _selection_cost(selection.selection_set, node_type, fragments, variables))
        elif name == "edges" and selection.selection_set is not None:
            edge_type = get_named_type(connection.fields["edges"].type)
            cost = max(cost, _selection_cost(selection.selection_set, edge_type, fragments, variables))
    return cost


def query_cost(document: Any, variables: dict[str, Any]) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total += _selection_cost(definition.selection_set, schema().query_type, fragments, variables)
    return max(total, 1)


@dataclass
class Bucket:
    maximum: float = 2000.0
    restore_rate: float = 100.0
    available: float = 2000.0
    updated: float = field(default_factory=time.monotonic)

    def refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.available, 1),
            "restoreRate": self.restore_rate,
        }


BUCKETS: dict[str, Bucket] = {}
BUCKET_DEFAULTS = {"maximum": 2000.0, "restore_rate": 100.0}
_lock = threading.Lock()


def reset_buckets() -> None:
    with _lock:
        BUCKETS.clear()
        BUCKET_DEFAULTS.update(maximum=2000.0, restore_rate=100.0)


def configure_buckets(maximum: float | None, restore_rate: float | None, available: float | None) -> None:
    """Change the throttle of every shop (existing buckets too); ``available`` drains or fills them."""
    with _lock:
        if maximum is not None:
            BUCKET_DEFAULTS["maximum"] = maximum
        if restore_rate is not None:
            BUCKET_DEFAULTS["restore_rate"] = restore_rate
        for bucket in BUCKETS.values():
            bucket.refill()
            bucket.maximum, bucket.restore_rate = BUCKET_DEFAULTS["maximum"], BUCKET_DEFAULTS["restore_rate"]
            if available is not None:
                bucket.available = available
        BUCKETS.setdefault("__template__", Bucket())  # so new shops start from `available` too
        if available is not None:
            BUCKETS["__template__"].available = available


def _bucket(shop: str) -> Bucket:
    bucket = BUCKETS.get(shop)
    if bucket is None:
        template = BUCKETS.get("__template__")
        start = template.available if template else BUCKET_DEFAULTS["maximum"]
        bucket = BUCKETS[shop] = Bucket(BUCKET_DEFAULTS["maximum"], BUCKET_DEFAULTS["restore_rate"], start)
    return bucket


def run(shop: str, query: str, variables: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Answer one GraphQL request the way the Admin API does (always a JSON body, status 200)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"errors": [exc.formatted]}
    problems = validate(schema(), document)
    if problems:
        return {"errors": [p.formatted for p in problems]}
    cost = query_cost(document, variables)
    with _lock:
        bucket = _bucket(shop)
        bucket.refill()
        if cost > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {cost}, which exceeds the single query max cost limit "
                        f"({MAX_QUERY_COST}).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST},
                    }
                ],
                "extensions": {
                    "cost": {"requestedQueryCost": cost, "actualQueryCost": None, "throttleStatus": bucket.status()}
                },
            }
        if cost > bucket.available:
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {"requestedQueryCost": cost, "actualQueryCost": None, "throttleStatus": bucket.status()}
                },
            }
        bucket.available -= cost
        status = bucket.status()
    result = execute_sync(schema(), document, root_value=root, variable_values=variables)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    body["extensions"] = {"cost": {"requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": status}}
    return body
