"""The listener's group commit on PostgreSQL: many deliveries' rows in one statement each.

``webhook/group.py`` writes the deliveries that arrive together in one transaction; these are
its statements beyond the job queue's (``db.jobs``, already one statement per batch). Each binds
arrays and ``unnest``s them, so the statement's text never changes with the batch size and
psycopg prepares it once. Rows go in a fixed order (counters by tenant id, as
``intake.hit_budget`` callers lock them; deliveries by key), so two batches lock rows in one
order and cannot deadlock on them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from db.intake import WINDOW_S, NewDelivery, driver_rows, utcnow

_PG_CLAIM_MANY = (
    "INSERT INTO webhook_deliveries (source, delivery_id, tenant_id, event_type, external_org_id, headers, body,"
    " signature_ok, outcome, job_ids, received_at)"
    " SELECT r.source, r.delivery_id, r.tenant_id, r.event_type, r.org, CAST(r.headers AS jsonb), r.body, true,"
    " r.outcome, CAST(r.job_ids AS jsonb), %(received_at)s"
    " FROM unnest(CAST(%(source)s AS text[]), CAST(%(delivery_id)s AS text[]), CAST(%(tenant_id)s AS int[]),"
    " CAST(%(event_type)s AS text[]), CAST(%(org)s AS text[]), CAST(%(headers)s AS text[]),"
    " CAST(%(body)s AS bytea[]), CAST(%(outcome)s AS text[]), CAST(%(job_ids)s AS text[]))"
    " WITH ORDINALITY AS r(source, delivery_id, tenant_id, event_type, org, headers, body, outcome, job_ids, n)"
    " ORDER BY r.n"
    " ON CONFLICT (source, delivery_id) DO NOTHING RETURNING source, delivery_id"
)
_PG_HITS = (
    "INSERT INTO rate_limit_hits (key, window_start, count)"
    " SELECT h.key, %(window_start)s, h.n FROM unnest(CAST(%(keys)s AS text[]), CAST(%(counts)s AS int[]))"
    " WITH ORDINALITY AS h(key, n, i) ORDER BY h.i"
    " ON CONFLICT (key) DO UPDATE SET count = rate_limit_hits.count + EXCLUDED.count RETURNING key, count"
)
_PG_OLD_WINDOWS = "DELETE FROM rate_limit_hits WHERE key LIKE %(pattern)s AND window_start < %(window_start)s"


def claim_deliveries(session: Session, rows: Sequence[NewDelivery]) -> set[tuple[str, str]]:
    """Insert the deliveries in one statement; the ``(source, delivery_id)`` of those inserted.

    One that is missing from the answer already existed (or a concurrent transaction holding
    it committed first): the caller rolls back and writes the batch again without it.
    """
    ordered = sorted(rows, key=lambda r: (r.source, r.delivery_id))
    params: dict[str, Any] = {
        "source": [r.source for r in ordered],
        "delivery_id": [r.delivery_id for r in ordered],
        "tenant_id": [r.tenant_id for r in ordered],
        "event_type": [r.event_type[:64] if r.event_type else None for r in ordered],
        "org": [r.external_org_id for r in ordered],
        "headers": [json.dumps(r.headers) for r in ordered],
        "body": [r.body for r in ordered],
        "outcome": [r.outcome for r in ordered],
        "job_ids": [json.dumps(list(r.job_ids)) for r in ordered],
        "received_at": utcnow(),
    }
    return {(str(s), str(d)) for s, d in driver_rows(session, _PG_CLAIM_MANY, params)}


def hit_tenants(session: Session, hits: dict[int, int], now: dt.datetime | None = None) -> dict[int, int]:
    """Count ``hits[tenant]`` requests for each tenant in the current window; tenant → its count now.

    ``intake.hit_rate_limit`` for many requests at once (the same keys and windows), locking the
    counters in tenant id order as its callers do. A counter that starts a window drops that
    tenant's finished ones.
    """
    now = now or utcnow()
    epoch = int(now.timestamp())
    start_epoch = epoch - epoch % WINDOW_S
    window_start = dt.datetime.fromtimestamp(start_epoch, dt.UTC)
    tenants = sorted(hits)
    key_of = {f"tenant:{t}:{start_epoch}": t for t in tenants}
    params = {"keys": list(key_of), "counts": [hits[t] for t in tenants], "window_start": window_start}
    counts = {key_of[str(k)]: int(c) for k, c in driver_rows(session, _PG_HITS, params)}
    for tenant, count in counts.items():
        if count == hits[tenant]:  # this batch opened the window
            driver_rows(session, _PG_OLD_WINDOWS, {"pattern": f"tenant:{tenant}:%", "window_start": window_start})
    return counts
