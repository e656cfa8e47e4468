"""The params models of the job types: what a job of each type must carry.

Event-triggered workflows take the vendor record's id (plus the ``event`` block the listener
adds); params the model does not know are ignored there, since vendors add fields. Jobs people
trigger by hand forbid unknown params, so a typo is an error, not a silent default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class InvoicePaidParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    invoice_id: str = Field(min_length=1, max_length=64)
    event: dict[str, Any] | None = None


class ContactsSyncParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = False


class ShopifyOrderParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order_id: str = Field(min_length=1, max_length=80, pattern=r"^(\d+|gid://shopify/Order/\d+)$")
    shop: str | None = None
    event: dict[str, Any] | None = None


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

    deal_id: str = Field(min_length=1, max_length=40, pattern=r"^\d+$")
    event: dict[str, Any] | None = None


class AsanaTaskParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_gid: str = Field(min_length=1, max_length=40, pattern=r"^\d+$")
    event: dict[str, Any] | None = None


class UpkeepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=200, description="Why it was queued (connected, options changed…)")


class AsanaPollParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
