"""Words the pages share: counts with the right plural, vendor names, "—" for nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd

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


def when(value: Any, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp as text in ``zone`` (UTC when None; naive values are UTC); nothing reads "—"."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return NOTHING
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return str(stamp.tz_convert(zone or "UTC").strftime(fmt))


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """A table for people: timestamps as UTC text, and no cell printing None or NaN ("—" instead)."""
    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = [when(v) for v in out[column]]
        elif out[column].isna().any():
            out[column] = [NOTHING if shown(v) is NOTHING or v is pd.NaT else v for v in out[column]]
    return out


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-.!|~$"})


def plain(value: str) -> str:
    """Text shown through a markdown element (captions) as typed: a cron's ``*/15 * * * *`` or a
    vendor's organisation name must not turn into italics or a link."""
    return value.translate(_MARKDOWN)
