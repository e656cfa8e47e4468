"""What a verified delivery leaves behind: its delivery id, its jobs' specs, its rows' bodies.

Shared by the one-delivery intake (``webhook/accept.py``) and the group commit
(``webhook/group.py``), so both write exactly the same rows and jobs for a delivery.
"""

from __future__ import annotations

import hashlib
import json

from db import intake
from db.jobs import JobSpec
from integrations.events import VendorEvent
from integrations.registry import vendor
from webhook import routing
from webhook.storable import cleaned


def delivery_id(dedup_key: str) -> str:
    """The dedup key itself, or a digest of it when it would not fit the column."""
    if len(dedup_key) <= 255:
        return dedup_key
    return dedup_key[:190] + ":" + hashlib.sha256(dedup_key.encode()).hexdigest()


def delivery_label(dedup_key: str, limit: int = 80) -> str:
    """The dedup key as a debounce step names it: whole, or its two ends when it is long.

    The end is what tells deliveries about one record apart (Xero's key ends with the event's
    time after 80 characters of organisation and invoice id), so it is never the part cut.
    """
    if len(dedup_key) <= limit:
        return dedup_key
    half = (limit - 1) // 2
    return f"{dedup_key[:half]}…{dedup_key[-half:]}"


def single_event_body(source: str, event: VendorEvent) -> bytes:
    """One event of a batch in its vendor's delivery shape, so it can be replayed alone."""
    wrapped = vendor(source).webhooks.replay_body(event.payload)
    return json.dumps(wrapped, separators=(",", ":")).encode()


def job_specs(source: str, event: VendorEvent, owner: intake.OrgTenant | None, key: str) -> list[JobSpec]:
    """The jobs the event starts for its tenant (none when nobody owns it)."""
    if owner is None:
        return []
    return [
        JobSpec(
            tenant_id=owner.tenant_id,
            job_type=workflow,
            params=cleaned(routing.job_params(event)),
            idempotency_key=delivery_id(f"{key}:{workflow}"),
            concurrency_key=cleaned(routing.concurrency_key(workflow, event)),
            created_by=f"webhook:{source}",
        )
        for workflow in routing.workflows_for(event)
        if workflow not in owner.disabled
    ]


def job_label(source: str, event: VendorEvent, key: str) -> str:
    """What a debounced job's step log says joined it."""
    return f"{source} {event.event_type} (delivery {delivery_label(key)})"
