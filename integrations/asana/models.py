"""Asana resources as the client returns them (https://developers.asana.com/reference/rest-api-reference)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _gid(value: Any) -> Any:
    return value.get("gid") if isinstance(value, dict) else value


class Named(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gid: str
    name: str | None = None


class Task(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gid: str
    name: str = ""
    notes: str | None = None
    completed: bool = False
    completed_at: datetime | None = None
    due_on: date | None = None
    due_at: datetime | None = None
    assignee: Named | None = None
    projects: list[Named] = Field(default_factory=list)
    workspace: Named | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    permalink_url: str | None = None


class Project(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gid: str
    name: str = ""
    archived: bool = False
    workspace: Named | None = None
    modified_at: datetime | None = None
    permalink_url: str | None = None


class Webhook(BaseModel):
    """A webhook subscription; ``secret`` is the X-Hook-Secret (only known at creation)."""

    model_config = ConfigDict(extra="ignore")

    gid: str
    active: bool = False
    resource_gid: str = Field(alias="resource")
    target: str
    secret: str | None = None

    @field_validator("resource_gid", mode="before")
    @classmethod
    def _resource(cls, value: Any) -> Any:
        return _gid(value)
