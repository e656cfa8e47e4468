"""The params models of the job types: what a job of each type must carry.

Event-triggered workflows take the vendor record's id (plus the ``event`` block the listener
adds); params the model does not know are ignored there, since vendors add fields. Jobs people
trigger by hand forbid unknown params, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIGITS = re.compile(r"^\d{1,40}$")
_SHOPIFY_ORDER = re.compile(r"^(\d{1,40}|gid://shopify/Order/\d{1,40})$")


def _shaped(value: str, pattern: re.Pattern[str], kind: str, what: str) -> str:
    """``value`` when it matches ``pattern``; else an error that says what was expected, in words."""
    if not pattern.match(value):
        raise PydanticCustomError(kind, "must be {what}, not {shown}", {"what": what, "shown": repr(value)})
    return value


class InvoicePaidParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Xero's InvoiceID (a UUID): the API's GET /Invoices/{InvoiceID} takes nothing else, so an
    # invoice number or a bare number is refused here rather than by Xero once the job runs.
    invoice_id: str = Field(min_length=1, max_length=64)
    event: dict[str, Any] | None = None

    @field_validator("invoice_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return _shaped(
            value.strip(),
            _UUID,
            "xero_invoice_id",
            "the Xero InvoiceID (a UUID such as 8c3e2a1f-…; not the invoice number)",
        )


class ContactsSyncParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = False


class ShopifyOrderParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order_id: str = Field(min_length=1, max_length=80)
    shop: str | None = None
    event: dict[str, Any] | None = None

    @field_validator("order_id")
    @classmethod
    def _order(cls, value: str) -> str:
        return _shaped(value.strip(), _SHOPIFY_ORDER, "shopify_order_id", "a Shopify order id (digits, not the #name)")


class NoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep_ms: int = Field(0, ge=0, le=3_600_000)
    fail_times: int = Field(0, ge=0)
    permanent: bool = False
    note: bool = False
    poll_times: int = Field(0, ge=0)
    poll_after_s: float = Field(0.1, ge=0)


class DealWonParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deal_id: str = Field(min_length=1, max_length=40)
    event: dict[str, Any] | None = None

    @field_validator("deal_id")
    @classmethod
    def _deal(cls, value: str) -> str:
        return _shaped(value.strip(), _DIGITS, "hubspot_deal_id", "a HubSpot deal id (digits only)")


class AsanaTaskParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_gid: str = Field(min_length=1, max_length=40)
    event: dict[str, Any] | None = None

    @field_validator("task_gid")
    @classmethod
    def _task(cls, value: str) -> str:
        return _shaped(value.strip(), _DIGITS, "asana_task_gid", "an Asana task gid (digits only)")


class UpkeepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=200, description="Why it was queued (connected, options changed…)")


class AsanaPollParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
