"""The vendor record: everything Zixly's shared code knows about one vendor, in one value.

Each ``integrations/<vendor>/`` package builds one :class:`Vendor` from its own client,
webhook and OAuth code; :mod:`integrations.registry` lists them. Routes, the OAuth flow, the
connection test, job clients, dashboard links and the OpenAPI document read the record and
never branch on a vendor's name.
"""

from __future__ import annotations

# ruff: noqa: S105  (token_* fields name header styles and token kinds, not secrets)
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import httpx

from db.quota import Limit
from integrations.events import VendorEvent
from integrations.expiry import RefreshTokenRule, long_lived
from integrations.http import ApiClient, PermanentError
from settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ClientAuth = Literal["basic", "body"]
C = TypeVar("C", bound=ApiClient)

# Outside production an unconfigured vendor app uses this secret, and so do the sandbox
# emulators, so development runs (OAuth, signed webhooks) work without registering any app.
DEV_CLIENT_SECRET = "sandbox-secret"


class OAuthNotConfigured(RuntimeError):
    """The vendor's client id/secret are not set; the message names the settings."""


class OAuthFlowError(Exception):
    """The authorization could not be completed; the message is fit to show the user."""


class MissingOrg(PermanentError):
    """The connection lacks the organisation its vendor's API URL is built from; reconnect it."""


# -- OAuth --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppCredentials:
    """The vendor app's OAuth client credentials (either may be unset)."""

    client_id: str | None
    client_secret: str | None


@dataclass(frozen=True, kw_only=True)
class OAuthEndpoints:
    """How one vendor does the authorization-code flow, apart from the app's credentials."""

    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    api_url: str
    scope_separator: str = " "
    client_auth: ClientAuth = "body"
    pkce: bool = True
    # Which token the revocation endpoint wants (Asana refuses access tokens there).
    revoke_token: Literal["refresh_token", "access_token"] = "refresh_token"
    # How the access token rides on API calls.
    token_header: str = "Authorization"
    token_prefix: str = "Bearer "
    # Extra fields of the authorization-code exchange (Shopify: ``expiring=1`` for an
    # expiring offline token; without it Shopify grants one that never expires).
    code_exchange_fields: Mapping[str, str] = field(default_factory=dict)
    # Rewrites the token endpoint's error body into RFC 6749's {error, error_description}, for a
    # vendor that answers in its own shape (HubSpot), so a refused refresh reads as invalid_grant.
    token_error: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class OAuthProvider(OAuthEndpoints):
    """Everything the authorization-code flow needs to know about one vendor's app."""

    system: str
    display_name: str
    client_id: str
    client_secret: str
    redirect_uri: str

    @property
    def scope(self) -> str:
        return self.scope_separator.join(self.scopes)

    def header_value(self, access_token: str) -> str:
        return f"{self.token_prefix}{access_token}"


@dataclass(frozen=True)
class ConnectInput:
    """What the user types before connecting (Shopify: the shop); it becomes the org id."""

    label: str
    placeholder: str
    is_valid: Callable[[str], bool]
    invalid_message: str


# Checks the vendor's redirect beyond the state (Shopify signs its query): raise OAuthFlowError.
RedirectCheck = Callable[[OAuthProvider, "str | None", Mapping[str, str]], None]
# (external org id, display name) of a fresh grant, from its token response or the API.
OrgResolver = Callable[[Callable[[], C], Mapping[str, Any], "str | None"], "tuple[str | None, str | None]"]


# -- webhooks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the vendor sent it: verified over exactly these bytes."""

    body: bytes
    headers: Mapping[str, str]
    method: str
    signed_url: str  # the URL as the vendor called it (HubSpot signs it)
    now: Callable[[], float]


@dataclass(frozen=True)
class Handshake:
    """A per-connection secret the vendor hands over in a first request (Asana's X-Hook-Secret)."""

    secret_of: Callable[[Mapping[str, str]], str | None]
    answer_headers: Callable[[str], dict[str, str]]


@dataclass(frozen=True)
class HeaderDoc:
    name: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class WebhookDoc:
    """The webhook's operation in the listener's OpenAPI document."""

    summary: str
    body_schema: dict[str, Any]
    headers: tuple[HeaderDoc, ...]


