"""Deliver a signed webhook the way vendors do: POST, judge the answer, retry with backoff.

Used by the HubSpot, Shopify and Asana emulators. Synchronous on purpose: the sandbox
endpoint that triggers a delivery answers with the delivery log, so tests can assert it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

import httpx

# (body, headers) for the n-th attempt (0-based): some vendors count attempts in the body.
Build = Callable[[int], tuple[bytes, dict[str, str]]]


def deliver(
    target: str,
    build: Build,
    *,
    retries: int = 3,
    delay_s: float = 0.2,
    timeout_s: float = 5.0,
    no_retry: Collection[int] = (),
    ok: Callable[[httpx.Response], bool] = lambda r: 200 <= r.status_code < 300,
) -> dict[str, Any]:
    """Send until ``ok`` or ``retries`` are spent; returns ``{"delivered", "attempts": [...]}``.

    Statuses in ``no_retry`` end the delivery at once (HubSpot never retries 4xx auth errors).
    The wait doubles after each failure, starting at ``delay_s``.
    """
    attempts: list[dict[str, Any]] = []
    for attempt in range(retries + 1):
        body, headers = build(attempt)
        try:
            response = httpx.post(target, content=body, headers=headers, timeout=timeout_s, trust_env=False)
        except httpx.HTTPError as exc:
            attempts.append({"status": None, "error": type(exc).__name__})
        else:
            attempts.append({"status": response.status_code})
            if ok(response):
                return {"target": target, "delivered": True, "attempts": attempts}
            if response.status_code in no_retry:
                break
        if attempt < retries:
            time.sleep(delay_s * 2**attempt)
    return {"target": target, "delivered": False, "attempts": attempts}
