"""The normalized vendor event every ``<vendor>/webhooks.py`` parses deliveries into."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class VendorEvent(BaseModel):
    """One thing that happened at a vendor, in the same shape for all four.

    ``dedup_key`` identifies the event across redeliveries (per vendor: Shopify's event id, a
    composite of the event fields where the vendor supplies no unique id); ``org_id`` is the
    tenant's external organisation id (Xero tenantId, HubSpot
    portalId, Shopify shop domain, Asana workspace/webhook gid) used to find the connection.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    event_type: str
    external_ids: dict[str, str]
    occurred_at: dt.datetime
    dedup_key: str
    org_id: str | None
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        # Vendors send naive UTC timestamps (Xero's eventDateUtc has no offset).
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        try:
            return value.astimezone(dt.UTC)
        except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no UTC equivalent
            raise ValueError("timestamp out of range") from exc


def load_json(body: bytes) -> Any:
    """``json.loads`` whose only error is ``ValueError``: deep nesting raises RecursionError there."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply") from exc
