"""How each vendor does OAuth 2.0: endpoints (from settings), client auth, PKCE, scopes.

One :class:`OAuthProvider` per vendor, built from settings by :func:`get_provider`, so the
same flow code serves the real vendor in production and the sandbox everywhere else
(the vendors' OAuth docs: developer.xero.com/documentation/guides/oauth2/auth-flow,
developers.hubspot.com/docs/api/oauth-quickstart-guide, shopify.dev/docs/apps/build/authentication-authorization,
developers.asana.com/docs/oauth).
"""

from __future__ import annotations

# ruff: noqa: S105, S106  (token_* fields name header styles and endpoints, not secrets)
from dataclasses import dataclass
from typing import Literal

from settings import VENDORS, Settings

ClientAuth = Literal["basic", "body"]


@dataclass(frozen=True)
class OAuthProvider:
    """Everything the authorization-code flow needs to know about one vendor."""

    system: str
    display_name: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    scope_separator: str
    redirect_uri: str
    client_auth: ClientAuth = "body"
    pkce: bool = True
    # Which token the revocation endpoint wants (Asana refuses access tokens there).
    revoke_token: Literal["refresh_token", "access_token"] = "refresh_token"
    # How the access token rides on API calls.
    token_header: str = "Authorization"
    token_prefix: str = "Bearer "
    api_url: str = ""

    @property
    def scope(self) -> str:
        return self.scope_separator.join(self.scopes)

    def header_value(self, access_token: str) -> str:
        return f"{self.token_prefix}{access_token}"


class OAuthNotConfigured(RuntimeError):
    """The vendor's client id/secret are not set; the message names the settings."""


def redirect_uri(settings: Settings, system: str) -> str:
    """Where the vendor sends the user back: ``ZIXLY_PUBLIC_URL`` + ``/oauth/<system>/callback``."""
    return f"{settings.public_url.rstrip('/')}/oauth/{system}/callback"


# Outside production an unconfigured vendor app uses these, and so do the sandbox emulators,
# so development runs (OAuth, signed webhooks) work without registering any app.
DEV_CLIENT_SECRET = "sandbox-secret"


def client_secret(settings: Settings, system: str) -> str | None:
    """The app's client secret: the setting, or the sandbox's outside production."""
    secret = getattr(settings, f"{system}_client_secret")
    if secret is not None:
        return str(secret.get_secret_value())
    return None if settings.env == "production" else DEV_CLIENT_SECRET


def webhook_secret(settings: Settings, system: str) -> str | None:
    """What verifies the vendor's webhook signatures (Asana's is per webhook: ``None`` here).

    Xero: the webhook key; HubSpot and Shopify: the client secret. The listener and the
    sandbox both call this, so they agree in development without any setting.
    """
    if system == "xero":
        from integrations.xero.webhooks import webhook_key

        return webhook_key(settings)
    if system in ("hubspot", "shopify"):
        return client_secret(settings, system)
    return None


def get_provider(settings: Settings, system: str, *, shop: str | None = None) -> OAuthProvider:
    """The provider description of ``system`` (Shopify needs the ``shop`` domain)."""
    if system not in VENDORS:
        raise ValueError(f"unknown system {system!r}; expected one of {VENDORS}")
    client_id = getattr(settings, f"{system}_client_id")
    secret_value = client_secret(settings, system)
    if settings.env != "production" and not client_id:
        client_id = f"zixly-dev-{system}"
    if not client_id or not secret_value:
        upper = system.upper()
        raise OAuthNotConfigured(f"set ZIXLY_{upper}_CLIENT_ID and ZIXLY_{upper}_CLIENT_SECRET to connect {system}")
    common = {
        "system": system,
        "client_id": client_id,
        "client_secret": secret_value,
        "redirect_uri": redirect_uri(settings, system),
    }
    if system == "xero":
        return OAuthProvider(
            display_name="Xero",
            authorize_url=f"{settings.xero_login_url}/identity/connect/authorize",
            token_url=f"{settings.xero_identity_url}/connect/token",
            revoke_url=f"{settings.xero_identity_url}/connect/revocation",
            scopes=tuple(settings.xero_scopes.split()),
            scope_separator=" ",
            client_auth="basic",
            api_url=str(settings.xero_api_url),
            **common,
        )
    if system == "hubspot":
        return OAuthProvider(
            display_name="HubSpot",
            authorize_url=f"{settings.hubspot_app_url}/oauth/authorize",
            token_url=f"{settings.hubspot_api_url}/oauth/v3/token",
            revoke_url=f"{settings.hubspot_api_url}/oauth/v3/token/revoke",
            scopes=tuple(settings.hubspot_scopes.split()),
            scope_separator=" ",
            api_url=str(settings.hubspot_api_url),
            **common,
        )
    if system == "shopify":
        if not shop:
            raise ValueError("Shopify OAuth is per shop: pass shop='<name>.myshopify.com'")
        base = str(settings.shopify_api_url).replace("{shop}", shop)
        return OAuthProvider(
            display_name="Shopify",
            authorize_url=f"{base}/admin/oauth/authorize",
            token_url=f"{base}/admin/oauth/access_token",
            revoke_url=None,  # uninstalling the app is the only revocation
            # The docs show a JSON token request; the form Zixly sends is what Shopify's own
            # Python library sends, and the endpoint accepts both.
            scopes=tuple(s for s in settings.shopify_scopes.split(",") if s),
            scope_separator=",",
            pkce=False,
            token_header="X-Shopify-Access-Token",
            token_prefix="",
            api_url=base,
            **common,
        )
    return OAuthProvider(
        display_name="Asana",
        authorize_url=f"{settings.asana_api_url}/-/oauth_authorize",
        token_url=f"{settings.asana_api_url}/-/oauth_token",
        revoke_url=f"{settings.asana_api_url}/-/oauth_revoke",
        scopes=tuple(settings.asana_scopes.split()),
        scope_separator=" ",
        api_url=f"{settings.asana_api_url}/api/1.0",
        **common,
    )
