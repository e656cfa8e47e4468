"""Which workflows a vendor event starts, and the job that carries it — read from the catalogue.

Each job type declares its trigger (vendor, event type, payload conditions, params taken from
the payload) and its subject (the record it is about) in ``jobtypes``; this module only
applies those declarations to an event. The runner's workflows re-fetch the record they are
told about (events are compact and may arrive late or twice), so a job's params are the
event's external ids plus where it came from. Jobs about one record share a concurrency key,
so two events for one order never race.
"""

from __future__ import annotations

from integrations.events import VendorEvent
from jobtypes import BY_NAME, JobType, triggered

# The record each event-started workflow is about: (kind for the concurrency key, external id name).
SUBJECT: dict[str, tuple[str, str]] = {
    entry.name: (entry.subject.kind, entry.subject.id_field) for entry in triggered() if entry.subject is not None
}


def _starts(entry: JobType, event: VendorEvent) -> bool:
    """The event matches the trigger and names the record the workflow acts on."""
    if entry.trigger is None or entry.subject is None or not entry.trigger.matches(event):
        return False
    return bool(event.external_ids.get(entry.subject.id_field))


def workflows_for(event: VendorEvent) -> list[str]:
    """The workflows this event starts; none when it does not name the record they act on."""
    return [entry.name for entry in triggered() if _starts(entry, event)]


def job_params(event: VendorEvent, workflow: str | None = None) -> dict[str, object]:
    """What the workflow needs: the record's ids and the event it came from (no raw body).

    e.g. ``{"shop": "acme.myshopify.com", "order_id": "4242", "gid": "gid://shopify/Order/4242",
    "event": {"source": "shopify", "type": "orders/paid", "occurred_at": …, "dedup_key": …,
    "org_id": …}}``; a job type whose trigger takes params from the payload adds them (a HubSpot
    stage change: ``property_name`` and ``property_value``). Without ``workflow``: the params
    of every workflow the event starts (they share all but those payload params).
    """
    extra: dict[str, object] = {}
    for name in [workflow] if workflow is not None else workflows_for(event):
        entry = BY_NAME.get(name)
        if entry is not None and entry.trigger is not None:
            extra.update(entry.trigger.params(event))
    return {
        **event.external_ids,
        **extra,
        "event": {
            "source": event.source,
            "type": event.event_type,
            "occurred_at": event.occurred_at.isoformat(),
            "dedup_key": event.dedup_key,
            "org_id": event.org_id,
        },
    }


def concurrency_key(workflow: str, event: VendorEvent) -> str | None:
    entry = BY_NAME.get(workflow)
    return entry.subject.concurrency_key(event.external_ids) if entry and entry.subject else None
