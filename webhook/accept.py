"""Accepting verified vendor events: rate limit, dedup, store, enqueue, commit, answer.

Called by the vendor routes (``webhook/vendors.py``) only after the signature was verified
and the body parsed. Everything a delivery leaves behind — its rows and its jobs — is
written in one transaction, and the answer names the job ids only after it committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence

from flask import Response, request

from db import intake
from db.jobs import JobSpec, enqueue_many
from integrations.events import VendorEvent
from webhook import metrics, routing
from webhook.context import get_session, listener
from webhook.problems import Problem
from webhook.storable import cleaned

log = logging.getLogger("webhook.intake")

# A successful answer per vendor: Xero wants 200 with no body; Asana counts only 200/204.
SUCCESS_STATUS = {"xero": 200, "asana": 200, "hubspot": 202, "shopify": 202}

# Headers worth keeping with a delivery (to replay or audit it); never cookies or auth.
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-xero-signature",
    "x-hubspot-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-signature-version",
    "x-hubspot-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-triggered-at",
    "x-hook-signature",
)


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}


def delivery_id(dedup_key: str) -> str:
    """The dedup key itself, or a digest of it when it would not fit the column."""
    if len(dedup_key) <= 255:
        return dedup_key
    return dedup_key[:190] + ":" + hashlib.sha256(dedup_key.encode()).hexdigest()


def _single_event_body(source: str, event: VendorEvent) -> bytes:
    """One event of a batch in its vendor's delivery shape, so it can be replayed alone."""
    item = event.payload
    wrapped: object = [item] if source == "hubspot" else {"events": [item]}
    return json.dumps(wrapped, separators=(",", ":")).encode()


def answer(source: str, job_ids: Sequence[int], *, duplicate: bool = False) -> Response:
    status = 200 if duplicate else SUCCESS_STATUS[source]
    ids = ",".join(str(i) for i in job_ids)
    if source == "xero":
        # CONTRACTS.md §2.1: 200 with no body; the job ids travel in a header instead.
        response = Response(status=200)
    else:
        body: dict[str, object] = {"job_ids": list(job_ids)}
        if duplicate:
            body["duplicate"] = True
        response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Zixly-Job-Ids"] = ids
    return response


def rejected(source: str, exc: Problem) -> Problem:
    metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="rejected").inc()
    return exc


def enforce_rate_limit(tenant_ids: set[int], source: str | None) -> None:
    """429 when any tenant of the request is over its per-minute budget (shared via the DB).

    ``source`` names the vendor for the delivery counter (None for the job API).
    """
    if not tenant_ids:
        return
    settings = listener().settings
    session = get_session()
    verdicts = [
        intake.hit_rate_limit(session, tenant_id, settings.webhook_rate_limit_per_minute)
        for tenant_id in sorted(tenant_ids)
    ]
    session.commit()
    denied = [v for v in verdicts if not v.allowed]
    if denied:
        wait = max(v.retry_after_s for v in denied)
        log.warning("rate limit hit", extra={"source": source, "retry_after_s": wait})
        problem = Problem(
            429,
            "Too Many Requests",
            f"more than {settings.webhook_rate_limit_per_minute} requests per minute for this tenant",
            headers={"Retry-After": str(wait)},
        )
        raise rejected(source, problem) if source else problem


def accept(
    source: str,
    events: Sequence[VendorEvent],
    tenant_of: Callable[[VendorEvent], int | None],
    raw_body: bytes,
) -> Response:
    """Store and enqueue verified events; the vendor-specific success answer."""
    if not events:
        # Xero intent-to-receive, Asana heartbeat: verified, nothing to do.
        metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="accepted").inc()
        return answer(source, [])
    tenants = {t for t in (tenant_of(e) for e in events) if t is not None}
    enforce_rate_limit(tenants, source)

    session = get_session()
    headers = cleaned(kept_headers(dict(request.headers.items())))
    disabled: dict[int, set[str]] = {}
    duplicates: list[str] = []
    pending: list[tuple[int, list[JobSpec]]] = []  # (delivery pk, its jobs)
    unmatched = 0
    for event in events:
        tenant_id = tenant_of(event)
        did = delivery_id(cleaned(event.dedup_key))
        pk = intake.claim_delivery(
            session,
            intake.NewDelivery(
                source=source,
                delivery_id=did,
                tenant_id=tenant_id,
                event_type=cleaned(event.event_type),
                external_org_id=cleaned(event.org_id),
                headers=headers,
                body=raw_body if len(events) == 1 else _single_event_body(source, event),
                outcome="accepted" if tenant_id is not None else "unmatched",
            ),
        )
        if pk is None:
            duplicates.append(did)
            continue
        if tenant_id is None:
            unmatched += 1
            continue
        workflows = routing.workflows_for(event)
        if tenant_id not in disabled:
            disabled[tenant_id] = intake.disabled_workflows(session, tenant_id, routing.SUBJECT)
        specs = [
            JobSpec(
                tenant_id=tenant_id,
                job_type=workflow,
                params=cleaned(routing.job_params(event)),
                idempotency_key=delivery_id(f"{did}:{workflow}"),
                concurrency_key=cleaned(routing.concurrency_key(workflow, event)),
                created_by=f"webhook:{source}",
            )
            for workflow in workflows
            if workflow not in disabled[tenant_id]
        ]
        pending.append((pk, specs))

    all_specs = [s for _, specs in pending for s in specs]
    enqueued = iter(enqueue_many(session, all_specs)) if all_specs else iter(())
    new_ids: list[int] = []
    for pk, specs in pending:
        ids = [next(enqueued).id for _ in specs]
        if ids:
            intake.set_delivery_jobs(session, pk, ids)
        new_ids += ids
    original = intake.original_job_ids(session, source, duplicates)
    session.commit()

    for spec in all_specs:
        metrics.JOBS_QUEUED.labels(job_type=spec.job_type).inc()
    dup_ids = sorted({j for did in duplicates for j in original.get(did, [])})
    if duplicates and len(duplicates) == len(events):
        outcome = "duplicate"
    elif unmatched and unmatched + len(duplicates) == len(events):
        outcome = "unmatched"
    else:
        outcome = "accepted"
    metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome=outcome).inc()
    log.info(
        "delivery %s",
        outcome,
        extra={
            "source": source,
            "events": len(events),
            "duplicates": len(duplicates),
            "unmatched": unmatched,
            "job_ids": new_ids,
        },
    )
    return answer(source, new_ids + dup_ids, duplicate=outcome == "duplicate")
