"""Vendor clients for the running job's tenant: the only way workflows reach a vendor.

Each client is authenticated as the tenant's connection (:class:`ConnectionAuth`: the token
is refreshed before it expires and once on a 401; a revoked grant marks the connection and
fails with "Reconnect <Vendor> for <tenant>"), reports every call to the job's step log
(``ctx.recorder``), never waits or calls past the job's deadline, and sleeps through
``ctx.sleep`` so a cancelled job stops even while it waits out a ``Retry-After``.

Usage::

    with JobClients(ctx) as clients:
        invoice = clients.xero().get_invoice(invoice_id)
"""

from __future__ import annotations

import time
from typing import Any, Self, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.admin import get_connection
from db.engine import make_session_factory
from db.models import Tenant
from integrations.asana.client import AsanaClient
from integrations.connection_auth import ConnectionAuth
from integrations.http import ApiClient
from integrations.hubspot.client import HubSpotClient
from integrations.shopify.client import ShopifyClient
from integrations.xero.client import XeroClient
from sync.context import JobContext
from sync.errors import PermanentJobError

DISPLAY = {"xero": "Xero", "hubspot": "HubSpot", "shopify": "Shopify", "asana": "Asana"}
MAX_CALL_TIMEOUT_S = 30.0

C = TypeVar("C", bound=ApiClient)


def job_engine(ctx: JobContext) -> Engine:
    """The runner's engine, as the job context holds it."""
    engine = getattr(ctx, "engine", None) or ctx._engine
    assert isinstance(engine, Engine)
    return engine


def session_factory(ctx: JobContext) -> sessionmaker[Session]:
    return make_session_factory(job_engine(ctx))


def tenant_name(ctx: JobContext) -> str:
    with session_factory(ctx)() as session:
        tenant = session.get(Tenant, ctx.tenant_id)
        return tenant.name if tenant is not None else f"tenant {ctx.tenant_id}"


class JobClients:
    """Builds each vendor's client once per job and closes them all at the end."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.factory = session_factory(ctx)
        self._clients: dict[str, ApiClient] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # -- one per vendor ---------------------------------------------------------------------
    def xero(self) -> XeroClient:
        return self._get("xero", XeroClient, lambda org: (str(self.ctx.settings.xero_api_url), {"tenant_id": org}))

    def hubspot(self) -> HubSpotClient:
        return self._get("hubspot", HubSpotClient, lambda _org: (str(self.ctx.settings.hubspot_api_url), {}))

    def shopify(self) -> ShopifyClient:
        def base(shop: str | None) -> tuple[str, dict[str, Any]]:
            if not shop:
                raise PermanentJobError(
                    f"the Shopify connection of {tenant_name(self.ctx)} names no shop; reconnect it"
                )
            return str(self.ctx.settings.shopify_api_url).replace("{shop}", shop), {}

        return self._get("shopify", ShopifyClient, base)

    def asana(self) -> AsanaClient:
        return self._get("asana", AsanaClient, lambda _org: (f"{self.ctx.settings.asana_api_url}/api/1.0", {}))

    def connection_org(self, system: str) -> str | None:
        """The external org id of the tenant's connection (Xero tenantId, shop domain, …)."""
        with self.factory() as session:
            return self._connection(session, system)[1]

    # -- internals --------------------------------------------------------------------------
    def _connection(self, session: Session, system: str) -> tuple[int, str | None]:
        try:
            connection = get_connection(session, self.ctx.tenant_id, system)
        except LookupError:
            raise PermanentJobError(
                f"Connect {DISPLAY[system]} for {tenant_name(self.ctx)}: the tenant has no {DISPLAY[system]} connection"
            ) from None
        return connection.id, connection.external_org_id

    def _get(self, system: str, cls: type[C], where: Any) -> C:
        existing = self._clients.get(system)
        if existing is not None:
            assert isinstance(existing, cls)
            return existing
        with self.factory() as session:
            connection_id, org = self._connection(session, system)
        base_url, extra = where(org)
        remaining = max(0.001, self.ctx.remaining_s)
        client = cls(
            base_url,
            ConnectionAuth(self.factory, self.ctx.settings, connection_id),
            recorder=self.ctx.recorder,
            timeout=min(MAX_CALL_TIMEOUT_S, remaining),
            deadline=time.monotonic() + remaining,
            sleep=self.ctx.sleep,
            **extra,
        )
        self._clients[system] = client
        return client
