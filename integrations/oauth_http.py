"""The one way Zixly talks to vendors' OAuth endpoints: requests-oauthlib under the API policy.

Token exchange, refresh and revocation go through :func:`oauth_session`, which follows the
same rules as :class:`~integrations.http.ApiClient`: timeouts capped (and by the job's
deadline when there is one), every call measured in ``integration_api_latency_seconds`` and
reported to the job's :class:`~integrations.http.CallRecorder`, no proxies from the
environment, one user agent.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import WebApplicationClient
from requests_oauthlib import OAuth2Session

from integrations.http import USER_AGENT, CallRecorder
from integrations.metrics import integration_api_latency_seconds
from integrations.vendor import OAuthProvider

MAX_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0


class PolicySession(OAuth2Session):  # type: ignore[misc]  # requests-oauthlib ships no types
    """An ``OAuth2Session`` whose every request is capped, measured and recorded."""

    def __init__(
        self,
        provider: OAuthProvider,
        *,
        state: str | None = None,
        pkce: bool = False,
        timeout: float = MAX_TIMEOUT_S,
        deadline: float | None = None,
        recorder: CallRecorder | None = None,
    ) -> None:
        super().__init__(
            provider.client_id,
            redirect_uri=provider.redirect_uri,
            scope=provider.scope,
            state=state,
            pkce="S256" if pkce else None,
        )
        self.system = provider.system
        self.max_timeout = min(timeout, MAX_TIMEOUT_S)
        self.deadline = deadline
        self.recorder = recorder
        self.trust_env = False  # no proxies or .netrc from the environment
        self.headers["User-Agent"] = USER_AGENT
        if provider.token_error is not None:
            hook = _standard_token_error(provider.token_error)
            self.register_compliance_hook("access_token_response", hook)
            self.register_compliance_hook("refresh_token_response", hook)

    @property
    def code_verifier(self) -> str | None:
        """The PKCE verifier requests-oauthlib made for the last authorization URL."""
        verifier: str | None = getattr(self, "_code_verifier", None)
        return verifier

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        total = self.max_timeout
        if self.deadline is not None:
            total = max(0.001, min(total, self.deadline - time.monotonic()))
        kwargs["timeout"] = (min(total, CONNECT_TIMEOUT_S), total)
        endpoint = urlsplit(url).path or "/"  # token endpoints carry no record ids
        started = time.perf_counter()
        status: int | None = None
        try:
            response: requests.Response = super().request(method, url, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            integration_api_latency_seconds.labels(system=self.system, endpoint=endpoint).observe(elapsed)
            if self.recorder is not None:
                self.recorder(self.system, method.upper(), endpoint, status, elapsed * 1000.0)


def _standard_token_error(
    translate: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[requests.Response], requests.Response]:
    """A requests-oauthlib compliance hook: the vendor's error body, in RFC 6749's words."""

    def hook(response: requests.Response) -> requests.Response:
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            return response
        if isinstance(body, dict) and "error" not in body:
            response._content = json.dumps(translate(body)).encode()
        return response

    return hook


def oauth_session(
    provider: OAuthProvider,
    *,
    state: str | None = None,
    pkce: bool = False,
    deadline: float | None = None,
    recorder: CallRecorder | None = None,
) -> PolicySession:
    _oauthlib_env(provider)
    return PolicySession(provider, state=state, pkce=pkce, deadline=deadline, recorder=recorder)


def _oauthlib_env(provider: OAuthProvider) -> None:
    # We store the scopes the vendor actually granted, so a narrower grant is not an error.
    os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    # oauthlib refuses plain HTTP; the sandbox on the loopback interface is the one exception.
    if urlsplit(provider.token_url).hostname in ("127.0.0.1", "localhost"):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


def client_auth_kwargs(provider: OAuthProvider, *, refresh: bool = False) -> dict[str, Any]:
    """How the client authenticates at the token endpoint: HTTP Basic or form fields.

    ``fetch_token`` and ``refresh_token`` of requests-oauthlib take the form-field variant
    differently: the first has ``include_client_id``, the second sends extra kwargs as fields.
    """
    if provider.client_auth == "basic":
        basic = requests.auth.HTTPBasicAuth(provider.client_id, provider.client_secret)
        return {"auth": basic} if refresh else {"auth": basic, "include_client_id": False}
    if refresh:
        return {"client_id": provider.client_id, "client_secret": provider.client_secret}
    return {"include_client_id": True, "client_secret": provider.client_secret}


def revoke(provider: OAuthProvider, token: str, *, recorder: CallRecorder | None = None) -> None:
    """RFC 7009 revocation (Xero, HubSpot v3 and Asana accept it in this form)."""
    if provider.revoke_url is None:
        return
    session = oauth_session(provider, recorder=recorder)
    fields: dict[str, str] = {}
    auth: requests.auth.HTTPBasicAuth | None = None
    if provider.client_auth == "basic":
        auth = requests.auth.HTTPBasicAuth(provider.client_id, provider.client_secret)
    else:
        fields = {"client_id": provider.client_id, "client_secret": provider.client_secret}
    url, headers, body = WebApplicationClient(provider.client_id).prepare_token_revocation_request(
        provider.revoke_url, token, token_type_hint=provider.revoke_token, **fields
    )
    with session:
        response = session.post(url, data=body, headers=headers, auth=auth)
    response.raise_for_status()
