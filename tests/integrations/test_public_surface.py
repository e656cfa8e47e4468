"""The integrations package's public surface is deliberate: small modules, only what callers use is exported."""

from __future__ import annotations

import integrations


def test_the_exported_names_are_pinned() -> None:
    assert sorted(integrations.__all__) == [
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
    for name in integrations.__all__:
        assert getattr(integrations, name) is not None


def test_errors_say_whether_retrying_can_help() -> None:
    from integrations import AuthError, NotFound, PermanentError, RateLimited, TransientError

    assert not TransientError("x", system="s").permanent
    assert not RateLimited("x", system="s", retry_after=3).permanent
    assert PermanentError("x", system="s").permanent
    assert AuthError("x", system="s").permanent and isinstance(AuthError("x", system="s"), PermanentError)
    assert NotFound("x", system="s", record="INV-1").record == "INV-1"
