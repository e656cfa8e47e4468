"""Everything the sandbox takes from ``integrations``: how each vendor signs its webhooks.

The emulators sign their webhooks with the very functions the listener verifies with, and
with the development secrets the listener falls back to outside production, so the two
cannot drift apart. This is the sandbox's only door into ``integrations`` (an import-linter
contract in pyproject.toml keeps it so); when vendor modules move, only this file changes.
"""

from __future__ import annotations

from integrations.asana import webhooks as asana_webhooks
from integrations.hubspot import webhooks as hubspot_webhooks
from integrations.providers import DEV_CLIENT_SECRET
from integrations.providers import client_secret as configured_client_secret
from integrations.shopify import webhooks as shopify_webhooks
from integrations.xero import webhooks as xero_webhooks
from settings import Settings

__all__ = ["asana_webhooks", "client_secret", "hubspot_webhooks", "shopify_webhooks", "xero_key", "xero_webhooks"]


def client_secret(settings: Settings, system: str) -> str:
    """HubSpot's or Shopify's signing secret: the configured app secret, else the development one.

    Unlike the listener, the sandbox signs even with ``ZIXLY_ENV=production`` set (it is never
    deployed there; tests run it so), hence the fallback regardless of the environment.
    """
    return configured_client_secret(settings, system) or DEV_CLIENT_SECRET


def xero_key(settings: Settings) -> str:
    """The Xero webhook key: the configured one, else the development key the listener accepts."""
    return xero_webhooks.webhook_key(settings) or xero_webhooks.DEV_WEBHOOK_KEY
