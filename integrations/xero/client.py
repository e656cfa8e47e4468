"""The Xero Accounting API client: invoices, contacts, tax rates and the tenant connections.

Every accounting call sends ``xero-tenant-id`` and ``Accept: application/json`` (Xero answers
XML otherwise). Lists page with ``page``/``pageSize`` and can be incremental with
``If-Modified-Since``; creates carry an ``Idempotency-Key`` so the shared retry policy may
repeat them safely. Only Xero's differences from :class:`~integrations.http.ApiClient` live
here: its rate-limit headers and its error bodies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import httpx

from integrations.http import (
    ApiClient,
    AuthError,
    NotFound,
    PermanentError,
    RateLimited,
    error_message,
    parse_retry_after,
)
from integrations.xero.models import Contact, Invoice, NewContact, NewInvoice, TaxRate, XeroTenant

API = "/api.xro/2.0"
PAGE_SIZE = 100


def where_equals(field: str, value: str) -> str:
    """A Xero ``where`` clause ``Field=="value"`` with the value's quotes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}=="{escaped}"'


class XeroClient(ApiClient):
    """Xero for one organisation (``tenant_id``); ``base_url`` is ``settings.xero_api_url``."""

    system = "xero"
    default_headers: ClassVar[dict[str, str]] = {"Accept": "application/json"}

    def __init__(self, base_url: str, auth: httpx.Auth | None = None, *, tenant_id: str | None = None, **kwargs: Any):
        super().__init__(base_url, auth, **kwargs)
        self.tenant_id = tenant_id

    # -- Xero's differences ------------------------------------------------------------------
    def retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        if response.status_code == 429 and response.headers.get("X-Rate-Limit-Problem", "").lower() == "day":
            return None  # the daily budget resets in hours: give the job back instead of waiting
        return super().retry_delay(response, attempt)

    def raise_for_response(self, response: httpx.Response, path_template: str) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"xero {response.request.method} {path_template}"
        if status == 429:
            problem = response.headers.get("X-Rate-Limit-Problem", "unknown")
            retry_after = parse_retry_after(response.headers.get("Retry-After")) or 60.0
            raise RateLimited(f"{where}: Xero {problem} rate limit hit", system="xero", retry_after=retry_after)
        if status == 400:
            raise PermanentError(f"{where}: {_validation_message(response)}", system="xero", status_code=400)
        if status == 403:
            raise AuthError(
                f"{where}: this Xero organisation is not connected to the token (403); reconnect Xero",
                system="xero",
                status_code=403,
            )
        if status == 404:
            record = response.request.url.path.rsplit("/", 1)[-1]
            raise NotFound(
                f"Xero has no {path_template.split('/')[-2][:-1].lower()} {record}", system="xero", record=record
            )
        super().raise_for_response(response, path_template)

    # -- plumbing -----------------------------------------------------------------------------
    def _accounting(self, method: str, path_template: str, **kwargs: Any) -> dict[str, Any]:
        if not self.tenant_id:
            raise PermanentError("XeroClient needs the connection's tenant_id", system="xero")
        headers = {"xero-tenant-id": self.tenant_id, **kwargs.pop("headers", {})}
        response = self.request(method, API + path_template, headers=headers, **kwargs)
        body: dict[str, Any] = response.json()
        return body

    def _pages(
        self, path_template: str, key: str, params: dict[str, Any], modified_since: dt.datetime | None, page_size: int
    ) -> Iterator[dict[str, Any]]:
        headers = {"If-Modified-Since": _http_time(modified_since)} if modified_since else {}
        page = 1
        while True:
            body = self._accounting(
                "GET", path_template, params={**params, "page": page, "pageSize": page_size}, headers=headers
            )
            items: list[dict[str, Any]] = body.get(key) or []
            yield from items
            pagination = body.get("pagination") or {}
            if page >= int(pagination.get("pageCount", page)) or len(items) < page_size:
                return
            page += 1

    # -- invoices -----------------------------------------------------------------------------
    def get_invoice(self, invoice_id: str) -> Invoice:
        """One invoice by its InvoiceID (a UUID, as the spec requires)."""
        body = self._accounting("GET", "/Invoices/{invoice_id}", path_params={"invoice_id": invoice_id})
        return Invoice.model_validate(body["Invoices"][0])

    def get_invoice_by_number(self, invoice_number: str) -> Invoice:
        """One invoice by its InvoiceNumber (e.g. ``INV-0042``); :class:`NotFound` when absent."""
        body = self._accounting("GET", "/Invoices", params={"InvoiceNumbers": invoice_number})
        for item in body.get("Invoices") or []:
            if item.get("InvoiceNumber") == invoice_number:
                return Invoice.model_validate(item)
        raise NotFound(f"Xero has no invoice {invoice_number}", system="xero", record=invoice_number)

    def list_invoices(
        self,
        *,
        modified_since: dt.datetime | None = None,
        statuses: Sequence[str] = (),
        contact_ids: Sequence[str] = (),
        where: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Invoice]:
        """Every matching invoice, page by page (oldest change first in the sandbox)."""
        params: dict[str, Any] = {}
        if statuses:
            params["Statuses"] = ",".join(statuses)
        if contact_ids:
            params["ContactIDs"] = ",".join(contact_ids)
        if where:
            params["where"] = where
        for item in self._pages("/Invoices", "Invoices", params, modified_since, page_size):
            yield Invoice.model_validate(item)

    def create_invoice(self, invoice: NewInvoice, *, idempotency_key: str) -> Invoice:
        """Create one invoice; the same ``idempotency_key`` never creates a second one."""
        body = self._accounting(
            "PUT", "/Invoices", json={"Invoices": [invoice.to_xero()]}, headers={"Idempotency-Key": idempotency_key}
        )
        return Invoice.model_validate(_single(body, "Invoices"))

    # -- contacts -----------------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact:
        body = self._accounting("GET", "/Contacts/{contact_id}", path_params={"contact_id": contact_id})
        return Contact.model_validate(body["Contacts"][0])

    def list_contacts(
        self, *, modified_since: dt.datetime | None = None, where: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Contact]:
        # Oldest change first, so a sync's cursor (last UpdatedDateUTC) only ever moves forward.
        params = {"order": "UpdatedDateUTC ASC", **({"where": where} if where else {})}
        for item in self._pages("/Contacts", "Contacts", params, modified_since, page_size):
            yield Contact.model_validate(item)

    def find_contacts_by_email(self, email: str) -> list[Contact]:
        """Contacts whose EmailAddress equals ``email`` (Xero compares case-insensitively)."""
        return list(self.list_contacts(where=where_equals("EmailAddress", email)))

    def create_contact(self, contact: NewContact, *, idempotency_key: str) -> Contact:
        body = self._accounting(
            "PUT", "/Contacts", json={"Contacts": [contact.to_xero()]}, headers={"Idempotency-Key": idempotency_key}
        )
        return Contact.model_validate(_single(body, "Contacts"))

    # -- settings -----------------------------------------------------------------------------
    def tax_rates(self) -> list[TaxRate]:
        """The organisation's tax rates (``GET /TaxRates``; scope accounting.settings(.read))."""
        body = self._accounting("GET", "/TaxRates")
        return [TaxRate.model_validate(r) for r in body.get("TaxRates") or []]

    # -- identity -----------------------------------------------------------------------------
    def connections(self) -> list[XeroTenant]:
        """The organisations the token may act for (no tenant header on this call)."""
        return [XeroTenant.model_validate(c) for c in self.request("GET", "/Connections").json()]


def _single(body: dict[str, Any], key: str) -> dict[str, Any]:
    item: dict[str, Any] = (body.get(key) or [{}])[0]
    if item.get("HasErrors") or item.get("HasValidationErrors"):
        messages = "; ".join(e.get("Message", "") for e in item.get("ValidationErrors") or [])
        raise PermanentError(f"Xero refused the {key[:-1].lower()}: {messages}", system="xero", status_code=200)
    return item


def _validation_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return error_message(response)
    messages = [
        error.get("Message", "")
        for element in body.get("Elements") or []
        for error in element.get("ValidationErrors") or []
    ]
    return "; ".join(m for m in messages if m) or str(body.get("Message") or error_message(response))


def _http_time(value: dt.datetime) -> str:
    """``If-Modified-Since`` as ISO 8601 with offset (the form Xero's spec shows)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")
