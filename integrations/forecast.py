"""The connection expiry forecast: per live connection, when its refresh token dies if unused.

Reads each vendor record's ``refresh_token_dies`` rule (``integrations/expiry.py``) with what
the row and its stored token set say: when it connected, when it last refreshed, and the refresh
token's own expiry where the vendor stated one. The Connections page shows it; the runner's
alert check warns ``ZIXLY_ALERT_EXPIRY_WARN_DAYS`` before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Connection
from integrations.expiry import TokenLife
from integrations.registry import UnknownVendor, vendor
from integrations.tokens import TokenStore, TokenStoreError

LIVE = ("connected", "expiring")


@dataclass(frozen=True)
class Forecast:
    connection_id: int
    tenant_id: int
    system: str
    last_refresh_at: dt.datetime | None
    dies_at: dt.datetime | None  # None: the vendor's refresh tokens live until revoked


def forecast(connection: Connection, store: TokenStore) -> Forecast:
    try:
        tokens = store.load(connection)
    except TokenStoreError:
        tokens = None
    life = TokenLife(
        connected_at=connection.created_at,
        last_refresh_at=connection.last_refresh_at,
        refresh_expires_at=tokens.refresh_expires_at if tokens else None,
    )
    try:
        dies_at = vendor(connection.system).refresh_token_dies(life)
    except UnknownVendor:
        dies_at = None
    return Forecast(connection.id, connection.tenant_id, connection.system, connection.last_refresh_at, dies_at)


def live_forecasts(session: Session, store: TokenStore, tenant_id: int | None = None) -> list[Forecast]:
    """Forecasts of every live connection (of one tenant when given)."""
    query = select(Connection).where(Connection.status.in_(LIVE)).order_by(Connection.id)
    if tenant_id is not None:
        query = query.where(Connection.tenant_id == tenant_id)
    return [forecast(c, store) for c in session.scalars(query)]
