"""A small OAuth 2.0 authorization server that every vendor emulator reuses.

It auto-approves authorization requests (redirecting with ``code`` and ``state``), checks
PKCE (S256) when a challenge was sent, issues access tokens with a lifetime, rotates refresh
tokens when the vendor does (Xero, Shopify) and revokes grants. Test controls, mounted by
:mod:`sandbox.app` under ``/_sandbox/oauth/<vendor>/``: ``expire`` (every access
token of the vendor expires now), ``revoke`` (every grant revoked: refreshes get
``invalid_grant``), ``settings`` (``access_ttl``, ``refresh_grace_s``, ``rotate_refresh``,
``refresh_ttl``).

Shopify's offline tokens follow their own rules, switched on per server: ``expiring_on_request``
grants a token that never expires (no ``expires_in``, no refresh token) unless the code
exchange sends ``expiring=1``; ``refresh_ttl`` gives refresh tokens their own lifetime
(``refresh_token_expires_in``); ``old_refresh_until_new_used`` keeps a rotated refresh token
valid until an access token minted from it is first used (a lost refresh answer can be retried).

A vendor module builds one :class:`OAuthServer`, mounts its endpoints with
:func:`register_oauth_routes` and protects its API with :meth:`OAuthServer.grant_for`.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue

SERVERS: dict[str, OAuthServer] = {}


@dataclass
class Grant:
    """One user's consent: the client, scopes and the organisations it connects."""

    id: str
    client_id: str
    scope: str
    redirect_uri: str
    orgs: list[str]
    created_at: float
    revoked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Code:
    grant: Grant
    challenge: str | None
    expires_at: float


@dataclass
class _Refresh:
    grant: Grant
    used_at: float | None = None
    expires_at: float = math.inf
    # The access tokens minted from this refresh token (Shopify: it dies when one is used).
    successors: list[str] = field(default_factory=list)
    answer: dict[str, Any] | None = None  # the tokens its first use issued


