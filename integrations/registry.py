"""The vendors Zixly talks to: one line per vendor.

Everything shared — webhook routes, the OAuth flow, connection tests, job clients, dashboard
links, the OpenAPI document — iterates :func:`vendors` or looks one up with :func:`vendor`.
:func:`register` adds a vendor at run time (tests, plug-ins); register it before the webhook
app is built, because the app makes its routes from the registry when it starts.
"""

from __future__ import annotations

from typing import Any

from integrations.asana import ASANA
from integrations.hubspot import HUBSPOT
from integrations.shopify import SHOPIFY
from integrations.vendor import Vendor
from integrations.xero import XERO

_VENDORS: dict[str, Vendor[Any]] = {v.system: v for v in (XERO, HUBSPOT, SHOPIFY, ASANA)}


class UnknownVendor(ValueError):
    """No vendor of that name is registered."""


def vendors() -> tuple[Vendor[Any], ...]:
    """Every registered vendor, in registration order."""
    return tuple(_VENDORS.values())


def systems() -> tuple[str, ...]:
    return tuple(_VENDORS)


def vendor(system: str) -> Vendor[Any]:
    try:
        return _VENDORS[system]
    except KeyError:
        raise UnknownVendor(f"unknown system {system!r}; expected one of {systems()}") from None


def register(record: Vendor[Any]) -> None:
    """Add (or replace) a vendor; the four built-in ones are registered on import."""
    _VENDORS[record.system] = record


def unregister(system: str) -> None:
    """Remove a vendor registered with :func:`register` (tests clean up with it)."""
    _VENDORS.pop(system, None)
