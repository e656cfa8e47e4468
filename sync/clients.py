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
from typing import Any, Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.admin import get_connection
from db.engine import make_session_factory
from db.models import Tenant
from integrations.asana import ASANA
from integrations.asana.client import AsanaClient
from integrations.connection_auth import ConnectionAuth
from integrations.http import ApiClient
from integrations.hubspot import HUBSPOT
from integrations.hubspot.client import HubSpotClient
from integrations.quota import Governor, scaled
from integrations.registry import vendor
from integrations.shopify import SHOPIFY
from integrations.shopify.client import ShopifyClient
from integrations.vendor import C, MissingOrg, Vendor, make_client
from integrations.xero import XERO
from integrations.xero.client import XeroClient
from sync.context import JobContext
from sync.errors import PermanentJobError

MAX_CALL_TIMEOUT_S = 30.0


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

    # -- typed shorthands the workflows use ---------------------------------------------------
    def xero(self) -> XeroClient:
        return self.client(XERO)

    def hubspot(self) -> HubSpotClient:
        return self.client(HUBSPOT)

    def shopify(self) -> ShopifyClient:
        return self.client(SHOPIFY)

    def asana(self) -> AsanaClient:
        return self.client(ASANA)

    def connection_org(self, system: str) -> str | None:
        """The external org id of the tenant's connection (Xero tenantId, shop domain, …)."""
        with self.factory() as session:
            return self._connection(session, system)[1]

    def client(self, record: Vendor[C]) -> C:
        """The vendor's client as the tenant's connection, under the job's clock and step log."""
        existing = self._clients.get(record.system)
        if existing is not None:
            return existing  # type: ignore[return-value]  # stored under its own vendor's name
        with self.factory() as session:
            connection_id, org = self._connection(session, record.system)
        remaining = max(0.001, self.ctx.remaining_s)
        deadline = time.monotonic() + remaining
        auth = ConnectionAuth(
            self.factory, self.ctx.settings, connection_id, deadline=deadline, recorder=self.ctx.recorder
        )
        timeout = min(MAX_CALL_TIMEOUT_S, remaining)
        options: dict[str, Any] = {
            "recorder": self.ctx.recorder,
            "timeout": timeout,
            "deadline": deadline,
            "sleep": self.ctx.sleep,
            "governor": self._governor(record, connection_id, timeout),
        }
        try:
            client = make_client(record, self.ctx.settings, auth, org, **options)
        except MissingOrg as exc:
            raise PermanentJobError(f"{exc.message} ({tenant_name(self.ctx)})") from None
        self._clients[record.system] = client
        return client

    # -- internals --------------------------------------------------------------------------
    def _governor(self, record: Vendor[Any], connection_id: int, call_timeout_s: float) -> Governor | None:
        """The connection's quota governor (None for a vendor that declares no limits)."""
        if not record.limits:
            return None
        return Governor(
            job_engine(self.ctx),
            system=record.system,
            connection_id=connection_id,
            limits=scaled(record.limits, self.ctx.settings.quota_time_scale),
            holder=f"job:{self.ctx.job_id}",
            max_wait_s=self.ctx.settings.quota_max_wait_s * self.ctx.settings.quota_time_scale,
            # A call in flight holds its concurrency slot at most this long, even if its runner dies.
            lease_s=call_timeout_s + 5.0,
        )

    def _connection(self, session: Session, system: str) -> tuple[int, str | None]:
        try:
            connection = get_connection(session, self.ctx.tenant_id, system)
        except LookupError:
            name = vendor(system).display_name
            raise PermanentJobError(
                f"Connect {name} for {tenant_name(self.ctx)}: the tenant has no {name} connection"
            ) from None
        return connection.id, connection.external_org_id