@dataclass(frozen=True)
class Webhooks:
    """How a vendor's deliveries are verified, parsed, answered and kept."""

    verify: Callable[[str, Delivery], bool]
    # ``org`` is the connection's org on per-connection routes (payloads that name none).
    parse: Callable[[Delivery, str | None], list[VendorEvent]]
    # The app-wide signing secret; ``None`` from it switches the route off (404).
    secret: Callable[[Settings], str | None] | None
    success_status: int
    kept_headers: frozenset[str]
    # One event of a batch in the vendor's delivery shape, so it can be replayed alone.
    replay_body: Callable[[Mapping[str, Any]], object]
    doc: WebhookDoc
    # Per-connection route ``/webhook/<system>/<connection_id>`` whose secret comes from a handshake.
    handshake: Handshake | None = None
    # The vendor wants an empty body on success; the job ids still ride in ``Zixly-Job-Ids``.
    empty_success_body: bool = False
    # The URL the vendor signs when a proxy rewrites the path (settings), else the public one.
    signed_url: Callable[[Settings], str | None] = field(default=lambda _settings: None)

    @property
    def per_connection(self) -> bool:
        return self.handshake is not None


# -- the record ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vendor(Generic[C]):
    """One vendor, complete. ``system`` is its name in URLs, rows and settings."""

    system: str
    display_name: str
    credentials: Callable[[Settings], AppCredentials]
    # Endpoints from the settings and the connection's org (None before one exists).
    oauth: Callable[[Settings, str | None], OAuthEndpoints]
    # The API base URL for an org; raises MissingOrg when the org is needed and absent.
    api_url: Callable[[Settings, str | None], str]
    # ``(base_url, auth, org, **ApiClient keyword arguments)`` -> the vendor's client.
    client: Callable[..., C]
    resolve_org: OrgResolver[C]
    # One cheap authenticated call: a line saying who the token is connected as.
    probe: Callable[[C, str | None], str]
    webhooks: Webhooks
    # The vendor UI's page of a record (type singular, lower case; id already URL-quoted).
    record_link: Callable[[str, str, str | None], str | None]
    connect_input: ConnectInput | None = None
    check_redirect: RedirectCheck | None = None
    # What to undo at the vendor before the grant is revoked (Asana: the webhook Zixly made):
    # ``(session, client factory, connection id)`` -> a problem to show, or None.
    before_disconnect: Callable[[Session, Callable[[], C], int], str | None] | None = None
    # When the refresh token dies if unused (integrations/expiry.py): the expiry forecast's rule.
    refresh_token_dies: RefreshTokenRule = long_lived
    # The vendor's documented call limits per connection (or per app): the quota governor
    # (integrations/quota.py) keeps every runner's calls within them; tenants may set lower ones.
    limits: tuple[Limit, ...] = ()

    def limit(self, name: str) -> Limit:
        """The declared limit called ``name`` (KeyError when the vendor has none)."""
        for limit in self.limits:
            if limit.name == name:
                return limit
        raise KeyError(f"{self.system} declares no limit {name!r}")


def settings_credentials(system: str) -> Callable[[Settings], AppCredentials]:
    """Credentials from ``ZIXLY_<SYSTEM>_CLIENT_ID`` / ``_CLIENT_SECRET`` on :class:`Settings`."""

    def read(settings: Settings) -> AppCredentials:
        secret = getattr(settings, f"{system}_client_secret", None)
        return AppCredentials(
            getattr(settings, f"{system}_client_id", None), secret.get_secret_value() if secret else None
        )

    return read


def client_secret(vendor: Vendor[Any], settings: Settings) -> str | None:
    """The app's client secret: the configured one, or the sandbox's outside production."""
    secret = vendor.credentials(settings).client_secret
    if secret is not None:
        return secret
    return None if settings.env == "production" else DEV_CLIENT_SECRET


def redirect_uri(settings: Settings, system: str) -> str:
    """Where the vendor sends the user back: ``ZIXLY_PUBLIC_URL`` + ``/oauth/<system>/callback``."""
    return f"{settings.public_url.rstrip('/')}/oauth/{system}/callback"


def oauth_provider(vendor: Vendor[Any], settings: Settings, org: str | None = None) -> OAuthProvider:
    """The vendor's OAuth app as configured (development falls back to the sandbox's app)."""
    client_id = vendor.credentials(settings).client_id
    secret = client_secret(vendor, settings)
    if settings.env != "production" and not client_id:
        client_id = f"zixly-dev-{vendor.system}"
    if not client_id or not secret:
        upper = vendor.system.upper()
        raise OAuthNotConfigured(
            f"set ZIXLY_{upper}_CLIENT_ID and ZIXLY_{upper}_CLIENT_SECRET to connect {vendor.system}"
        )
    return OAuthProvider(
        **vars(vendor.oauth(settings, org)),
        system=vendor.system,
        display_name=vendor.display_name,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=redirect_uri(settings, vendor.system),
    )


def make_client(vendor: Vendor[C], settings: Settings, auth: httpx.Auth | None, org: str | None, **kwargs: Any) -> C:
    """The vendor's API client for ``org`` with the shared HTTP policy's keyword arguments."""
    return vendor.client(vendor.api_url(settings, org), auth, org, **kwargs)
