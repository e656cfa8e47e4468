"""``xero-contacts-to-hubspot``: the scheduled sync of Xero contacts into HubSpot.

Xero's webhooks do not cover every contact change, so a schedule (every 15 minutes per
tenant by default) pages through the contacts modified since the stored cursor
(``If-Modified-Since``) and upserts them into HubSpot by email, in batches. The cursor —
the (UpdatedDateUTC, ContactID) of the last contact done — advances only after a page has
been upserted, each advance committed on its own, so a failed or killed run resumes after
the last finished page. Without a cursor the first run backfills every contact.

Xero answers If-Modified-Since to the second and inclusively, ordered by update time: the
contacts at or before the cursor that come back again are skipped, not re-written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from db import cursors
from integrations.hubspot.client import HubSpotClient
from integrations.xero.models import Contact
from sync.clients import JobClients, session_factory
from sync.context import JobContext
from sync.workflow_settings import XERO_CONTACTS_TO_HUBSPOT, XeroContactsToHubSpotOptions, load
from sync.workflows import register

CURSOR = ("xero", "contacts")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def read_cursor(value: str | None) -> tuple[dt.datetime, str] | None:
    if not value:
        return None
    data = json.loads(value)
    return dt.datetime.fromisoformat(data["updated_at"]), str(data["contact_id"])


def write_cursor(position: tuple[dt.datetime, str]) -> str:
    return json.dumps({"updated_at": position[0].isoformat(), "contact_id": position[1]})


def position(contact: Contact) -> tuple[dt.datetime, str]:
    return contact.updated_at or EPOCH, contact.contact_id


def hubspot_properties(contact: Contact) -> dict[str, str]:
    props = {"email": (contact.email_address or "").strip().lower(), "company": contact.name}
    if contact.first_name:
        props["firstname"] = contact.first_name
    if contact.last_name:
        props["lastname"] = contact.last_name
    return props


def chunks(items: Iterable[Contact], size: int) -> Iterator[list[Contact]]:
    page: list[Contact] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


@register(XERO_CONTACTS_TO_HUBSPOT)
def xero_contacts_to_hubspot(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Xero contacts changed since the cursor → HubSpot contacts (upsert by email)."""
    factory = session_factory(ctx)
    with factory() as session:
        setting = load(session, ctx.tenant_id, XERO_CONTACTS_TO_HUBSPOT, XeroContactsToHubSpotOptions)
        stored = None if params["full"] else cursors.get(session, ctx.tenant_id, *CURSOR)
    if not setting.enabled:
        ctx.step("The contacts sync is switched off for this tenant")
        return {"skipped": "disabled"}
    options = setting.options
    cursor = read_cursor(stored)
    since = cursor[0] if cursor else None
    ctx.step(
        f"Reading Xero contacts modified since {since.isoformat()}"
        if since
        else "First run: backfilling every Xero contact"
    )
    totals = {"pages": 0, "seen": 0, "created": 0, "updated": 0, "skipped_no_email": 0, "skipped_done": 0}
    with JobClients(ctx) as clients:
        xero, hubspot = clients.xero(), clients.hubspot()
        pages = chunks(xero.list_contacts(modified_since=since, page_size=options.page_size), options.page_size)
        for page in pages:
            totals["pages"] += 1
            totals["seen"] += len(page)
            todo = [c for c in page if cursor is None or position(c) > cursor]
            totals["skipped_done"] += len(page) - len(todo)
            with_email = [c for c in todo if c.email_address and "@" in c.email_address]
            totals["skipped_no_email"] += len(todo) - len(with_email)
            for batch in chunks(with_email, options.batch_size):
                created, updated = _upsert(ctx, hubspot, batch)
                totals["created"] += created
                totals["updated"] += updated
            if todo:
                cursor = max(position(c) for c in todo)
                with factory() as session, session.begin():
                    cursors.put(session, ctx.tenant_id, *CURSOR, write_cursor(cursor))
            ctx.step(
                f"Page {totals['pages']}: {len(with_email)} contacts upserted, "
                f"{len(todo) - len(with_email)} without email; cursor at "
                f"{cursor[0].isoformat() if cursor else 'the start'}"
            )
    return {**totals, "cursor": write_cursor(cursor) if cursor else None}


def _upsert(ctx: JobContext, hubspot: HubSpotClient, batch: list[Contact]) -> tuple[int, int]:
    for contact in batch:
        ctx.record("xero", "contact", contact.contact_id, "READ", label=contact.email_address)
    # Two Xero contacts may share an email: the later one (in update order) wins.
    by_email = {hubspot_properties(c)["email"]: hubspot_properties(c) for c in batch}
    results = hubspot.upsert_contacts_by_email(list(by_email.values()))
    created = 0
    for result in results:
        created += result.created
        action = "CREATE" if result.created else "UPDATE"
        ctx.record("hubspot", "contact", result.record.id, action, label=result.record.get("email"))
    return created, len(results) - created