class OAuthServer:
    """The state and rules of one vendor's authorization server (in memory)."""

    def __init__(
        self,
        vendor: str,
        *,
        access_ttl: int = 1800,
        rotate_refresh: bool = True,
        refresh_grace_s: float = 0.0,
        token_type: str = "Bearer",  # noqa: S107
        orgs: Callable[[], list[str]] = list,
        token_extra: Callable[[Grant], dict[str, Any]] | None = None,
        expiring_on_request: bool = False,
        refresh_ttl: float | None = None,
        old_refresh_until_new_used: bool = False,
    ) -> None:
        self.vendor = vendor
        self.defaults = {"access_ttl": access_ttl, "rotate_refresh": rotate_refresh, "refresh_grace_s": refresh_grace_s}
        self.default_refresh_ttl = refresh_ttl
        self.expiring_on_request = expiring_on_request
        self.old_refresh_until_new_used = old_refresh_until_new_used
        self.token_type = token_type
        self.orgs = orgs
        self.token_extra = token_extra
        self.lock = threading.RLock()
        self.reset()
        SERVERS[vendor] = self

    def reset(self) -> None:
        with self.lock:
            self.access_ttl = int(self.defaults["access_ttl"])
            self.rotate_refresh = bool(self.defaults["rotate_refresh"])
            self.refresh_grace_s = float(self.defaults["refresh_grace_s"])
            self.refresh_ttl = self.default_refresh_ttl
            self.used_access: set[str] = set()
            self.codes: dict[str, _Code] = {}
            self.access: dict[str, tuple[Grant, float]] = {}
            self.refresh: dict[str, _Refresh] = {}
            self.grants: dict[str, Grant] = {}
            self.refresh_count = 0

    # -- the protocol -------------------------------------------------------------------------
    def authorize(self, args: Mapping[str, str]) -> tuple[str | None, str]:
        """Auto-approve; returns (error, redirect URL or message)."""
        for name in ("client_id", "redirect_uri"):
            if not args.get(name):
                return "invalid_request", f"{name} is required"
        if args.get("response_type", "code") != "code":
            return "unsupported_response_type", "only response_type=code"
        challenge = args.get("code_challenge")
        if challenge and args.get("code_challenge_method", "plain") != "S256":
            return "invalid_request", "code_challenge_method must be S256"
        grant = Grant(
            id=_uuid(),
            client_id=args["client_id"],
            scope=args.get("scope", ""),
            redirect_uri=args["redirect_uri"],
            orgs=self.orgs(),
            created_at=time.time(),
            extra={k: v for k, v in args.items() if k == "shop"},
        )
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.grants[grant.id] = grant
            self.codes[code] = _Code(grant, challenge, time.time() + 600)
        query = {"code": code}
        if "state" in args:
            query["state"] = args["state"]
        sep = "&" if "?" in grant.redirect_uri else "?"
        return None, f"{grant.redirect_uri}{sep}{urlencode(query)}"

    def token(self, form: Mapping[str, str], client_id: str | None) -> tuple[int, dict[str, Any]]:
        """The token endpoint for ``authorization_code`` and ``refresh_token`` grants."""
        if not client_id:
            return 401, {"error": "invalid_client"}
        grant_type = form.get("grant_type", "authorization_code" if "code" in form else "")
        with self.lock:
            if grant_type == "authorization_code":
                return self._exchange_code(form, client_id)
            if grant_type == "refresh_token":
                return self._refresh(form.get("refresh_token", ""), client_id)
        return 400, {"error": "unsupported_grant_type"}

    def _exchange_code(self, form: Mapping[str, str], client_id: str) -> tuple[int, dict[str, Any]]:
        entry = self.codes.pop(form.get("code", ""), None)
        if entry is None or entry.expires_at < time.time() or entry.grant.client_id != client_id:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") not in (None, entry.grant.redirect_uri):
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        if entry.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not secrets.compare_digest(digest, entry.challenge):
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        # Shopify grants a non-expiring offline token unless the exchange asks for an expiring one.
        expiring = not self.expiring_on_request or str(form.get("expiring", "")) in ("1", "true")
        return 200, self._issue(entry.grant, expiring=expiring)

    def _refresh(self, token: str, client_id: str) -> tuple[int, dict[str, Any]]:
        entry = self.refresh.get(token)
        if entry is None or entry.grant.revoked or entry.grant.client_id != client_id:
            return 400, {"error": "invalid_grant"}
        now = time.time()
        if entry.expires_at <= now:
            return 400, {"error": "invalid_grant", "error_description": "the refresh token expired"}
        if self.old_refresh_until_new_used:
            # Shopify: a rotated refresh token stays valid until a token minted from it is used.
            if any(token in self.used_access for token in entry.successors):
                return 400, {"error": "invalid_grant"}
            self.refresh_count += 1
            body = self._issue(entry.grant)
            entry.successors.append(body["access_token"])
            return 200, body
        if entry.used_at is not None and now - entry.used_at > self.refresh_grace_s:
            # A single-use refresh token presented twice: the vendor refuses it.
            return 400, {"error": "invalid_grant"}
        if entry.used_at is not None and entry.answer is not None:
            # Reused inside the grace (the first answer was lost): Xero answers the same new tokens.
            return 200, dict(entry.answer)
        self.refresh_count += 1
        if self.rotate_refresh:
            entry.used_at = entry.used_at or now
            entry.answer = self._issue(entry.grant)
            return 200, dict(entry.answer)
        return 200, self._issue(entry.grant, refresh_token=token)

    def _issue(self, grant: Grant, refresh_token: str | None = None, *, expiring: bool = True) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        if not expiring:
            self.access[access] = (grant, math.inf)
            body: dict[str, Any] = {"access_token": access, "scope": grant.scope}
        else:
            now = time.time()
            self.access[access] = (grant, now + self.access_ttl)
            if refresh_token is None:
                refresh_token = secrets.token_urlsafe(32)
                expires = math.inf if self.refresh_ttl is None else now + self.refresh_ttl
                self.refresh[refresh_token] = _Refresh(grant, expires_at=expires)
            body = {
                "access_token": access,
                "expires_in": self.access_ttl,
                "token_type": self.token_type,
                "refresh_token": refresh_token,
                "scope": grant.scope,
            }
            if self.refresh_ttl is not None:
                body["refresh_token_expires_in"] = int(self.refresh_ttl)
        if self.token_extra is not None:
            body.update(self.token_extra(grant))
        return body

    def revoke_token(self, token: str) -> None:
        """RFC 7009: revoking a refresh (or access) token revokes its whole grant."""
        with self.lock:
            entry = self.refresh.get(token)
            grant = entry.grant if entry else self.access.get(token, (None, 0.0))[0]
            if grant is not None:
                grant.revoked = True

    def grant_for(self, authorization: str | None) -> Grant | None:
        """The live grant behind an ``Authorization: Bearer`` value (or a bare token)."""
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").removeprefix("bearer ").strip()
        with self.lock:
            grant, expires_at = self.access.get(token, (None, 0.0))
            if grant is None or grant.revoked or expires_at <= time.time():
                return None
            self.used_access.add(token)
        return grant

    # -- test controls ------------------------------------------------------------------------
    def expire_all(self) -> None:
        with self.lock:
            # Non-expiring tokens (Shopify's, when none was asked for) outlive any clock.
            self.access = {token: (grant, at if at == math.inf else 0.0) for token, (grant, at) in self.access.items()}

    def revoke_all(self) -> None:
        with self.lock:
            for grant in self.grants.values():
                grant.revoked = True

    def configure(self, values: Mapping[str, Any]) -> None:
        with self.lock:
            if "access_ttl" in values:
                self.access_ttl = int(values["access_ttl"])
            if "refresh_grace_s" in values:
                self.refresh_grace_s = float(values["refresh_grace_s"])
            if "rotate_refresh" in values:
                self.rotate_refresh = bool(values["rotate_refresh"])
            if "refresh_ttl" in values:
                self.refresh_ttl = None if values["refresh_ttl"] is None else float(values["refresh_ttl"])


