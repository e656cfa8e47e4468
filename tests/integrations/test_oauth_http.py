"""OAuth calls follow the API policy: capped timeouts, recorded steps, no environment proxies."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from integrations.http import USER_AGENT
from integrations.oauth_http import MAX_TIMEOUT_S, oauth_session, revoke
from integrations.vendor import OAuthProvider

PROVIDER = OAuthProvider(
    system="xero",
    display_name="Xero",
    client_id="cid",
    client_secret="csecret",
    authorize_url="https://login.vendor.example/authorize",
    token_url="https://identity.vendor.example/connect/token",
    revoke_url="https://identity.vendor.example/connect/revocation",
    scopes=("offline_access",),
    scope_separator=" ",
    redirect_uri="https://zixly.example/oauth/xero/callback",
    client_auth="basic",
    api_url="https://api.vendor.example",
)


class Capture(BaseAdapter):
    """Answers every request with a token and remembers what was sent, and how."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"access_token": "a", "refresh_token": "r", "token_type": "Bearer"}).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def _with_capture(session: requests.Session) -> Capture:
    capture = Capture()
    session.mount("https://", capture)
    return capture


def test_a_token_call_is_capped_by_the_deadline_recorded_and_ignores_environment_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    steps: list[tuple[str, str, str, int | None]] = []
    session = oauth_session(
        PROVIDER,
        deadline=time.monotonic() + 2.0,
        recorder=lambda system, method, path, status, _ms: steps.append((system, method, path, status)),
    )
    capture = _with_capture(session)
    session.refresh_token(PROVIDER.token_url, refresh_token="old", auth=("cid", "csecret"))
    request, kwargs = capture.sent[0]
    connect, read = kwargs["timeout"]
    assert 0 < read <= 2.0 and connect <= read
    assert kwargs["proxies"] == {} or not any(kwargs["proxies"].values())
    assert session.trust_env is False and request.headers["User-Agent"] == USER_AGENT
    assert steps == [("xero", "POST", "/connect/token", 200)]


def test_without_a_job_the_timeout_is_the_policy_cap() -> None:
    session = oauth_session(PROVIDER)
    capture = _with_capture(session)
    session.refresh_token(PROVIDER.token_url, refresh_token="old", auth=("cid", "csecret"))
    assert capture.sent[0][1]["timeout"][1] == MAX_TIMEOUT_S


def test_pkce_comes_from_requests_oauthlib_and_its_verifier_is_kept_for_the_callback() -> None:
    session = oauth_session(PROVIDER, state="s1", pkce=True)
    url, _ = session.authorization_url(PROVIDER.authorize_url)
    query = parse_qs(urlsplit(url).query)
    verifier = session.code_verifier
    assert verifier is not None and len(verifier) >= 43
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [expected] and query["code_challenge_method"] == ["S256"]
    assert oauth_session(PROVIDER, pkce=False).code_verifier is None


def test_revocation_is_an_rfc_7009_request_with_the_clients_own_authentication(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[requests.PreparedRequest] = []
    original = requests.Session.send

    def spy(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append(request)
        return Capture().send(request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    revoke(PROVIDER, "the-refresh-token")
    monkeypatch.setattr(requests.Session, "send", original)
    request = sent[0]
    assert request.url == PROVIDER.revoke_url and request.method == "POST"
    body = parse_qs(str(request.body))
    assert body == {"token": ["the-refresh-token"], "token_type_hint": ["refresh_token"]}
    assert str(request.headers["Authorization"]).startswith("Basic ")
