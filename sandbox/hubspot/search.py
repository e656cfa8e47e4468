"""HubSpot CRM search semantics for the emulator (``PublicObjectSearchRequest``).

Filters inside a group are ANDed, groups ORed; at most 5 groups, 10 filters per group,
25 in all, 200 results per page, 10,000 results per query (HubSpot's CRM search docs). String
comparisons ignore case, as HubSpot's do for emails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS, MAX_LIMIT, MAX_TOTAL = 5, 10, 25, 200, 10_000
# The ``Filter.operator`` enum of HubSpot's CRM OpenAPI documents (v3, 2026-03, 2026-09).
OPERATORS = frozenset(
    {
        "BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN",
        "LT", "LTE", "NEQ", "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN",
    }
)  # fmt: skip


def _num(value: str | None) -> float | str:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (value or "").lower()


def _match(props: dict[str, str | None], flt: dict[str, Any]) -> bool:
    name, op = flt.get("propertyName", ""), flt.get("operator", "EQ")
    have = props.get(name)
    low = (have or "").lower()
    value = str(flt.get("value", "")).lower()
    values = [str(v).lower() for v in flt.get("values") or []]
    checks: dict[str, Callable[[], bool]] = {
        "EQ": lambda: have is not None and low == value,
        "NEQ": lambda: low != value,
        "IN": lambda: have is not None and low in values,
        "NOT_IN": lambda: low not in values,
        "HAS_PROPERTY": lambda: have not in (None, ""),
        "NOT_HAS_PROPERTY": lambda: have in (None, ""),
        "CONTAINS_TOKEN": lambda: value.strip("*") in low,
        "NOT_CONTAINS_TOKEN": lambda: value.strip("*") not in low,
        "GT": lambda: have is not None and _num(have) > _num(value),  # type: ignore[operator]
        "GTE": lambda: have is not None and _num(have) >= _num(value),  # type: ignore[operator]
        "LT": lambda: have is not None and _num(have) < _num(value),  # type: ignore[operator]
        "LTE": lambda: have is not None and _num(have) <= _num(value),  # type: ignore[operator]
        "BETWEEN": lambda: have is not None and _num(value) <= _num(have) <= _num(str(flt.get("highValue", ""))),  # type: ignore[operator]
    }
    check = checks.get(op)
    return bool(check and check())


def _invalid_filters(groups: object) -> str | None:
    """A message naming the first malformed group or filter (HubSpot answers 400), else None."""
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return "filterGroups must be a list of {filters: [...]}"
    for group in groups:
        filters = group.get("filters") or []
        if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
            return "filters must be a list of filter objects"
        for flt in filters:
            operator = flt.get("operator")
            if operator not in OPERATORS:
                return f"Invalid filter operator {operator!r}: must be one of {', '.join(sorted(OPERATORS))}"
            if not isinstance(flt.get("propertyName"), str):
                return "every filter needs a propertyName"
    return None


def _sort_key(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda record: str(record["properties"].get(name) or "")


def run_search(
    records: list[dict[str, Any]], request: dict[str, Any]
) -> str | tuple[int, list[dict[str, Any]], str | None]:
    """(total, page, next cursor) or a validation message."""
    groups = request.get("filterGroups") or []
    problem = _invalid_filters(groups)
    if problem is not None:
        return problem
    if len(groups) > MAX_GROUPS:
        return f"at most {MAX_GROUPS} filterGroups"
    if any(len(g.get("filters") or []) > MAX_PER_GROUP for g in groups):
        return f"at most {MAX_PER_GROUP} filters per group"
    if sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS:
        return f"at most {MAX_FILTERS} filters in all"
    try:
        limit = int(request.get("limit") or 10)
        start = int(request.get("after") or 0)
    except (TypeError, ValueError):
        return "limit must be an integer and after a paging cursor"
    if not 0 < limit <= MAX_LIMIT:
        return f"limit must be 1..{MAX_LIMIT}"
    if start < 0:
        return "after must be a paging cursor"
    if start + limit > MAX_TOTAL:
        return f"search results are capped at {MAX_TOTAL}"
    query = str(request.get("query") or "").lower()
    hits = [
        r
        for r in records
        if (not groups or any(all(_match(r["properties"], f) for f in g.get("filters") or []) for g in groups))
        and (not query or any(query in (v or "").lower() for v in r["properties"].values()))
    ]
    for sort in reversed(request.get("sorts") or []):
        name = sort if isinstance(sort, str) else sort.get("propertyName", "")
        descending = name.startswith("-") or (isinstance(sort, dict) and sort.get("direction") == "DESCENDING")
        hits.sort(key=_sort_key(name.lstrip("-")), reverse=descending)
    page = hits[start : start + limit]
    after = str(start + limit) if start + limit < len(hits) else None
    return len(hits), page, after
