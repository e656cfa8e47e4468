"""Text PostgreSQL can store: no NUL characters and no lone surrogates (invalid UTF-8).

JSON allows both (``"\\u0000"``, ``"\\ud800"``), PostgreSQL's text and JSONB reject them. User
input with such text is refused (422, naming the field); vendor data is cleaned, since a
delivery refused with 5xx would be retried forever.
"""

from __future__ import annotations

from typing import Any

MAX_INT4 = 2**31 - 1
MAX_INT8 = 2**63 - 1


def _bad(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def first_unstorable(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) that cannot be stored, or None."""
    if isinstance(value, str):
        return path if _bad(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _bad(key):
                return path or "body"
            found = first_unstorable(item, inner)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = first_unstorable(item, f"{path}.{i}")
            if found:
                return found
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT8:
        return path
    return None


def cleaned(value: Any) -> Any:
    """``value`` with NULs dropped and invalid UTF-8 replaced, recursively."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8") if _bad(value) else value
    if isinstance(value, dict):
        return {cleaned(k): cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cleaned(v) for v in value]
    return value
