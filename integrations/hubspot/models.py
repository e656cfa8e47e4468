"""What the HubSpot client returns: CRM objects as pydantic models (HubSpot's CRM objects API, dated versions).

HubSpot property values are all strings (or null); typed accessors convert the few we use.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class CrmObject(BaseModel):
    """A ``SimplePublicObject`` (with associations flattened to ids per object type)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    properties: dict[str, str | None] = Field(default_factory=dict)
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    archived: bool = False
    associations: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("associations", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        # {"companies": {"results": [{"id": "1", "type": "deal_to_company"}]}} -> {"companies": ["1"]}
        if not isinstance(value, dict):
            return value
        flat: dict[str, list[str]] = {}
        for kind, collection in value.items():
            results = collection.get("results", []) if isinstance(collection, dict) else collection
            ids = [str(item["id"]) if isinstance(item, dict) else str(item) for item in results]
            flat[kind] = list(dict.fromkeys(ids))  # labeled + unlabeled types repeat an id
        return flat

    def get(self, name: str) -> str | None:
        return self.properties.get(name)


class Contact(CrmObject):
    @property
    def email(self) -> str | None:
        return self.get("email")

    @property
    def company_ids(self) -> list[str]:
        return self.associations.get("companies", [])


class Company(CrmObject):
    @property
    def name(self) -> str | None:
        return self.get("name")


class Deal(CrmObject):
    @property
    def stage(self) -> str | None:
        return self.get("dealstage")

    @property
    def amount(self) -> Decimal | None:
        try:
            return Decimal(self.get("amount") or "")
        except InvalidOperation:
            return None

    @property
    def contact_ids(self) -> list[str]:
        return self.associations.get("contacts", [])

    @property
    def company_ids(self) -> list[str]:
        return self.associations.get("companies", [])


class SearchPage(BaseModel):
    """One page of a CRM search; ``next_after`` is the cursor of the next page, if any."""

    total: int
    results: list[CrmObject]
    next_after: str | None = None


class UpsertResult(BaseModel):
    """One row of a batch upsert: the record and whether HubSpot created it."""

    record: Contact
    created: bool
