"""Deep links from an external record to the vendor's own UI, by the vendor's record.

``org`` is the tenant's external organisation id for that system (HubSpot portal id,
Shopify shop domain, Xero tenant id); a stored ``url`` on the record always wins. The
signature is the one :mod:`db.queries` takes as its ``link`` argument.
"""

from __future__ import annotations

from urllib.parse import quote

from integrations.registry import UnknownVendor, vendor


def record_url(
    system: str, record_type: str, record_id: str, org: str | None = None, stored: str | None = None
) -> str | None:
    """The vendor UI's page for this record, or None when the system has no such page."""
    if stored:
        return stored
    try:
        record = vendor(system)
    except UnknownVendor:
        return None
    return record.record_link(record_type.lower().rstrip("s"), quote(str(record_id), safe=""), org)
