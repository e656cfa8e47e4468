"""One delivery in one statement on PostgreSQL: rate limit, dedup, jobs, delivery row, commit.

The listener's hot path (``webhook/accept.py``) for a delivery of one event. Run on an
autocommit connection, the statement is its own transaction: one round trip, and the
answer comes back only after the commit was flushed, exactly like BEGIN … COMMIT with four
statements in between, but without their three extra round trips and client-side overhead.

What it does, in order, all or nothing:

1. counts the request in the tenant's one-minute window — but only while the count is under
   the limit (``ON CONFLICT … DO UPDATE … WHERE count < limit``), so a refused request is not
   counted and stores nothing else; the first hit of a window drops the tenant's old windows;
2. takes job ids for the event's jobs (an idempotency key that already has a job reuses it);
3. inserts the delivery row with those job ids, ``ON CONFLICT (source, delivery_id) DO
   NOTHING``: a duplicate — earlier, or concurrent (it waits on the unique index for the
   winner) — inserts nothing;
4. inserts the jobs only when the delivery row went in.

Multi-event batches and SQLite use the general path (``db.intake`` + ``db.jobs``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, select, text
from sqlalchemy.pool import NullPool
from sqlalchemy.types import LargeBinary

from db.intake import WINDOW_S, RateVerdict
from db.jobs._sql import CHANNEL
from db.models import WebhookDelivery

_ONE_DELIVERY = text(
    """
WITH rl AS (
    INSERT INTO rate_limit_hits (key, window_start, count)
    SELECT CAST(:rl_key AS varchar), CAST(:window_start AS timestamptz), 1
    WHERE CAST(:rl_key AS varchar) IS NOT NULL
    ON CONFLICT (key) DO UPDATE SET count = rate_limit_hits.count + 1
        WHERE rate_limit_hits.count < CAST(:rl_limit AS int)
    RETURNING count
), ok AS (
    SELECT CAST(:rl_key AS varchar) IS NULL OR EXISTS (SELECT 1 FROM rl) AS allowed
), gc AS (
    DELETE FROM rate_limit_hits
    WHERE key LIKE CAST(:rl_prefix AS varchar) AND window_start < CAST(:window_start AS timestamptz)
        AND EXISTS (SELECT 1 FROM rl WHERE count = 1)
), ids AS MATERIALIZED (
    SELECT r.*, e.id AS existing, COALESCE(e.id, nextval('pipeline_jobs_id_seq')) AS id
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(i int, tenant_id int, job_type text,
        params jsonb, priority int, max_attempts int, timeout_s int, idempotency_key text,
        concurrency_key text, created_by text)
    LEFT JOIN pipeline_jobs e ON e.tenant_id = r.tenant_id AND e.idempotency_key = r.idempotency_key
    WHERE (SELECT allowed FROM ok)
), d AS (
    INSERT INTO webhook_deliveries (source, delivery_id, tenant_id, event_type, external_org_id,
        headers, body, signature_ok, outcome, job_ids, received_at)
    SELECT :source, :delivery_id, CAST(:tenant_id AS int), :event_type, :external_org_id,
        CAST(:headers AS jsonb), :body, true, :outcome,
        COALESCE((SELECT jsonb_agg(id ORDER BY i) FROM ids), CAST('[]' AS jsonb)), CAST(:now AS timestamptz)
    WHERE (SELECT allowed FROM ok)
    ON CONFLICT (source, delivery_id) DO NOTHING
    RETURNING id
), j AS (
    INSERT INTO pipeline_jobs (id, tenant_id, job_type, status, params, priority, run_at, attempts,
        max_attempts, timeout_s, idempotency_key, concurrency_key, created_by, cancel_requested,
        created_at)
    SELECT ids.id, ids.tenant_id, ids.job_type, 'QUEUED', ids.params, ids.priority,
        CAST(:now AS timestamptz), 0, ids.max_attempts, ids.timeout_s, ids.idempotency_key,
        ids.concurrency_key, ids.created_by, false, CAST(:now AS timestamptz)
    FROM ids
    WHERE ids.existing IS NULL AND EXISTS (SELECT 1 FROM d)
    ORDER BY ids.i
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING id
)
SELECT (SELECT allowed FROM ok), (SELECT count FROM rl), (SELECT id FROM d),
    (SELECT count(*) FROM j), (SELECT count(*) FROM ids WHERE existing IS NULL),
    (SELECT jsonb_agg(id ORDER BY i) FROM ids)
"""
).bindparams(bindparam("body", type_=LargeBinary()))

_REPAIR = text(
    """
