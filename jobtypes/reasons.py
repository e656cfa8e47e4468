"""One pydantic error in words a staff member reads: "is required", "must be a whole number, not 'abc'".

pydantic's own messages ("Input should be a valid string", "Field required") and its dump
(with a documentation URL) are written for programmers; the listener's 422, the dashboard and
a job refused by the runner all show these instead.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import ErrorDetails

_KINDS = {
    "string_type": "text in quotes",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a JSON object ({…})",
    "model_type": "a JSON object ({…})",
    "list_type": "a list ([…])",
    "tuple_type": "a list ([…])",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"the number {value}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def reason(error: ErrorDetails, job_type: str | None = None) -> str:
    """The reason of one error, as the end of a sentence that starts with the field's name."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"is not a parameter of {job_type}" if job_type else "is not a known parameter"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, not {_shown(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most",
                 "less_than": "less than"}[kind]  # fmt: skip
        limit = next(iter(ctx.values()), "")
        return f"must be {words} {limit}, not {_shown(value)}"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must be at least {least} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind in ("too_short", "too_long"):
        return f"must have {ctx.get('min_length') or ctx.get('max_length')} items, not {ctx.get('actual_length')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, not {_shown(value)}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be "):
        return "must be " + message.removeprefix("Input should be ")
    return message
