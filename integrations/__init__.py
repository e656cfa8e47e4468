"""Zixly's vendor integrations: one folder and one record per vendor, over one shared policy.

Each ``integrations/<vendor>/`` exports a :class:`~integrations.vendor.Vendor` record and
:mod:`integrations.registry` lists them. Shared pieces: :mod:`integrations.http` (client
base, errors), :mod:`integrations.oauth_http` (the same policy for OAuth calls),
:mod:`integrations.events` (the normalized webhook event), :mod:`integrations.oauth` /
:mod:`integrations.connection_auth` / :mod:`integrations.tokens` (connections).
"""

from __future__ import annotations

from integrations.events import VendorEvent
from integrations.http import (
    ApiClient,
    AuthError,
    CallRecorder,
    IntegrationError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)

__all__ = [
    "ApiClient",
    "AuthError",
    "CallRecorder",
    "IntegrationError",
    "NotFound",
    "PermanentError",
    "RateLimited",
    "TransientError",
    "VendorEvent",
]
