"""Accepting verified vendor events: rate limit, dedup, store, enqueue, commit, answer.

Called by the vendor routes (``webhook/vendors.py``) only after the signature was verified
and the body parsed. Everything a delivery leaves behind — its rows and its jobs — is
written in one transaction, and the answer names the job ids only after it committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence

from flask import Response, g
from sqlalchemy.orm import Session

from db import intake
from db.jobs import JobSpec
from db.jobs.debounce import enqueue_events
from integrations.events import VendorEvent
from integrations.registry import vendor
from webhook import debounce, metrics
from webhook.context import get_session, listener
from webhook.group import GroupCommit, Pending
from webhook.problems import Problem
from webhook.rows import delivery_id, job_label, job_specs, single_event_body
from webhook.storable import cleaned

log = logging.getLogger("webhook.intake")

# Headers worth keeping with any delivery, besides the vendor's own (to replay or audit it);
# never cookies or auth.
COMMON_KEPT_HEADERS = frozenset(("content-type", "user-agent"))


def kept_headers(source: str, headers: Mapping[str, str]) -> dict[str, str]:
    keep = COMMON_KEPT_HEADERS | vendor(source).webhooks.kept_headers
    return {low: v for k, v in headers.items() if (low := k.lower()) in keep}


def answer(source: str, job_ids: Sequence[int], *, duplicate: bool = False) -> Response:
    """The success the vendor expects; the job ids always ride in ``Zixly-Job-Ids`` too."""
    hooks = vendor(source).webhooks
    status = 200 if duplicate else hooks.success_status
    ids = ",".join(str(i) for i in job_ids)
    if hooks.empty_success_body:
        response = Response(status=status)
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
        for tenant_id in sorted(tenant_ids)  # always in id order: no deadlocks
    ]
    denied = [v for v in verdicts if not v.allowed]
    if denied:
        session.rollback()  # a refused request does not count
        wait = max(v.retry_after_s for v in denied)
        log.warning("rate limit hit", extra={"source": source, "retry_after_s": wait})
        problem = Problem(
            429,
            "Too Many Requests",
            f"more than {settings.webhook_rate_limit_per_minute} requests per minute for this tenant",
            headers={"Retry-After": str(wait)},
        )
        raise rejected(source, problem) if source else problem


def _unmatched_allowed() -> bool:
    """One more delivery for unknown organisations within the global per-minute budget?"""
    limit = listener().settings.webhook_unmatched_per_minute
    return limit > 0 and intake.hit_budget(get_session(), "unmatched", limit).allowed


Resolve = Callable[[VendorEvent], "intake.OrgTenant | None"]


def accept(
    source: str, events: Sequence[VendorEvent], resolve: Resolve, raw_body: bytes, request_headers: Mapping[str, str]
) -> Response:
    """Store and enqueue verified events; the vendor-specific success answer.

    One transaction: the tenants' rate-limit counters, the jobs, the delivery rows. Jobs go
    in first with idempotency keys, then each delivery row with its job ids; a delivery that
    already exists rolls the transaction back and it is redone (counters included) without
    the duplicates, so a duplicate never leaves anything behind.
    """
    if not events:
        # Xero intent-to-receive, Asana heartbeat: verified, nothing to do.
        metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="accepted").inc()
        return answer(source, [])
    owners = [resolve(e) for e in events]
    if None in owners and not _unmatched_allowed():
        # Past the budget for unknown organisations: acknowledged, not stored (no tenant, so no
        # tenant's rate limit would ever stop a flood of them).
        dropped = owners.count(None)
        metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome="unmatched_dropped").inc(dropped)
        kept = [(e, o) for e, o in zip(events, owners, strict=True) if o is not None]
        if not kept:
            get_session().commit()  # the budget's count
            return answer(source, [])
        events, owners = [e for e, _ in kept], [o for _, o in kept]
    headers = cleaned(kept_headers(source, request_headers))
    keys = [delivery_id(cleaned(e.dedup_key)) for e in events]
    group = listener().group
    if group is not None and None not in owners:
        grouped = _grouped(group, Pending(source, events, owners, keys, headers, raw_body))  # type: ignore[arg-type]
        if grouped is not None:
            return grouped
        # Handed back (a tenant over its limit, a failed batch): written alone, as without a group.
    enforce_rate_limit({o.tenant_id for o in owners if o is not None}, source)

    session = get_session()
    duplicates: set[str] = set()
    for _attempt in range(3):
        specs_by_event, new_ids, conflicts, joined = _store(
            session, source, events, owners, keys, duplicates, headers, raw_body
        )
        if not conflicts:
            break
        session.rollback()  # a concurrent or earlier copy won: redo without it
        duplicates |= conflicts
        enforce_rate_limit({o.tenant_id for o in owners if o is not None}, source)
    else:  # pragma: no cover - three rounds of fresh conflicts in one request
        raise Problem(503, "Service Unavailable", "concurrent duplicates; retry", headers={"Retry-After": "1"})
    original = intake.original_job_ids(session, source, sorted(duplicates))
    session.commit()

    queued = [spec for specs in specs_by_event for spec in specs]
    _wake_runners(len(queued) - len(joined))
    for n, spec in enumerate(queued):
        counter = metrics.EVENTS_DEBOUNCED if n in joined else metrics.JOBS_QUEUED
        counter.labels(job_type=spec.job_type).inc()
    unmatched = len({key for key, owner in zip(keys, owners, strict=True) if owner is None and key not in duplicates})
    dup_ids = sorted({j for key in duplicates for j in original.get(key, [])})
    distinct = len(set(keys))  # an event a body lists again is a duplicate of its first copy
    if len(duplicates) == distinct:
        outcome = "duplicate"
    elif unmatched and unmatched + len(duplicates) == distinct:
        outcome = "unmatched"
    else:
        outcome = "accepted"
    copies = len(keys) - distinct
    return _answered(source, outcome, len(events), len(duplicates) + copies, unmatched, new_ids, dup_ids)


def _grouped(group: GroupCommit, pending: Pending) -> Response | None:
    """The delivery written with the others arriving now (``webhook/group.py``); None: write it alone."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()  # the org look-up's transaction: no connection held while waiting
    stored = group.submit(pending)
    if stored is None:
        return None
    source, events = pending.source, pending.events
    for job_type, joined in stored.queued:
        (metrics.EVENTS_DEBOUNCED if joined else metrics.JOBS_QUEUED).labels(job_type=job_type).inc()
    outcome = "duplicate" if stored.duplicates == len(events) else "accepted"
    return _answered(source, outcome, len(events), stored.duplicates, 0, stored.new_ids, stored.dup_ids)


