"""Deep links from an external record to the vendor's own UI.

``org`` is the tenant's external organisation id for that system (HubSpot portal id,
Shopify shop domain, Xero tenant id); a stored ``url`` on the record always wins.
"""

from __future__ import annotations

from urllib.parse import quote

XERO_RECORD_PATHS = {
    "invoice": "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={id}",
    "bill": "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID={id}",
    "contact": "https://go.xero.com/Contacts/View/{id}",
    "payment": "https://go.xero.com/Bank/ViewTransaction.aspx?paymentID={id}",
}
# HubSpot object type ids in record URLs: 0-1 contact, 0-2 company, 0-3 deal, 0-5 ticket.
HUBSPOT_OBJECT_TYPES = {"contact": "0-1", "company": "0-2", "deal": "0-3", "ticket": "0-5"}


def record_url(
    system: str, record_type: str, record_id: str, org: str | None = None, stored: str | None = None
) -> str | None:
    """The vendor UI's page for this record, or None when the system has no such page."""
    if stored:
        return stored
    kind = record_type.lower().rstrip("s")
    rid = quote(str(record_id), safe="")
    if system == "xero":
        template = XERO_RECORD_PATHS.get(kind)
        return template.format(id=rid) if template else None
    if system == "hubspot":
        object_type = HUBSPOT_OBJECT_TYPES.get(kind)
        if object_type is None or not org:
            return None
        return f"https://app.hubspot.com/contacts/{quote(org, safe='')}/record/{object_type}/{rid}"
    if system == "shopify":
        if not org:
            return None
        shop = org.removesuffix("/")
        section = {"order": "orders", "customer": "customers", "product": "products"}.get(kind)
        return f"https://{shop}/admin/{section}/{rid}" if section else None
    if system == "asana":
        if kind == "task":
            return f"https://app.asana.com/0/0/{rid}/f"
        if kind == "project":
            return f"https://app.asana.com/0/{rid}/list"
        return None
    return None
