"""Vendor connections: their tokens and webhooks, OAuth handshakes and the vendors' quotas."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import CONNECTION_STATUSES, LIVE_ORG, Base, in_values
from db.types import BigId

WEBHOOK_STATES = ("creating", "active", "recreating", "failed")


class Connection(Base):
    """A tenant's OAuth link to one vendor system. Tokens are stored encrypted."""

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system"),
        CheckConstraint(in_values("status", CONNECTION_STATUSES), name="status"),
        # The listener resolves a webhook's tenant by (system, external org id).
        Index("ix_connections_system_external_org_id", "system", "external_org_id"),
        # One vendor organisation belongs to one tenant: otherwise whose its webhooks are is a guess.
        Index(
            "uq_connections_live_org",
            "system",
            "external_org_id",
            unique=True,
            postgresql_where=text(LIVE_ORG),
            sqlite_where=text(LIVE_ORG),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    external_org_id: Mapped[str | None] = mapped_column(String(200))
    org_name: Mapped[str | None] = mapped_column(String(200))
    token_ciphertext: Mapped[str | None] = mapped_column(Text)
    webhook_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="connected", server_default="connected")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_refresh_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class ConnectionWebhook(Base):
    """The webhook Zixly keeps at the vendor for one connection (Asana: one per onboarding project).

    While a creation is in flight, ``handshake_sha256`` holds the SHA-256 of the single-use
    token in the target URL; the listener accepts a handshake only for that token, before
    ``handshake_expires_at``, and clears it as it does.
    """

    __tablename__ = "connection_webhooks"
    __table_args__ = (CheckConstraint(in_values("state", WEBHOOK_STATES), name="state"),)

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    resource_gid: Mapped[str] = mapped_column(String(64))
    webhook_gid: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    handshake_sha256: Mapped[str | None] = mapped_column(String(64))
    handshake_expires_at: Mapped[dt.datetime | None]
    checked_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class OAuthState(Base):
    """An OAuth authorization in flight: the state, PKCE verifier and who started it."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(16))
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    shop: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[dt.datetime]


class QuotaUsage(Base):
    """Vendor calls spent per quota key (``conn:<id>`` or ``app:<system>``), limit and window start.

    Every runner charges this table before a vendor call (``db/quota.py``), so the limits hold
    across processes; old windows are pruned as new ones open.
    """

    __tablename__ = "quota_usage"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class QuotaLease(Base):
    """One vendor call in flight under a concurrency limit; it lapses at ``expires_at`` if its
    runner dies, so a killed runner cannot keep a slot."""

    __tablename__ = "quota_leases"
    __table_args__ = (Index("ix_quota_leases_key", "key", "limit_name", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    limit_name: Mapped[str] = mapped_column(String(32))
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime]


class ConnectionQuota(Base):
    """A tenant's own, lower limit for one of its connection's vendor limits (e.g. 1,000/day)."""

    __tablename__ = "connection_quotas"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