UPDATE webhook_deliveries SET job_ids = (
    SELECT COALESCE(jsonb_agg(p.id ORDER BY k.n), CAST('[]' AS jsonb))
    FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, n)
    JOIN pipeline_jobs p ON p.tenant_id = CAST(:tenant_id AS int) AND p.idempotency_key = k.key
) WHERE id = :pk
RETURNING job_ids
"""
)


@dataclass(frozen=True)
class OneJob:
    """A job of the delivery's tenant (its idempotency key is unique per tenant)."""

    job_type: str
    params: dict[str, Any]
    idempotency_key: str
    concurrency_key: str | None
    created_by: str
    priority: int = 0
    max_attempts: int = 3
    timeout_s: int = 3600


@dataclass(frozen=True)
class Recorded:
    """What the statement did: refused (rate limit), duplicate, or stored with ``job_ids``."""

    rate: RateVerdict | None  # None: no tenant, so no rate limit
    duplicate: bool
    job_ids: list[int]  # new jobs; for a duplicate, the original delivery's jobs


def record_delivery(
    conn: Connection,
    *,
    source: str,
    delivery_id: str,
    tenant_id: int | None,
    event_type: str | None,
    external_org_id: str | None,
    headers: dict[str, Any],
    body: bytes,
    jobs: Sequence[OneJob],
    rate_limit: int,
    now: dt.datetime | None = None,
) -> Recorded:
    """Run the one-statement intake on ``conn`` (PostgreSQL, autocommit: it commits by itself)."""
    now = now or dt.datetime.now(dt.UTC)
    epoch = int(now.timestamp())
    start_epoch = epoch - epoch % WINDOW_S
    rows = [
        {
            "i": i,
            "tenant_id": tenant_id,
            "job_type": job.job_type,
            "params": job.params,
            "priority": job.priority,
            "max_attempts": job.max_attempts,
            "timeout_s": job.timeout_s,
            "idempotency_key": job.idempotency_key,
            "concurrency_key": job.concurrency_key,
            "created_by": job.created_by,
        }
        for i, job in enumerate(jobs if tenant_id is not None else ())
    ]
    params = {
        "rl_key": None if tenant_id is None else f"tenant:{tenant_id}:{start_epoch}",
        "rl_prefix": f"tenant:{tenant_id}:%",
        "rl_limit": rate_limit,
        "window_start": dt.datetime.fromtimestamp(start_epoch, dt.UTC),
        "rows": json.dumps(rows, separators=(",", ":"), default=str),
        "source": source,
        "delivery_id": delivery_id,
        "tenant_id": tenant_id,
        "event_type": event_type[:64] if event_type else None,
        "external_org_id": external_org_id,
        "headers": json.dumps(headers, separators=(",", ":")),
        "body": body,
        "outcome": "accepted" if tenant_id is not None else "unmatched",
        "now": now,
    }
    allowed, count, pk, inserted, expected, ids = conn.execute(_ONE_DELIVERY, params).one()
    rate = None
    if tenant_id is not None:
        retry_after = max(1, start_epoch + WINDOW_S - epoch)
        rate = RateVerdict(allowed=bool(allowed), count=int(count or rate_limit), retry_after_s=retry_after)
    if not allowed:
        return Recorded(rate=rate, duplicate=False, job_ids=[])
    if pk is None:
        # A duplicate: this statement's snapshot may predate a concurrent winner; a new one sees it.
        found = _original(conn, source, delivery_id)
        return Recorded(rate=rate, duplicate=True, job_ids=found)
    job_ids = [int(i) for i in (ids or [])]
    if inserted != expected:
        # A job with one of these idempotency keys appeared concurrently (not by a duplicate
        # delivery: those conflict on the delivery row first). Point the delivery at it.
        keys = [job.idempotency_key for job in jobs]
        fixed = conn.execute(_REPAIR, {"keys": keys, "tenant_id": tenant_id, "pk": pk}).scalar_one()
        job_ids = [int(i) for i in fixed]
    return Recorded(rate=rate, duplicate=False, job_ids=job_ids)


def wake_runners_connection(engine: Engine) -> Connection:
    """A connection of its own for waking the runners: autocommit, asynchronous commit.

    Not from the pool: ``synchronous_commit = off`` must never reach a connection that
    acknowledges deliveries. A NOTIFY then costs one round trip and holds PostgreSQL's
    notify lock for microseconds instead of an fsync.
    """
    own = create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    conn = own.connect()
    conn.exec_driver_sql("SET synchronous_commit = off")
    return conn


def wake_runners(conn: Connection) -> None:
    conn.exec_driver_sql(f"SELECT pg_notify('{CHANNEL}', '')")


def _original(conn: Connection, source: str, delivery_id: str) -> list[int]:
    t = WebhookDelivery.__table__.c
    found = conn.execute(select(t.job_ids).where(t.source == source, t.delivery_id == delivery_id)).scalar()
    return [int(j) for j in (found or [])]
