"""The Xero client against the Xero sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from flask import Response
from sandbox_live import Receiver, live_sandbox, reset
from xero_live import client, control, sandbox_token

from integrations.http import AuthError, NotFound, PermanentError, RateLimited
from integrations.xero import webhooks
from integrations.xero.models import NewContact, NewInvoice, NewLineItem
from sandbox.xero.data import DEMO_TENANT_ID
from settings import Settings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Receiver, Settings]]:
    with live_sandbox(tmp_path_factory.mktemp("xero")) as env:
        yield env


@pytest.fixture
def base(live: tuple[str, Receiver, Settings]) -> str:
    reset(live[0])
    live[1].received.clear()
    return live[0]


@pytest.fixture
def token(base: str) -> str:
    return sandbox_token(base)


def test_it_reads_an_invoice_by_id_and_by_number(base: str, token: str) -> None:
    with client(base, token) as xero:
        by_number = xero.get_invoice_by_number("INV-0042")
        by_id = xero.get_invoice(by_number.invoice_id)
    assert by_id == by_number
    assert by_number.status == "AUTHORISED" and by_number.contact.name == "Blue Ridge Outfitters"
    assert by_number.total == Decimal("1702.80") and by_number.amount_due == by_number.total
    assert by_number.date is not None and by_number.date.tzinfo is not None


def test_an_unknown_invoice_is_a_not_found_error_naming_it(base: str, token: str) -> None:
    with client(base, token) as xero:
        with pytest.raises(NotFound, match="no invoice INV-9999") as info:
            xero.get_invoice_by_number("INV-9999")
        assert info.value.record == "INV-9999"
        missing = "00000000-0000-0000-0000-000000000000"
        with pytest.raises(NotFound, match=f"no invoice {missing}"):
            xero.get_invoice(missing)


def test_listing_pages_through_every_invoice(base: str, token: str) -> None:
    calls: list[tuple[str, int | None]] = []
    with client(base, token, recorder=lambda s, m, p, st, ms: calls.append((p, st))) as xero:
        invoices = list(xero.list_invoices(page_size=3))
    assert len(invoices) == 8 and len({i.invoice_id for i in invoices}) == 8
    assert calls == [("/api.xro/2.0/Invoices", 200)] * 3  # 3 + 3 + 2, labelled by template


def test_if_modified_since_returns_only_later_changes(base: str, token: str) -> None:
    with client(base, token) as xero:
        everything = list(xero.list_invoices())
        newest = max(i.updated_at for i in everything if i.updated_at)
        recent = list(xero.list_invoices(modified_since=newest))
        paid = list(xero.list_invoices(statuses=["PAID"]))
    assert [i.updated_at for i in recent] == [newest]
    assert {i.invoice_number for i in paid} == {"INV-0038", "INV-0039"}


def test_creating_an_invoice_twice_with_one_idempotency_key_writes_once(base: str, token: str) -> None:
    with client(base, token) as xero:
        contact = xero.find_contacts_by_email("ava@trailheadcafe.example")[0]
        new = NewInvoice(
            contact_id=contact.contact_id,
            line_items=[NewLineItem(description="Espresso beans", quantity=Decimal(3), unit_amount=Decimal("21.50"))],
            reference="SHOP-1001",
            status="AUTHORISED",
            date=dt.date(2026, 11, 26),
        )
        first = xero.create_invoice(new, idempotency_key="shopify:order:1001")
        second = xero.create_invoice(new, idempotency_key="shopify:order:1001")
    assert first.invoice_id == second.invoice_id and first.total == Decimal("70.95")
    writes = httpx.get(base + "/_sandbox/writes", trust_env=False).json()
    assert writes == {"xero": {"shopify:order:1001": 1}}


def test_a_write_whose_answer_was_lost_is_retried_without_a_duplicate(base: str, token: str) -> None:
    control(base, "faults", vendor="xero", mode="drop", count=1, path_contains="/Contacts")
    with client(base, token) as xero:
        contact = xero.create_contact(NewContact(name="Ridge Runners"), idempotency_key="hubspot:contact:77")
        assert xero.find_contacts_by_email("nobody@example.com") == []
    assert contact.name == "Ridge Runners"
    writes = httpx.get(base + "/_sandbox/writes", trust_env=False).json()
    assert writes == {"xero": {"hubspot:contact:77": 1}}


def test_xero_validation_errors_are_permanent_with_xeros_message(base: str, token: str) -> None:
    with client(base, token) as xero, pytest.raises(PermanentError, match="already assigned"):
        xero.create_contact(NewContact(name="Trailhead Cafe"), idempotency_key="dup-1")


def test_contacts_are_found_by_email_case_insensitively(base: str, token: str) -> None:
    with client(base, token) as xero:
        (found,) = xero.find_contacts_by_email("NOAH.PATEL@blueridge.example")
        assert xero.get_contact(found.contact_id) == found
        assert len(list(xero.list_contacts(page_size=4))) == 6


def test_the_minute_limit_answers_429_with_xeros_headers_and_the_client_backs_off(base: str, token: str) -> None:
    control(base, "limits", vendor="xero", budget="minute", limit=1)
    sleeps: list[float] = []
    with client(base, token, sleep=sleeps.append, max_retries=2) as xero:
        xero.get_invoice_by_number("INV-0042")
        with pytest.raises(RateLimited) as info:
            xero.get_invoice_by_number("INV-0042")
    assert 0 < info.value.retry_after <= 60 and len(sleeps) == 2
    raw = httpx.get(
        base + "/xero/api.xro/2.0/Invoices",
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": DEMO_TENANT_ID, "Accept": "application/json"},
        trust_env=False,
    )
    assert raw.status_code == 429 and raw.headers["X-Rate-Limit-Problem"] == "minute"
    assert raw.headers["X-MinLimit-Remaining"] == "0" and int(raw.headers["Retry-After"]) >= 1


def test_the_day_limit_is_not_waited_out_inside_a_call(base: str, token: str) -> None:
    control(base, "limits", vendor="xero", budget="day", limit=0)
    sleeps: list[float] = []
    with client(base, token, sleep=sleeps.append) as xero, pytest.raises(RateLimited, match="day"):
        xero.get_invoice_by_number("INV-0042")
    assert sleeps == []


def test_a_transient_503_is_retried(base: str, token: str) -> None:
    control(base, "faults", vendor="xero", mode="503", count=2)
    with client(base, token) as xero:
        assert xero.get_invoice_by_number("INV-0042").invoice_number == "INV-0042"


def test_a_wrong_tenant_is_an_auth_error(base: str, token: str) -> None:
    with client(base, token) as xero:
        xero.tenant_id = "00000000-0000-0000-0000-000000000000"
        with pytest.raises(AuthError, match="reconnect Xero"):
            xero.get_invoice_by_number("INV-0042")


def test_connections_lists_the_authorised_organisation(base: str, token: str) -> None:
    with client(base, token) as xero:
        (tenant,) = xero.connections()
    assert tenant.tenant_id == DEMO_TENANT_ID and tenant.tenant_type == "ORGANISATION"


def test_paying_an_invoice_sends_a_correctly_signed_webhook(live: tuple[str, Receiver, Settings], token: str) -> None:
    base, receiver, settings = live
    result = control(base, "xero/invoices/INV-0042/pay")
    assert result["delivered"] is True
    (delivery,) = receiver.received
    assert delivery.url == settings.public_url + "/webhook/xero"
    key = webhooks.webhook_key(settings)
    assert key is not None and webhooks.verify_request(key, delivery.body, delivery.headers)
    (event,) = webhooks.parse_events(delivery.body)
    assert (event.event_type, event.org_id) == ("invoice.update", DEMO_TENANT_ID)
    with client(base, token) as xero:
        paid = xero.get_invoice(event.external_ids["invoice_id"])
    assert paid.invoice_number == "INV-0042" and paid.is_paid and paid.amount_due == 0


def test_intent_to_receive_passes_when_the_listener_checks_signatures(live: tuple[str, Receiver, Settings]) -> None:
    base, receiver, settings = live
    receiver.received.clear()
    key = webhooks.webhook_key(settings)
    assert key is not None

    def verifying(item: object) -> Response:
        ok = webhooks.verify_request(key, item.body, item.headers)  # type: ignore[attr-defined]
        return Response("", status=200 if ok else 401)

    receiver.answer = verifying
    try:
        result = control(base, "xero/itr")
    finally:
        receiver.answer = lambda r: Response("", status=200)
    assert result == {"passed": True, "correctly_signed": [200], "incorrectly_signed": [401]}
    assert json.loads(receiver.received[0].body)["events"] == []
