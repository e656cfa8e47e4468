"""Helpers for Xero tests against the live sandbox: a token from its OAuth server, a client."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sandbox_live import Bearer

from integrations.xero.client import XeroClient
from sandbox.xero.data import DEMO_TENANT_ID


def sandbox_token(base: str, scope: str = "offline_access accounting.transactions accounting.contacts") -> str:
    """An access token from the sandbox's Xero authorization server (auto-approved)."""
    redirect = "http://127.0.0.1:9/callback"
    consent = httpx.get(
        f"{base}/xero/login/identity/connect/authorize",
        params={"response_type": "code", "client_id": "test", "redirect_uri": redirect, "scope": scope, "state": "s"},
        trust_env=False,
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    token = httpx.post(
        f"{base}/xero/identity/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        auth=("test", "secret"),
        trust_env=False,
    )
    token.raise_for_status()
    access: str = token.json()["access_token"]
    return access


def client(base: str, token: str, **kwargs: Any) -> XeroClient:
    kwargs.setdefault("sleep", lambda _s: None)
    return XeroClient(base + "/xero", Bearer(token), tenant_id=DEMO_TENANT_ID, **kwargs)


def control(base: str, path: str, **body: Any) -> Any:
    response = httpx.post(f"{base}/_sandbox/{path}", json=body, trust_env=False)
    response.raise_for_status()
    return response.json()
