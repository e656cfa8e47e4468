"""What the job browser's free-text search reads in a job's params: ``zixly_search_text(params)``.

The values a user would type — record ids, invoice and order numbers, emails, shop names, event
types — and nothing else: the params' strings and numbers as a JSON array (``["acme.myshopify.com",
"4242", …]``), without the key names (the same in every job) and with every run of 32 or more
hexadecimal digits taken out (digests and signatures, such as the body digest in a Shopify
event's dedup key; no one types one). A job's search text enters a trigram index when it
finishes, and its trigrams are what that costs: a Shopify webhook's params make 162 as text and
72 this way, and PostgreSQL's CPU to index a finished job fell from ~97 to ~45 µs
(docs/benchmarks.md, "the search text"; migration 0023).

PostgreSQL has it as an immutable SQL function (the index's expression, migration 0023); SQLite
as this module's Python function, registered on each connection (``db.engine``): same values,
same digests left out. ``db.filters`` searches it. SQLite has no index to spare it the reading:
the Python function costs ~11 µs a job (1.09 s to count a search's matches among 100,000 webhook jobs, against
0.025 s for a LIKE on their JSON), so there the raw JSON is matched first (``raw_params_like``)
and the function runs only on the jobs whose JSON holds the text — every value's text is in it
(for a text in ASCII: the stored JSON escapes the rest, so a search for "Zoë" reads every job).
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from sqlalchemy import Boolean, ColumnElement, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

NAME = "zixly_search_text"
DIGEST = re.compile(r"[0-9A-Fa-f]{32,}")  # the migration's regexp_replace pattern


def search_text(params: str | None) -> str | None:
    """SQLite's ``zixly_search_text``: the params' strings and numbers, digests taken out."""
    if params is None:
        return None
    values: list[Any] = []
    _collect(json.loads(params), values)
    return DIGEST.sub("", json.dumps(values, ensure_ascii=False))  # as PostgreSQL writes it: ë, not \u00eb


def _collect(node: Any, into: list[Any]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _collect(value, into)
    elif isinstance(node, list):
        for value in node:
            _collect(value, into)
    elif isinstance(node, str) or (isinstance(node, int | float) and not isinstance(node, bool)):
        into.append(node)


def register(dbapi_conn: sqlite3.Connection) -> None:
    dbapi_conn.create_function(NAME, 1, search_text, deterministic=True)


class raw_params_like(FunctionElement[bool]):
    """``raw_params_like(params, pattern)``: SQLite's first, cheap pass of a search; ``true`` elsewhere.

    On SQLite, ``lower(CAST(params AS TEXT)) LIKE lower(pattern)``: the stored JSON holds every
    value's ASCII text as the search text does, so no job the search finds is missed. On
    PostgreSQL the trigram index does that work, and the planner drops the ``true``.
    """

    type = Boolean()
    inherit_cache = True
    name = "raw_params_like"


@compiles(raw_params_like)
def _true(element: raw_params_like, compiler: SQLCompiler, **kw: Any) -> str:
    return "true"


@compiles(raw_params_like, "sqlite")
def _raw_like(element: raw_params_like, compiler: SQLCompiler, **kw: Any) -> str:
    params, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return f"(lower(CAST({params} AS TEXT)) LIKE lower({pattern}) ESCAPE '\\')"


def json_may_hold(
    params: ColumnElement[Any] | InstrumentedAttribute[Any], text: str, pattern: str
) -> ColumnElement[bool]:
    """The first pass of a search for ``text`` (``pattern``: its LIKE pattern), where it can be had.

    No pass (``true``) for a text beyond ASCII: SQLite's stored JSON escapes those letters (ë as ``\u00eb``).
    """
    return raw_params_like(params, pattern) if text.isascii() else true()