def client_credentials() -> tuple[str | None, str | None]:
    """Client id/secret from HTTP Basic or from the form/JSON body (vendors accept either)."""
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    data = request_data()
    return data.get("client_id"), data.get("client_secret")


def request_data() -> dict[str, str]:
    if request.is_json:
        body = request.get_json(silent=True)
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return {k: v for k, v in request.form.items()}


def register_oauth_routes(
    blueprint: Blueprint,
    server: OAuthServer,
    *,
    authorize: str,
    token: str,
    revoke: str | None = None,
    require_secret: bool = True,
    token_error: Callable[[int, dict[str, Any], str], dict[str, Any]] | None = None,
) -> None:
    """Mount authorize (GET), token (POST) and revoke (POST) at the vendor's paths.

    ``token_error(status, RFC 6749 error body, grant_type)`` reshapes the token endpoint's
    errors for a vendor that answers in its own shape (HubSpot).
    """

    def authorize_view(**_: str) -> ResponseReturnValue:
        error, target = server.authorize(request.args.to_dict())
        if error is not None:
            return jsonify(error=error, error_description=target), 400
        return redirect(target, code=302)

    def token_view(**_: str) -> ResponseReturnValue:
        client_id, secret = client_credentials()
        if require_secret and not secret:
            status, body = 401, {"error": "invalid_client"}
        else:
            status, body = server.token(request_data(), client_id)
        if status >= 400 and token_error is not None:
            body = token_error(status, body, request_data().get("grant_type", ""))
        response = jsonify(body)
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        return response

    def revoke_view(**_: str) -> ResponseReturnValue:
        server.revoke_token(request_data().get("token", ""))
        return Response(status=200)

    prefix = server.vendor
    blueprint.add_url_rule(authorize, f"{prefix}_oauth_authorize", authorize_view, methods=["GET"])
    blueprint.add_url_rule(token, f"{prefix}_oauth_token", token_view, methods=["POST"])
    if revoke is not None:
        blueprint.add_url_rule(revoke, f"{prefix}_oauth_revoke", revoke_view, methods=["POST"])


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())
