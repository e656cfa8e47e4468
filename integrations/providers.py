"""Each vendor's OAuth app and webhook secret, by system name, from the registry.

The same settings serve the real vendor in production and the sandbox everywhere else; the
vendor's own record (``integrations/<vendor>/vendor.py``) knows its endpoints.
"""

from __future__ import annotations

from integrations.registry import vendor
from integrations.vendor import (
    DEV_CLIENT_SECRET,
    ClientAuth,
    OAuthNotConfigured,
    OAuthProvider,
    oauth_provider,
    redirect_uri,
)
from integrations.vendor import client_secret as _client_secret
from settings import Settings

__all__ = [
    "DEV_CLIENT_SECRET",
    "ClientAuth",
    "OAuthNotConfigured",
    "OAuthProvider",
    "client_secret",
    "get_provider",
    "redirect_uri",
    "webhook_secret",
]


def client_secret(settings: Settings, system: str) -> str | None:
    """The app's client secret: the setting, or the sandbox's outside production."""
    return _client_secret(vendor(system), settings)


def webhook_secret(settings: Settings, system: str) -> str | None:
    """What verifies the vendor's webhook signatures (``None``: per webhook, or switched off).

    The listener and the sandbox both call this, so they agree in development without any
    setting.
    """
    secret = vendor(system).webhooks.secret
    return secret(settings) if secret is not None else None


def get_provider(settings: Settings, system: str, *, shop: str | None = None) -> OAuthProvider:
    """The OAuth app of ``system``; ``shop`` is the connection's org where the endpoints need it."""
    return oauth_provider(vendor(system), settings, shop)
