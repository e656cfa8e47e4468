"""HubSpot CRM client on the dated API paths, version configurable.

Versions: https://developers.hubspot.com/docs/api-reference/latest/overview

Contacts (search by email, create, update, batch upsert by email), deals (read with their
company and contact associations, move stage) and default associations. Rate limits: 429
with ``Retry-After`` when present, else the ``X-HubSpot-RateLimit-*`` window (https://developers.hubspot.com/docs/api/usage-details).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from integrations.http import ApiClient, PermanentError, backoff, parse_retry_after
from integrations.hubspot.models import Contact, CrmObject, Deal, SearchPage, UpsertResult

DEFAULT_VERSION = "2026-09"
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "phone", "company", "lifecyclestage", "hs_object_id")
DEAL_PROPERTIES = ("dealname", "dealstage", "amount", "pipeline", "closedate", "hs_object_id")


class ContactExists(PermanentError):
    """Creating a contact failed because one with that email exists (HubSpot answers 409)."""

    def __init__(self, message: str, *, system: str, existing_id: str | None) -> None:
        super().__init__(message, system=system, status_code=409)
        self.existing_id = existing_id


class HubSpotClient(ApiClient):
    """``base_url`` is the API root (``https://api.hubapi.com`` or the sandbox's /hubspot)."""

    system: ClassVar[str] = "hubspot"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(
        self, base_url: str, auth: httpx.Auth | None = None, *, version: str = DEFAULT_VERSION, **kwargs: Any
    ) -> None:
        super().__init__(base_url, auth, **kwargs)
        self.version = version

    def _objects(self, suffix: str = "") -> str:
        # The version is a fixed segment, so it stays part of the path template (a metric label).
        return f"/crm/objects/{self.version}/{{object_type}}{suffix}"

    # -- contacts ---------------------------------------------------------------------------
    def search(
        self,
        object_type: str,
        filter_groups: Sequence[Mapping[str, Any]],
        *,
        properties: Iterable[str],
        limit: int = 100,
        after: str | None = None,
        sorts: Sequence[str] = (),
    ) -> SearchPage:
        body = {
            "filterGroups": list(filter_groups),
            "properties": list(properties),
            "limit": limit,
            "after": after or "0",
            "sorts": list(sorts),
        }
        data = self._json("POST", self._objects("/search"), {"object_type": object_type}, json=body)
        return SearchPage(
            total=data["total"],
            results=[CrmObject.model_validate(r) for r in data["results"]],
            next_after=(data.get("paging") or {}).get("next", {}).get("after"),
        )

    def find_contact_by_email(self, email: str, properties: Iterable[str] = CONTACT_PROPERTIES) -> Contact | None:
        """The contact whose ``email`` equals ``email`` (HubSpot compares case-insensitively)."""
        flt = {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
        page = self.search("contacts", [flt], properties=properties, limit=1)
        return Contact.model_validate(page.results[0].model_dump(by_alias=True)) if page.results else None

    def create_contact(self, properties: Mapping[str, str], associations: Sequence[Mapping[str, Any]] = ()) -> Contact:
        """Create a contact; raises :class:`ContactExists` when the email is taken."""
        body = {"properties": dict(properties), "associations": list(associations)}
        return Contact.model_validate(self._json("POST", self._objects(), {"object_type": "contacts"}, json=body))

    def update_contact(
        self, contact_id: str, properties: Mapping[str, str], *, id_property: str | None = None
    ) -> Contact:
        params = {"idProperty": id_property} if id_property else None
        data = self._json(
            "PATCH",
            self._objects("/{object_id}"),
            {"object_type": "contacts", "object_id": contact_id},
            json={"properties": dict(properties)},
            params=params,
        )
        return Contact.model_validate(data)

    def upsert_contacts_by_email(self, contacts: Sequence[Mapping[str, str]]) -> list[UpsertResult]:
        """Create or update contacts keyed by their ``email`` property, 100 per call."""
        results: list[UpsertResult] = []
        for start in range(0, len(contacts), 100):
            inputs = [
                {"id": c["email"], "idProperty": "email", "properties": dict(c)} for c in contacts[start : start + 100]
            ]
            data = self._json(
                "POST", self._objects("/batch/upsert"), {"object_type": "contacts"}, json={"inputs": inputs}
            )
            results += [
                UpsertResult(record=Contact.model_validate(r), created=bool(r.get("new"))) for r in data["results"]
            ]
        return results

    # -- deals ------------------------------------------------------------------------------
    def get_deal(
        self,
        deal_id: str,
        properties: Iterable[str] = DEAL_PROPERTIES,
        associations: Iterable[str] = ("companies", "contacts"),
    ) -> Deal:
        params = {"properties": ",".join(properties), "associations": ",".join(associations)}
        data = self._json(
            "GET", self._objects("/{object_id}"), {"object_type": "deals", "object_id": deal_id}, params=params
        )
        return Deal.model_validate(data)

    def update_deal_stage(self, deal_id: str, stage: str) -> Deal:
        data = self._json(
            "PATCH",
            self._objects("/{object_id}"),
            {"object_type": "deals", "object_id": deal_id},
            json={"properties": {"dealstage": stage}},
        )
        return Deal.model_validate(data)

    # -- associations -----------------------------------------------------------------------
    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Create the default (unlabeled) association, e.g. contact → company."""
        path = self._objects("/{object_id}/associations/default/{to_type}/{to_id}")
        self.request(
            "PUT",
            path,
            path_params={"object_type": from_type, "object_id": from_id, "to_type": to_type, "to_id": to_id},
        )

    # -- policy hooks -----------------------------------------------------------------------
    def is_retry_safe(self, request: httpx.Request) -> bool:
        # Search only reads; an upsert keyed by email converges to the same record when repeated.
        path = request.url.path
        return super().is_retry_safe(request) or path.endswith(("/search", "/batch/upsert"))

    def retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        if response.status_code == 429 and response.headers.get("X-HubSpot-RateLimit-Remaining") == "0":
            interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
            if interval and interval.isdigit():
                return int(interval) / 1000
        return backoff(attempt)

    def raise_for_response(self, response: httpx.Response, path_template: str) -> None:
        if response.status_code == 409 and path_template.endswith("{object_type}"):
            message = _hubspot_message(response)
            existing = message.rsplit("Existing ID:", 1)[1].strip() if "Existing ID:" in message else None
            raise ContactExists(f"hubspot: {message}", system=self.system, existing_id=existing)
        if response.status_code == 409:
            raise PermanentError(f"hubspot: {_hubspot_message(response)}", system=self.system, status_code=409)
        super().raise_for_response(response, path_template)

    def _json(self, method: str, path: str, path_params: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.request(method, path, path_params=path_params, **kwargs).json()
        return data


def _hubspot_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:300]
    except ValueError:
        return response.reason_phrase
