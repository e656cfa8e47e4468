"""One registry of vendor records; nothing shared branches on a vendor's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integrations import registry
from integrations.registry import UnknownVendor

ROOT = Path(__file__).resolve().parents[2]
# Shared code that must learn about vendors from their records only (the workflows and the
# choice of workflow per event are allowed to be vendor-specific).
SHARED = [
    *sorted((ROOT / "integrations").glob("*.py")),
    *sorted((ROOT / "webhook").glob("*.py")),
    *sorted((ROOT / "app").rglob("*.py")),
    ROOT / "sync" / "clients.py",
]
NOT_SHARED = {ROOT / "webhook" / "routing.py", ROOT / "integrations" / "prices.py"}


def test_the_four_vendors_are_registered_in_order_each_from_its_own_folder() -> None:
    assert registry.systems() == ("xero", "hubspot", "shopify", "asana")
    for record in registry.vendors():
        assert type(record).__module__ == "integrations.vendor"
        assert (ROOT / "integrations" / record.system / "vendor.py").exists()
        assert registry.vendor(record.system) is record


def test_an_unknown_vendor_is_a_clear_error() -> None:
    with pytest.raises(UnknownVendor, match="unknown system 'nope'"):
        registry.vendor("nope")


def test_no_shared_module_branches_on_a_vendor_name() -> None:
    names = "|".join(registry.systems())
    branch = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in SHARED
        if path not in NOT_SHARED
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if branch.search(line)
    ]
    assert offenders == []
