"""Contract: what the HubSpot client sends and the sandbox answers, checked against HubSpot's
own OpenAPI documents (contacts/deals 2026-09).

HubSpot's spec files may not be redistributed, so they are read from ../shared/vendor/hubspot/
beside the work tree; the tests skip when it is absent (it is present in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_check import check_exchanges, component_schema
from openapi_core import OpenAPI
from sandbox_live import Bearer, RecordingTransport, live_sandbox, reset

from integrations.http import NotFound, RateLimited
from integrations.hubspot.client import ContactExists, HubSpotClient
from sandbox.hubspot import store as sandbox

SPECS = Path(__file__).resolve().parents[3] / "shared" / "vendor" / "hubspot"
SERVER = "https://api.hubapi.com"

pytestmark = [
    pytest.mark.skipif(
        not (SPECS / "contacts.2026-09.json").exists(),
        reason="HubSpot's OpenAPI files (not redistributable) are not in ../shared/vendor/hubspot/",
    ),
    pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning"),  # HubSpot's private_apps scheme
]


@pytest.fixture(scope="module")
def specs() -> dict[str, OpenAPI]:
    return {kind: OpenAPI.from_file_path(str(SPECS / f"{kind}.2026-09.json")) for kind in ("contacts", "deals")}


@pytest.fixture(scope="module")
def error_schema() -> dict[str, Any]:
    return component_schema(str(SPECS / "contacts.2026-09.json"), "Error")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_sandbox(tmp_path_factory.mktemp("hubspot-contract")) as (url, _receiver, _settings):
        yield url


def exercise(base: str) -> RecordingTransport:
    """Every call the client makes, including its error paths, through a recording transport."""
    reset(base)
    transport = RecordingTransport()
    with HubSpotClient(base + "/hubspot", Bearer("pat-na1-contract"), transport=transport, sleep=lambda s: None) as api:
        api.find_contact_by_email("alice@northwind.example")
        api.find_contact_by_email("nobody@example.com")
        created = api.create_contact({"email": "contract@example.com", "firstname": "Con"})
        with pytest.raises(ContactExists):
            api.create_contact({"email": "contract@example.com"})
        api.update_contact(created.id, {"lifecyclestage": "customer"})
        api.update_contact("contract@example.com", {"phone": "1"}, id_property="email")
        api.upsert_contacts_by_email(
            [{"email": "bob@northwind.example", "lastname": "O."}, {"email": "up@example.com"}]
        )
        deal_id = next(iter(sandbox.objects["deals"]))
        api.get_deal(deal_id)
        api.update_deal_stage(deal_id, "closedwon")
        with pytest.raises(NotFound):
            api.get_deal("424242")
    return transport


def _by_object(transport: RecordingTransport, marker: str) -> list[tuple[httpx.Request, httpx.Response]]:
    return [(q, r) for q, r in transport.exchanges if marker in q.url.path]


def test_every_contact_request_and_response_matches_the_contacts_spec(
    base: str, specs: dict[str, OpenAPI], error_schema: dict[str, Any]
) -> None:
    exchanges = _by_object(exercise(base), "/contacts")
    assert (
        check_exchanges(specs["contacts"], exchanges, strip_prefix="/hubspot", server=SERVER, error_schema=error_schema)
        == 7
    )


def test_every_deal_request_and_response_matches_the_deals_spec(
    base: str, specs: dict[str, OpenAPI], error_schema: dict[str, Any]
) -> None:
    exchanges = [(q, r) for q, r in _by_object(exercise(base), "/deals") if "/associations/" not in q.url.path]
    assert (
        check_exchanges(specs["deals"], exchanges, strip_prefix="/hubspot", server=SERVER, error_schema=error_schema)
        == 3
    )


def test_the_sandbox_429_answer_matches_the_error_schema(
    base: str, specs: dict[str, OpenAPI], error_schema: dict[str, Any]
) -> None:
    reset(base)
    httpx.post(base + "/_sandbox/limits", json={"vendor": "hubspot", "budget": "burst", "limit": 0})
    transport = RecordingTransport()
    api = HubSpotClient(base + "/hubspot", Bearer("pat-na1-limited"), transport=transport, max_retries=0)
    with api, pytest.raises(RateLimited):
        api.find_contact_by_email("alice@northwind.example")
    [(request, response)] = transport.exchanges
    assert response.status_code == 429
    check_exchanges(
        specs["contacts"], [(request, response)], strip_prefix="/hubspot", server=SERVER, error_schema=error_schema
    )


def test_a_request_the_spec_forbids_is_caught(
    base: str, specs: dict[str, OpenAPI], error_schema: dict[str, Any]
) -> None:
    """The checker itself works: a search body without the required fields fails validation."""
    reset(base)
    transport = RecordingTransport()
    with httpx.Client(transport=transport) as raw:
        raw.post(
            base + "/hubspot/crm/objects/2026-09/contacts/search",
            json={"filterGroups": []},
            headers={"Authorization": "Bearer pat-na1-x"},
        )
    with pytest.raises(Exception, match=r"(?i)valid|required"):
        check_exchanges(
            specs["contacts"], transport.exchanges, strip_prefix="/hubspot", server=SERVER, error_schema=error_schema
        )
