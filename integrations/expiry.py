"""When a connection's refresh token dies if nobody uses it: the rule each vendor record declares.

A connection stops working for good once its refresh token dies: Xero's dies after 60 days
unused (every refresh rotates it, so "unused" means "not refreshed"); Shopify states the
refresh token's own lifetime in the token response (``refresh_token_expires_in``); HubSpot's
and Asana's live until revoked (CONTRACTS.md: "long-lived"). A vendor record names its rule in
``Vendor.refresh_token_dies``; the forecast reads the record and never the vendor's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenLife:
    """What the forecast knows about one connection's grant."""

    connected_at: dt.datetime
    last_refresh_at: dt.datetime | None
    refresh_expires_at: dt.datetime | None  # as the vendor stated it, if it did


RefreshTokenRule = Callable[[TokenLife], dt.datetime | None]


def unused_for(days: int) -> RefreshTokenRule:
    """The refresh token dies ``days`` after it was last used (or issued)."""

    def rule(life: TokenLife) -> dt.datetime | None:
        return (life.last_refresh_at or life.connected_at) + dt.timedelta(days=days)

    return rule


def stated_expiry(life: TokenLife) -> dt.datetime | None:
    """The refresh token dies when the vendor said it would (each refresh gives a new one)."""
    return life.refresh_expires_at


def long_lived(_life: TokenLife) -> dt.datetime | None:
    """The refresh token lives until revoked: nothing to forecast."""
    return None
