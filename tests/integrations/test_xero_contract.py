"""Contract: every request the Xero client sends and every sandbox answer, against Xero's OpenAPI.

The documents are vendored in integrations/xero/spec (MIT, see NOTICE.md). Answers with a
status the spec documents are validated in full; others (401/403/404/429, which Xero's spec
leaves out) must still carry Xero's ``Error`` body.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_check import as_vendor_request, as_vendor_response
from openapi_core import Config, OpenAPI
from openapi_schema_validator import OAS30Validator
from sandbox_live import RecordingTransport, live_sandbox, reset
from xero_live import client, control, sandbox_token

import integrations.xero
from integrations.http import NotFound, PermanentError, RateLimited
from integrations.xero.models import NewContact, NewInvoice, NewLineItem

pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")

SPEC_DIR = Path(integrations.xero.__file__).parent / "spec"
SERVER = "https://api.xero.com"


def _load(name: str) -> tuple[OpenAPI, dict[str, Any]]:
    document = yaml.load((SPEC_DIR / name).read_text(), Loader=yaml.CSafeLoader)
    # The documents are the vendor's; validating the 900 KB spec itself would only cost time.
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None)), document


@pytest.fixture(scope="module")
def specs() -> dict[str, tuple[OpenAPI, dict[str, Any]]]:
    return {"accounting": _load("xero_accounting.yaml"), "identity": _load("xero-identity.yaml")}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_sandbox(tmp_path_factory.mktemp("xero-contract")) as (url, _receiver, _settings):
        yield url


def exercise(base: str) -> RecordingTransport:
    """Every call the client makes, including its error paths, through a recording transport."""
    reset(base)
    token = sandbox_token(base)
    transport = RecordingTransport()
    with client(base, token, transport=transport, max_retries=0) as xero:
        xero.connections()
        xero.tax_rates()
        invoice = xero.get_invoice_by_number("INV-0042")
        xero.get_invoice(invoice.invoice_id)
        list(xero.list_invoices(page_size=5))
        list(xero.list_invoices(modified_since=dt.datetime(2026, 11, 20, tzinfo=dt.UTC), statuses=["AUTHORISED"]))
        list(xero.list_invoices(contact_ids=[invoice.contact.contact_id]))
        contact = xero.find_contacts_by_email("mia.chen@example.com")
        (contact,) = xero.find_contacts_by_email("accounts@baysideclimbing.example")
        xero.get_contact(contact.contact_id)
        list(xero.list_contacts(modified_since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)))
        xero.create_contact(
            NewContact(name="Contract Co", first_name="Con", email_address="con@contract.example"),
            idempotency_key="contract-contact",
        )
        xero.create_invoice(
            NewInvoice(
                contact_id=contact.contact_id,
                line_items=[
                    NewLineItem(description="Harness", quantity=Decimal(2), unit_amount=Decimal("89.00")),
                    NewLineItem(
                        description="Rope",
                        quantity=Decimal(3),
                        unit_amount=Decimal("45.45"),
                        discount_amount=Decimal("5.00"),
                        line_amount=Decimal("131.35"),
                        tax_type="OUTPUT",
                        tax_amount=Decimal("11.94"),
                    ),
                ],
                line_amount_types="Inclusive",
                date=dt.date(2026, 11, 26),
                due_date=dt.date(2026, 12, 26),
                reference="CONTRACT",
                status="AUTHORISED",
                currency_code="AUD",
            ),
            idempotency_key="contract-invoice",
        )
        with pytest.raises(PermanentError):
            xero.create_contact(NewContact(name="Contract Co"), idempotency_key="contract-dup")
        with pytest.raises(PermanentError, match="TaxType code GST does not exist"):
            xero.create_invoice(
                NewInvoice(
                    contact_id=contact.contact_id,
                    line_items=[NewLineItem(description="Rope", unit_amount=Decimal("10.00"), tax_type="GST")],
                ),
                idempotency_key="contract-bad-tax",
            )
        with pytest.raises(NotFound):
            xero.get_invoice("00000000-0000-0000-0000-000000000000")
        control(base, "limits", vendor="xero", budget="minute", limit=0)
        with pytest.raises(RateLimited):
            xero.get_invoice(invoice.invoice_id)
    return transport


def test_every_request_and_response_matches_xeros_openapi(
    base: str, specs: dict[str, tuple[OpenAPI, dict[str, Any]]]
) -> None:
    transport = exercise(base)
    accounting, accounting_doc = specs["accounting"]
    identity, _ = specs["identity"]
    error_schema = {**accounting_doc["components"]["schemas"]["Error"], "components": accounting_doc["components"]}
    checked = {"documented": 0, "error": 0}
    for request, response in transport.exchanges:
        if request.url.path.startswith("/xero/api.xro/2.0/"):
            spec, prefix, server = accounting, "/xero/api.xro/2.0", SERVER + "/api.xro/2.0"
        else:
            spec, prefix, server = identity, "/xero", SERVER
        vendor_request = as_vendor_request(request, strip_prefix=prefix, server=server)
        spec.validate_request(vendor_request)
        if response.status_code in (200, 204) or (response.status_code == 400 and request.method == "PUT"):
            spec.validate_response(vendor_request, as_vendor_response(response))
            checked["documented"] += 1
        else:
            OAS30Validator(error_schema).validate(response.json())
            checked["error"] += 1
    assert checked["documented"] >= 13 and checked["error"] == 2


def test_the_sandbox_refuses_a_request_without_the_tenant_header(base: str) -> None:
    import httpx

    reset(base)
    token = sandbox_token(base)
    response = httpx.get(
        base + "/xero/api.xro/2.0/Invoices",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        trust_env=False,
    )
    assert response.status_code == 400


def test_the_sandbox_refuses_to_answer_json_unless_asked(base: str) -> None:
    import httpx

    from sandbox.xero.data import DEMO_TENANT_ID

    reset(base)
    token = sandbox_token(base)
    response = httpx.get(
        base + "/xero/api.xro/2.0/Invoices",
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": DEMO_TENANT_ID},
        trust_env=False,
    )
    assert response.status_code == 406  # real Xero would answer XML


def test_the_sandboxs_webhook_deliveries_match_xeros_webhook_schema(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator, FormatChecker

    document = yaml.load((SPEC_DIR / "xero-webhooks.yaml").read_text(), Loader=yaml.CSafeLoader)
    schema = {**document["components"]["schemas"]["WebhookEvent"], "components": document["components"]}
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    with live_sandbox(tmp_path) as (url, receiver, _settings):
        control(url, "xero/invoices/INV-0042/pay")
        control(url, "xero/itr")
    payment, *itr = [json.loads(r.body) for r in receiver.received]
    validator.validate(payment)
    # Intent-to-Receive follows Xero's docs (sequence numbers 0), which the schema's minimum of 1
    # does not describe: the schema is for event deliveries.
    assert len(itr) == 2
    for body in itr:
        assert body["events"] == [] and body["firstEventSequence"] == body["lastEventSequence"] == 0
        assert set(body) == {"events", "firstEventSequence", "lastEventSequence", "entropy"}
