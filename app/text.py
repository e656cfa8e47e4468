"""Words the pages share: counts with the right plural, vendor names, "—" for nothing."""

from __future__ import annotations

from typing import Any

from integrations.registry import UnknownVendor, vendor

NOTHING = "—"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 job``, ``2 jobs``, ``1,204 jobs``."""
    return f"{count:,} {noun if count == 1 else (plural_noun or noun + 's')}"


def vendor_name(system: str | None) -> str:
    """The vendor's own spelling from its record ("HubSpot", not "Hubspot"); other systems as given."""
    if not system:
        return NOTHING
    try:
        return vendor(system).display_name
    except UnknownVendor:
        return system


def shown(value: Any) -> Any:
    """A table cell: ``None`` (and NaN) read as "—", everything else as it is."""
    if value is None or (isinstance(value, float) and value != value):
        return NOTHING
    return value
