"""The Connections page's "Test connection": one cheap authenticated call per vendor.

:func:`test_connection` calls the vendor through its client and :class:`ConnectionAuth`
(so an expiring token is refreshed exactly as a job would refresh it) and returns one line
for a human: who the token is connected as, or what went wrong.

Status bookkeeping follows :mod:`integrations.connection_auth`: a refused or revoked token
leaves the connection ``revoked``/``expired``/``error`` with ``last_error`` set, a working one
clears an earlier ``error``. Like the refresh, the change is committed in its own short
transaction (it is a fact about the vendor, not part of the caller's unit of work); the
caller's copy of the row is expired so it reads the new state.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from db.models import Connection
from integrations.http import AuthError, IntegrationError, PermanentError
from settings import Settings

log = logging.getLogger(__name__)

DISPLAY = {"xero": "Xero", "hubspot": "HubSpot", "shopify": "Shopify", "asana": "Asana"}
PROBE_TIMEOUT_S = 15.0
SHOP_QUERY = "query ConnectionTest { shop { name myshopifyDomain } }"


def test_connection(
    session: Session,
    settings: Settings,
    connection: Connection,
    *,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Ask the vendor who we are with the connection's stored tokens; returns a one-line verdict.

    Never raises for a vendor failure: the failure is the verdict. ``transport`` is for tests.
    """
    from integrations.connection_auth import ConnectionAuth  # (it imports integrations.oauth)

    system, connection_id, org = connection.system, connection.id, connection.external_org_id
    name = DISPLAY.get(system, system)
    probe = PROBES.get(system)
    if probe is None:
        return f"{name}: no connection test for this system"
    if connection.status == "disconnected":
        return f"{name}: not connected"
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    auth = ConnectionAuth(factory, settings, connection_id)
    kwargs: dict[str, Any] = {"timeout": PROBE_TIMEOUT_S, "max_retries": 0, "transport": transport}
    try:
        verdict = probe(settings, auth, org, kwargs)
    except AuthError as exc:
        message = f"{name}: authentication failed — {exc.message}"
        _record(factory, connection_id, failed=True, message=message)
    except PermanentError as exc:
        message = f"{name}: the vendor refused the test call — {exc.message}"
        _record(factory, connection_id, failed=True, message=message)
    except IntegrationError as exc:  # transient: timeouts, 5xx, 429 — the status stays
        message = f"{name}: unreachable right now — {exc.message}"
        _record(factory, connection_id, failed=False, message=message)
    else:
        message = f"{name}: {verdict}"
        _record(factory, connection_id, failed=False, message=None)
    session.expire(connection)
    return message


test_connection.__test__ = False  # type: ignore[attr-defined]  # a name pytest would otherwise collect


def _record(factory: sessionmaker[Session], connection_id: int, *, failed: bool, message: str | None) -> None:
    """Commit the verdict on the row (only when it changes something)."""
    with factory() as s, s.begin():
        row = s.get(Connection, connection_id)
        if row is None:
            return
        now = dt.datetime.now(dt.UTC)
        if failed:
            # ConnectionAuth may already have marked it revoked/expired (refresh refused): keep that.
            if row.status in ("connected", "expiring"):
                row.status = "error"
            row.last_error = (message or "")[:1000]
        elif message is not None:
            row.last_error = message[:1000]
        elif row.status == "error" or row.last_error:
            row.status = "connected" if row.status == "error" else row.status
            row.last_error = None
        else:
            return
        row.updated_at = now


# -- one cheap authenticated call per vendor ----------------------------------------------------

Probe = Callable[[Settings, httpx.Auth, "str | None", dict[str, Any]], str]


def _xero(settings: Settings, auth: httpx.Auth, org: str | None, kwargs: dict[str, Any]) -> str:
    from integrations.xero.client import XeroClient

    with XeroClient(str(settings.xero_api_url), auth, tenant_id=org, **kwargs) as client:
        orgs = client.connections()
    mine = next((o for o in orgs if o.tenant_id == org), None)
    if mine is None:
        raise AuthError("the token no longer has access to this organisation; reconnect", system="xero")
    return f"connected to {mine.tenant_name or mine.tenant_id}"


def _hubspot(settings: Settings, auth: httpx.Auth, org: str | None, kwargs: dict[str, Any]) -> str:
    from integrations.hubspot.client import HubSpotClient

    with HubSpotClient(str(settings.hubspot_api_url), auth, **kwargs) as client:
        page = client.search("contacts", [], properties=["email"], limit=1)
    portal = f"portal {org}, " if org else ""
    return f"connected ({portal}{page.total:,} contacts)"


def _shopify(settings: Settings, auth: httpx.Auth, org: str | None, kwargs: dict[str, Any]) -> str:
    from integrations.shopify.client import ShopifyClient

    if not org:
        raise PermanentError("the connection names no shop; reconnect it", system="shopify")
    base = str(settings.shopify_api_url).replace("{shop}", org)
    with ShopifyClient(base, auth, **kwargs) as client:
        shop = client.graphql(SHOP_QUERY).get("shop") or {}
    return f"connected to {shop.get('name') or org} ({shop.get('myshopifyDomain') or org})"


def _asana(settings: Settings, auth: httpx.Auth, org: str | None, kwargs: dict[str, Any]) -> str:
    from integrations.asana.client import AsanaClient

    with AsanaClient(f"{settings.asana_api_url}/api/1.0", auth, **kwargs) as client:
        body = client.request("GET", "/users/me", params={"opt_fields": "name,email"}).json()
    me = body.get("data") or {}
    who = me.get("name") or me.get("gid") or "unknown user"
    return f"connected as {who}" + (f" ({me['email']})" if me.get("email") else "")


PROBES: dict[str, Probe] = {"xero": _xero, "hubspot": _hubspot, "shopify": _shopify, "asana": _asana}
