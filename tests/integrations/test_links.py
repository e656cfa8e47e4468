"""Deep links into the vendors' UIs come from each vendor's record."""

from __future__ import annotations

from integrations.links import record_url


def test_deep_links_cover_the_four_vendors() -> None:
    url = record_url
    assert url("hubspot", "deal", "77", "62515") == "https://app.hubspot.com/contacts/62515/record/0-3/77"
    assert url("shopify", "order", "450789469", "acme.myshopify.com") == (
        "https://acme.myshopify.com/admin/orders/450789469"
    )
    assert url("asana", "task", "1201") == "https://app.asana.com/0/0/1201/f"
    assert url("xero", "contacts", "c-1") == "https://go.xero.com/Contacts/View/c-1"
    assert url("hubspot", "contact", "1") is None  # no portal id, no link
    assert url("xero", "invoice", "x", stored="https://example.test/x") == "https://example.test/x"


def test_an_unknown_system_has_no_link_but_keeps_a_stored_one() -> None:
    assert record_url("nowhere", "thing", "1") is None
    assert record_url("nowhere", "thing", "1", stored="https://example.test/1") == "https://example.test/1"
