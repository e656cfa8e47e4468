"""The listener's group commit on PostgreSQL: many deliveries' rows in one statement each.

``webhook/group.py`` writes the deliveries that arrive together in one transaction; these are
its statements beyond the job queue's (``db.jobs``, already one statement per batch). Each binds
its rows as a whole (the counters as two arrays, the deliveries as one JSON document), so the
statement's text never changes with the batch size and psycopg prepares it once. Rows go in a
fixed order (counters by tenant id, as ``intake.hit_budget`` callers lock them; deliveries by
key), so two batches lock rows in one order and cannot deadlock on them.

The tenants' counters are counted in a statement of their own, committed at once and without
waiting for its WAL flush (``hit_tenants``), not in the batch's transaction: there, a counter's
row lock was held through the whole batch and its durable commit, so every other batch with a
tenant in common (the other worker's, nearly always) waited for it — the two workers' batches
ran one at a time (docs/benchmarks.md, "Webhook listener", 2026-12-07). A batch that is not
committed gives its hits back (``return_hits``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from db.intake import WINDOW_S, NewDelivery, utcnow
from db.jobs._sql import driver_rows

# The rows travel as one JSON document (bodies in base64): psycopg dumps a list parameter element
# by element in Python, and nine arrays cost 320 µs of client CPU per batch of 14 where the
# document costs 115 µs (docs/benchmarks.md, "Webhook listener", 2026-12-07).
_PG_CLAIM_MANY = (
    "INSERT INTO webhook_deliveries (source, delivery_id, tenant_id, event_type, external_org_id, headers, body,"
    " signature_ok, outcome, job_ids, received_at)"
    " SELECT r.source, r.delivery_id, r.tenant_id, r.event_type, r.org, r.headers, decode(r.body, 'base64'), true,"
    " r.outcome, r.job_ids, %(received_at)s"
    " FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS r(n int, source text, delivery_id text, tenant_id int,"
    " event_type text, org text, headers jsonb, body text, outcome text, job_ids jsonb)"
    " ORDER BY r.n"
    " ON CONFLICT (source, delivery_id) DO NOTHING RETURNING source, delivery_id"
)
# ``set_config(…, true)`` in the statement: its own (implicit) transaction commits without waiting
# for the WAL flush. A crash may lose the last counts: a minute's rate limit can afford that.
_QUICK = "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS quick"
_PG_HITS = (
    "INSERT INTO rate_limit_hits (key, window_start, count)"
    " SELECT h.key, %(window_start)s, h.n FROM unnest(CAST(%(keys)s AS text[]), CAST(%(counts)s AS int[]))"
    f" WITH ORDINALITY AS h(key, n, i) {_QUICK} ORDER BY h.i"
    " ON CONFLICT (key) DO UPDATE SET count = rate_limit_hits.count + EXCLUDED.count RETURNING key, count"
)
_PG_RETURN_HITS = (
    "UPDATE rate_limit_hits r SET count = greatest(r.count - h.n, 0)"
    f" FROM unnest(CAST(%(keys)s AS text[]), CAST(%(counts)s AS int[])) AS h(key, n) {_QUICK}"
    " WHERE r.key = h.key"
)
_PG_OLD_WINDOWS = "DELETE FROM rate_limit_hits WHERE key LIKE %(pattern)s AND window_start < %(window_start)s"


def claim_deliveries(session: Session, rows: Sequence[NewDelivery]) -> set[tuple[str, str]]:
    """Insert the deliveries in one statement; the ``(source, delivery_id)`` of those inserted.

    One that is missing from the answer already existed (or a concurrent transaction holding
    it committed first): the caller rolls back and writes the batch again without it.
    """
    ordered = sorted(rows, key=lambda r: (r.source, r.delivery_id))
    document = [
        {
            "n": n,
            "source": r.source,
            "delivery_id": r.delivery_id,
            "tenant_id": r.tenant_id,
            "event_type": r.event_type[:64] if r.event_type else None,
            "org": r.external_org_id,
            "headers": r.headers,
            "body": base64.b64encode(r.body).decode("ascii"),
            "outcome": r.outcome,
            "job_ids": list(r.job_ids),
        }
        for n, r in enumerate(ordered)
    ]
    params: dict[str, Any] = {"rows": json.dumps(document), "received_at": utcnow()}
    return {(str(s), str(d)) for s, d in driver_rows(session, _PG_CLAIM_MANY, params)}


def hit_tenants(autocommit: Connection, hits: dict[int, int], now: dt.datetime | None = None) -> TenantHits:
    """Count ``hits[tenant]`` requests for each tenant in the current window, committed at once.

    ``autocommit``: a connection in autocommit mode; the counts are visible to every other
    writer as soon as this returns, so two batches never admit more than the limit between them.
    ``intake.hit_rate_limit`` for many requests at once (the same keys and windows), locking the
    counters in tenant id order as its callers do (for microseconds: no transaction holds them).
    A counter that starts a window drops that tenant's finished ones.
    """
    now = now or utcnow()
    epoch = int(now.timestamp())
    start_epoch = epoch - epoch % WINDOW_S
    window_start = dt.datetime.fromtimestamp(start_epoch, dt.UTC)
    tenants = sorted(hits)
    key_of = {f"tenant:{t}:{start_epoch}": t for t in tenants}
    params = {"keys": list(key_of), "counts": [hits[t] for t in tenants], "window_start": window_start}
    counts = {key_of[str(k)]: int(c) for k, c in driver_rows(autocommit, _PG_HITS, params)}
    for tenant, count in counts.items():
        if count == hits[tenant]:  # this batch opened the window
            old = {"pattern": f"tenant:{tenant}:%", "window_start": window_start}
            driver_rows(autocommit, _PG_OLD_WINDOWS, old)
    return TenantHits(counts, {key: hits[t] for key, t in key_of.items()})


@dataclass(frozen=True)
class TenantHits:
    """What ``hit_tenants`` counted: each tenant's count now, and the hits per counter key (to give back)."""

    counts: dict[int, int]
    by_key: dict[str, int]


def return_hits(autocommit: Connection, hits: TenantHits) -> None:
    """Take back the hits of a batch that was not committed (its deliveries are counted again alone)."""
    keys = sorted(hits.by_key)
    driver_rows(autocommit, _PG_RETURN_HITS, {"keys": keys, "counts": [hits.by_key[k] for k in keys]})