def _answered(
    source: str, outcome: str, events: int, duplicates: int, unmatched: int, new_ids: list[int], dup_ids: list[int]
) -> Response:
    metrics.WEBHOOK_DELIVERIES.labels(source=source, outcome=outcome).inc()
    if log.isEnabledFor(logging.INFO):
        log.info(
            "delivery %s",
            outcome,
            extra={
                "source": source,
                "events": events,
                "duplicates": duplicates,
                "unmatched": unmatched,
                "job_ids": new_ids,
            },
        )
    return answer(source, list(dict.fromkeys(new_ids + dup_ids)), duplicate=outcome == "duplicate")


def _wake_runners(queued: int) -> None:
    wakeup = listener().wakeup
    if queued and wakeup is not None:
        wakeup.poke()


def _store(
    session: Session,
    source: str,
    events: Sequence[VendorEvent],
    owners: Sequence[intake.OrgTenant | None],
    keys: Sequence[str],
    skip: set[str],
    headers: dict[str, str],
    raw_body: bytes,
) -> tuple[list[list[JobSpec]], list[int], set[str], set[int]]:
    """One attempt: enqueue, then insert the delivery rows.

    Returns (specs, job ids, conflicts, the positions among the flattened specs of events that
    joined a queued job instead of making one).
    """
    # An event a body lists twice (one dedup key) is stored once, from its first copy: the second
    # copy's delivery row would conflict with the first's and roll the whole attempt back.
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key not in skip:
            first.setdefault(key, i)
    todo = sorted(first.values())
    specs_by_event = [job_specs(source, events[i], owners[i], keys[i]) for i in todo]
    flat = [spec for specs in specs_by_event for spec in specs]
    labels = [
        job_label(source, events[i], keys[i]) for i, specs in zip(todo, specs_by_event, strict=True) for _ in specs
    ]
    # Events about one record within its workflow's window join one job (db/jobs/debounce.py).
    results = (
        enqueue_events(session, debounce.events(session, listener().debounce_windows, flat, labels), notify=False)
        if flat
        else []
    )
    joined = {n for n, r in enumerate(results) if r.joined}
    enqueued = iter(results)
    conflicts: set[str] = set()
    new_ids: list[int] = []
    for i, specs in zip(todo, specs_by_event, strict=True):
        ids = [next(enqueued).id for _ in specs]
        owner, event = owners[i], events[i]
        pk = intake.claim_delivery(
            session,
            intake.NewDelivery(
                source=source,
                delivery_id=keys[i],
                tenant_id=owner.tenant_id if owner else None,
                event_type=cleaned(event.event_type),
                external_org_id=cleaned(event.org_id),
                headers=headers,
                body=raw_body if len(events) == 1 else single_event_body(source, event),
                outcome="accepted" if owner else "unmatched",
                job_ids=ids,
            ),
        )
        if pk is None:
            conflicts.add(keys[i])
        new_ids += ids
    return specs_by_event, list(dict.fromkeys(new_ids)), conflicts, joined
