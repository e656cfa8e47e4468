"""Routing reads the catalogue: which workflows an event starts, their params and concurrency keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from integrations.events import VendorEvent
from jobtypes import ASANA_TASK_RECONCILE, HUBSPOT_DEAL_WON_TO_ASANA, SHOPIFY_ORDER_TO_XERO, XERO_INVOICE_PAID
from webhook import routing

WHEN = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
STAGE = {"propertyName": "dealstage"}


def event(source: str, event_type: str, ids: dict[str, str], payload: dict[str, Any] | None = None) -> VendorEvent:
    return VendorEvent(
        source=source, event_type=event_type, external_ids=ids, occurred_at=WHEN, dedup_key=f"{source}:k",
        org_id="org", payload=payload or {},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "event_type", "ids", "payload", "workflows"),
    [
        ("xero", "invoice.update", {"invoice_id": "i1"}, {}, [XERO_INVOICE_PAID]),
        ("xero", "contact.update", {"contact_id": "c1"}, {}, []),
        ("xero", "invoice.update", {}, {}, []),  # no record to act on
        ("shopify", "orders/paid", {"order_id": "42"}, {}, [SHOPIFY_ORDER_TO_XERO]),
        ("shopify", "orders/create", {"order_id": "42"}, {}, []),
        ("hubspot", "deal.propertyChange", {"deal_id": "7"}, STAGE, [HUBSPOT_DEAL_WON_TO_ASANA]),
        ("hubspot", "deal.propertyChange", {"deal_id": "7"}, {"propertyName": "amount"}, []),
        ("asana", "task.changed", {"task_gid": "9"}, {}, [ASANA_TASK_RECONCILE]),
        ("asana", "project.changed", {"project_gid": "9"}, {}, []),
    ],
)
def test_the_catalogues_triggers_choose_the_workflows(
    source: str, event_type: str, ids: dict[str, str], payload: dict[str, Any], workflows: list[str]
) -> None:
    assert routing.workflows_for(event(source, event_type, ids, payload)) == workflows


def test_a_hubspot_stage_change_carries_the_property_and_a_deal_concurrency_key() -> None:
    change = event("hubspot", "deal.propertyChange", {"deal_id": "7"},
                   {"propertyName": "dealstage", "propertyValue": "closedwon"})  # fmt: skip
    params = routing.job_params(change)
    assert params == routing.job_params(change, HUBSPOT_DEAL_WON_TO_ASANA)
    assert (params["deal_id"], params["property_name"], params["property_value"]) == ("7", "dealstage", "closedwon")
    assert params["event"] == {"source": "hubspot", "type": "deal.propertyChange", "occurred_at": WHEN.isoformat(),
                               "dedup_key": "hubspot:k", "org_id": "org"}  # fmt: skip
    assert routing.concurrency_key(HUBSPOT_DEAL_WON_TO_ASANA, change) == "hubspot:deal:7"


def test_other_events_carry_only_their_ids_and_the_subject_map_lists_the_triggered_workflows() -> None:
    paid = event("shopify", "orders/paid", {"order_id": "42", "shop": "acme.myshopify.com"})
    assert set(routing.job_params(paid)) == {"order_id", "shop", "event"}
    assert routing.concurrency_key(SHOPIFY_ORDER_TO_XERO, paid) == "shopify:order:42"
    assert routing.concurrency_key("no-such-workflow", paid) is None
    assert routing.SUBJECT == {
        XERO_INVOICE_PAID: ("xero:invoice", "invoice_id"),
        SHOPIFY_ORDER_TO_XERO: ("shopify:order", "order_id"),
        HUBSPOT_DEAL_WON_TO_ASANA: ("hubspot:deal", "deal_id"),
        ASANA_TASK_RECONCILE: ("asana:task", "task_gid"),
    }
