"""Which workflow each vendor event starts, and the job that carries it.

The runner's workflows re-fetch the record they are told about (events are compact and
may arrive late or twice), so a job's params are the event's external ids plus where it came
from. Jobs about one record share a concurrency key, so two events for one order never race.
"""

from __future__ import annotations

from collections.abc import Callable

from integrations.events import VendorEvent

XERO_INVOICE_PAID = "xero-invoice-paid"
SHOPIFY_ORDER_TO_XERO = "shopify-order-to-xero"
HUBSPOT_DEAL_WON_TO_ASANA = "hubspot-deal-won-to-asana"
ASANA_TASK_RECONCILE = "asana-task-reconcile"


def _xero(event: VendorEvent) -> list[str]:
    # Xero says only "an invoice changed"; the workflow fetches it and acts if it is paid.
    return [XERO_INVOICE_PAID] if event.event_type.startswith("invoice.") else []


def _shopify(event: VendorEvent) -> list[str]:
    return [SHOPIFY_ORDER_TO_XERO] if event.event_type == "orders/paid" else []


def _hubspot(event: VendorEvent) -> list[str]:
    stage_change = event.event_type == "deal.propertyChange" and event.payload.get("propertyName") == "dealstage"
    return [HUBSPOT_DEAL_WON_TO_ASANA] if stage_change else []


def _asana(event: VendorEvent) -> list[str]:
    return [ASANA_TASK_RECONCILE] if event.event_type.startswith("task.") else []


ROUTES: dict[str, Callable[[VendorEvent], list[str]]] = {
    "xero": _xero,
    "shopify": _shopify,
    "hubspot": _hubspot,
    "asana": _asana,
}

# The record each workflow is about: (kind for the concurrency key, external id name).
SUBJECT: dict[str, tuple[str, str]] = {
    XERO_INVOICE_PAID: ("xero:invoice", "invoice_id"),
    SHOPIFY_ORDER_TO_XERO: ("shopify:order", "order_id"),
    HUBSPOT_DEAL_WON_TO_ASANA: ("hubspot:deal", "deal_id"),
    ASANA_TASK_RECONCILE: ("asana:task", "task_gid"),
}


def workflows_for(event: VendorEvent) -> list[str]:
    """The workflows this event starts; none when it does not name the record they act on."""
    route = ROUTES.get(event.source)
    workflows = route(event) if route else []
    return [w for w in workflows if event.external_ids.get(SUBJECT[w][1])]


def job_params(event: VendorEvent) -> dict[str, object]:
    """What the workflow needs: the record's ids and the event it came from (no raw body).

    e.g. ``{"shop": "acme.myshopify.com", "order_id": "4242", "gid": "gid://shopify/Order/4242",
    "event": {"source": "shopify", "type": "orders/paid", "occurred_at": …, "dedup_key": …,
    "org_id": …}}``; a HubSpot property change adds ``property_name`` and ``property_value``.
    """
    extra: dict[str, object] = {}
    if event.source == "hubspot" and "propertyName" in event.payload:
        extra = {"property_name": event.payload["propertyName"], "property_value": event.payload.get("propertyValue")}
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
    kind, id_name = SUBJECT.get(workflow, ("", ""))
    record = event.external_ids.get(id_name)
    return f"{kind}:{record}" if kind and record else None
