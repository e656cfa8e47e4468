"""How the Asana emulator answers: ``{"errors": …}`` bodies, ``opt_fields`` views, ``offset``
paging and the ``completed_since`` / ``modified_since`` task filters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.asana import store

API = "/api/1.0"


def errors(status: int, message: str) -> Response:
    response = jsonify(
        errors=[
            {
                "message": message,
                "help": "For more information on API status codes and how to "
                "handle them, read the docs on errors: https://developers.asana.com/docs/errors",
            }
        ]
    )
    response.status_code = status
    return response


def opt_fields() -> list[str] | None:
    raw = request.args.get("opt_fields")
    return [f for f in raw.split(",") if f] if raw else None


def pick(value: Any, sub: list[str]) -> Any:
    if isinstance(value, list):
        return [pick(v, sub) for v in value]
    if isinstance(value, dict):
        return {"gid": value.get("gid"), **{s: value.get(s) for s in sub}}
    return value


def view(resource: dict[str, Any], fields: list[str] | None, compact: bool) -> dict[str, Any]:
    """A resource as Asana returns it: compact in lists, full for one, or the ``opt_fields``."""
    if fields is None:
        if compact:
            return store.compact(resource) or {}
        return {
            k: (
                store.compact(v)
                if isinstance(v, dict) and "gid" in v
                else [store.compact(i) if isinstance(i, dict) and "gid" in i else i for i in v]
                if isinstance(v, list)
                else v
            )
            for k, v in resource.items()
            if k != "email"
        }
    out: dict[str, Any] = {"gid": resource["gid"]}
    nested: dict[str, list[str]] = {}
    for field in fields:
        head, _, rest = field.partition(".")
        nested.setdefault(head, [])
        if rest:
            nested[head].append(rest)
    for head, sub in nested.items():
        if head in resource:
            out[head] = pick(resource[head], sub) if sub else resource[head]
            if not sub and isinstance(resource[head], dict | list):
                out[head] = pick(resource[head], [])
    return out


def page(items: list[dict[str, Any]], path: str) -> ResponseReturnValue:
    """``{"data": [...], "next_page": …}``; next_page only when ``limit`` is given (as Asana)."""
    limit_arg = request.args.get("limit")
    fields = opt_fields()
    if limit_arg is None:
        return jsonify(data=[view(i, fields, compact=True) for i in items])
    limit = int(limit_arg) if limit_arg.strip().isdigit() else 0
    if not 1 <= limit <= 100:
        return errors(400, "limit: Value must be between 1 and 100")
    start = _offset(request.args.get("offset"))
    if start is None:
        return errors(400, "offset: Your pagination token is invalid or has expired")
    page = items[start : start + limit]
    next_page = None
    if start + limit < len(items):
        token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        query = urlencode({**request.args.to_dict(), "offset": token})
        next_page = {"offset": token, "path": f"{path}?{query}", "uri": f"https://app.asana.com{API}{path}?{query}"}
    return jsonify(data=[view(i, fields, compact=True) for i in page], next_page=next_page)


def _offset(token: str | None) -> int | None:
    """The position an ``offset`` token (one this emulator handed out) stands for; None if forged."""
    if not token:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeError):
        return None
    return start if start >= 0 else None


def since(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw or raw == "now":
        return datetime.now(UTC) if raw == "now" else None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: Invalid date-time: {raw[:60]}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def task_filter(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed_since, modified_since = since("completed_since"), since("modified_since")
    kept = []
    for task in tasks:
        if completed_since and task["completed"] and (when(task["completed_at"]) or completed_since) < completed_since:
            continue
        if modified_since and (when(task["modified_at"]) or modified_since) < modified_since:
            continue
        kept.append(task)
    return kept
