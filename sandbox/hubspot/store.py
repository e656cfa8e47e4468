"""The emulated HubSpot portal's records: companies, contacts, deals and their associations.

:func:`reset` restores the seeded demo portal; the API (:mod:`sandbox.hubspot.api`) and the
webhook controls (:mod:`sandbox.hubspot.events`) read and change the records under
:data:`sandbox.control.LOCK`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sandbox import control, demo_accounts

PORTAL_ID = demo_accounts.HUBSPOT_PORTAL_ID
APP_ID = 3901
VERSIONS = ("2026-03", "2026-09")
TYPES = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
ALIASES = {**{t: t for t in TYPES}, **{v: k for k, v in TYPES.items()}}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
}
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate"}
# HUBSPOT_DEFINED default (unlabeled) association type ids, per direction.
ASSOC_TYPE_IDS = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}

objects: dict[str, dict[str, dict[str, Any]]] = {}
assocs: set[tuple[str, str, str, str]] = set()
_ids = itertools.count()
_event_ids = itertools.count()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def put(kind: str, props: dict[str, str], object_id: str | None = None) -> dict[str, Any]:
    object_id = object_id or str(next(_ids))
    stamp = now()
    properties: dict[str, str | None] = {"createdate": stamp, MODIFIED[kind]: stamp, "hs_object_id": object_id}
    properties.update(props)
    record = {"id": object_id, "properties": properties, "createdAt": stamp, "updatedAt": stamp, "archived": False}
    objects[kind][object_id] = record
    return record


def reset() -> None:
    """Restore the seeded demo portal: three companies, five contacts, four deals."""
    global _ids, _event_ids
    with control.LOCK:
        objects.clear()
        objects.update({kind: {} for kind in TYPES})
        assocs.clear()
        _ids = itertools.count(51001)
        _event_ids = itertools.count(100)
        companies = [
            ("Northwind Traders", "northwind.example"),
            ("Blue Fern Studio", "bluefern.example"),
            ("Kestrel Logistics", "kestrel.example"),
        ]
        for name, domain in companies:
            put("companies", {"name": name, "domain": domain})
        people = [
            ("alice@northwind.example", "Alice", "Nguyen", 0),
            ("bob@northwind.example", "Bob", "Okafor", 0),
            ("carla@bluefern.example", "Carla", "Meyer", 1),
            ("dev@kestrel.example", "Dev", "Patel", 2),
            ("erin@kestrel.example", "Erin", "Walsh", 2),
        ]
        company_ids = list(objects["companies"])
        for email, first, last, company in people:
            contact = put(
                "contacts",
                {
                    "email": email,
                    "firstname": first,
                    "lastname": last,
                    "lifecyclestage": "lead",
                    "company": companies[company][0],
                },
            )
            associate("contacts", contact["id"], "companies", company_ids[company])
        contact_ids = list(objects["contacts"])
        deals = [
            ("Northwind annual licence", "12000.00", "contractsent", 0, 0),
            ("Blue Fern website", "4800.00", "qualifiedtobuy", 2, 1),
            ("Kestrel fleet tracking", "23500.00", "presentationscheduled", 3, 2),
            ("Northwind onboarding", "1500.00", "closedwon", 1, 0),
        ]
        for name, amount, stage, contact_i, company_i in deals:
            deal = put(
                "deals",
                {
                    "dealname": name,
                    "amount": amount,
                    "dealstage": stage,
                    "pipeline": "default",
                    "closedate": "2026-12-31T00:00:00.000Z",
                },
            )
            associate("deals", deal["id"], "contacts", contact_ids[contact_i])
            associate("deals", deal["id"], "companies", company_ids[company_i])


def associate(from_kind: str, from_id: str, to_kind: str, to_id: str) -> None:
    assocs.add((from_kind, from_id, to_kind, to_id))
    assocs.add((to_kind, to_id, from_kind, from_id))  # HubSpot associations read both ways


def touch(kind: str, record: dict[str, Any], props: dict[str, Any]) -> None:
    stamp = now()
    record["properties"].update({k: (None if v is None else str(v)) for k, v in props.items()})
    record["properties"][MODIFIED[kind]] = stamp
    record["updatedAt"] = stamp


def next_event_id() -> int:
    """The next webhook eventId (restarts at 100 with every reset)."""
    return next(_event_ids)
