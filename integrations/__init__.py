"""Zixly's vendor integrations: one room per vendor over one shared HTTP policy.

Shared pieces: :mod:`integrations.http` (client base, errors), :mod:`integrations.events`
(the normalized webhook event), :mod:`integrations.oauth` / :mod:`integrations.tokens`
(connections), :mod:`integrations.sandbox` (offline emulators).
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
