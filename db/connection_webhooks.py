"""The SQL of connection webhooks: the state of the webhook Zixly keeps at a vendor, per connection.

A creation is recorded *before* the vendor is asked (with the SHA-256 of a single-use token
that goes in the target URL), so the listener can tell the vendor's handshake from anyone
else's: :func:`claim_handshake` accepts a token once, before it expires, and only while the
creation is in flight. Functions never commit: the caller owns the transaction (and must
commit :func:`begin_creation` before calling the vendor, whose handshake needs to see it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Connection, ConnectionWebhook

IN_FLIGHT = ("creating", "recreating")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class WebhookState:
    """What the dashboard shows of one connection's webhook."""

    connection_id: int
    tenant_id: int
    system: str
    state: str
    resource_gid: str
    webhook_gid: str | None
    reason: str | None
    checked_at: dt.datetime | None
    updated_at: dt.datetime


def get(session: Session, connection_id: int) -> ConnectionWebhook | None:
    return session.get(ConnectionWebhook, connection_id, populate_existing=True)


def begin_creation(
    session: Session,
    connection_id: int,
    *,
    resource_gid: str,
    state: str,
    reason: str | None,
    token: str,
    expires_at: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Record a creation in flight; False when another one already is (and has not expired).

    The webhook secret of the connection is forgotten: the handshake of this creation brings
    the new one, and the old webhook (if any) is gone or about to be.
    """
    values = {
        "state": state,
        "resource_gid": resource_gid,
        "reason": reason,
        "handshake_sha256": token_digest(token),
        "handshake_expires_at": expires_at,
        "updated_at": now,
    }
    row = get(session, connection_id)
    if row is None:
        try:
            with session.begin_nested():
                session.add(ConnectionWebhook(connection_id=connection_id, **values))
        except IntegrityError:
            return False  # another creation inserted the row a moment ago
    else:
        busy = (
            ConnectionWebhook.state.in_(IN_FLIGHT)
            & ConnectionWebhook.handshake_expires_at.is_not(None)
            & (ConnectionWebhook.handshake_expires_at > now)
        )
        done = session.execute(
            update(ConnectionWebhook)
            .where(ConnectionWebhook.connection_id == connection_id, ~busy)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return False
    session.execute(update(Connection).where(Connection.id == connection_id).values(webhook_secret_ciphertext=None))
    return True


def claim_handshake(session: Session, connection_id: int, token: str, now: dt.datetime) -> bool:
    """Spend the creation's token: True once, for the right token, before it expires."""
    done = session.execute(
        update(ConnectionWebhook)
        .where(
            ConnectionWebhook.connection_id == connection_id,
            ConnectionWebhook.state.in_(IN_FLIGHT),
            ConnectionWebhook.handshake_sha256 == token_digest(token),
            ConnectionWebhook.handshake_expires_at > now,
        )
        .values(handshake_sha256=None, handshake_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def mark_active(session: Session, connection_id: int, *, webhook_gid: str, resource_gid: str, now: dt.datetime) -> None:
    session.execute(
        update(ConnectionWebhook)
        .where(ConnectionWebhook.connection_id == connection_id)
        .values(
            state="active",
            webhook_gid=webhook_gid,
            resource_gid=resource_gid,
            reason=None,
            handshake_sha256=None,
            handshake_expires_at=None,
            checked_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def mark_checked(session: Session, connection_id: int, now: dt.datetime) -> None:
    session.execute(
        update(ConnectionWebhook)
        .where(ConnectionWebhook.connection_id == connection_id)
        .values(checked_at=now)
        .execution_options(synchronize_session=False)
    )


def mark_failed(session: Session, connection_id: int, reason: str, now: dt.datetime) -> None:
    """The creation failed: say why; its token is void."""
    session.execute(
        update(ConnectionWebhook)
        .where(ConnectionWebhook.connection_id == connection_id)
        .values(
            state="failed",
            webhook_gid=None,
            reason=reason[:1000],
            handshake_sha256=None,
            handshake_expires_at=None,
            checked_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def forget(session: Session, connection_id: int) -> None:
    """No webhook any more (deleted at the vendor, or the connection is gone): no row, no secret."""
    session.execute(delete(ConnectionWebhook).where(ConnectionWebhook.connection_id == connection_id))
    session.execute(update(Connection).where(Connection.id == connection_id).values(webhook_secret_ciphertext=None))


def states(session: Session, tenant_ids: list[int] | None = None) -> list[WebhookState]:
    """Every connection webhook (of ``tenant_ids``), for the dashboard."""
    stmt = select(
        ConnectionWebhook.connection_id,
        Connection.tenant_id,
        Connection.system,
        ConnectionWebhook.state,
        ConnectionWebhook.resource_gid,
        ConnectionWebhook.webhook_gid,
        ConnectionWebhook.reason,
        ConnectionWebhook.checked_at,
        ConnectionWebhook.updated_at,
    ).join(Connection, Connection.id == ConnectionWebhook.connection_id)
    if tenant_ids is not None:
        stmt = stmt.where(Connection.tenant_id.in_(tenant_ids))
    return [WebhookState(*row) for row in session.execute(stmt.order_by(ConnectionWebhook.connection_id))]
