"""Admin writes behind the dashboard: tenants, users, tokens, workflow settings.

Functions never commit and never check roles: the caller (``app/actions.py``) checks the
actor's role, writes the audit entry and commits, all in one transaction.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.auth import ROLE_RANK
from db.models import ApiToken, Connection, Tenant, User


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc
    return name


def create_tenant(session: Session, name: str, timezone: str = "UTC") -> int:
    name = name.strip()
    if not name:
        raise ValueError("a tenant needs a name")
    if session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
        raise ValueError(f"a tenant named {name!r} already exists")
    tenant = Tenant(name=name, timezone=check_timezone(timezone), active=True)
    session.add(tenant)
    session.flush()
    return tenant.id


def update_tenant(
    session: Session,
    tenant_id: int,
    *,
    name: str | None = None,
    timezone: str | None = None,
    active: bool | None = None,
) -> None:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {tenant_id} does not exist")
    if name is not None and name.strip() and name.strip() != tenant.name:
        if session.scalar(select(Tenant.id).where(Tenant.name == name.strip())) is not None:
            raise ValueError(f"a tenant named {name.strip()!r} already exists")
        tenant.name = name.strip()
    if timezone is not None:
        tenant.timezone = check_timezone(timezone)
    if active is not None:
        tenant.active = active
    session.flush()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} does not exist")
    return user


def update_user(session: Session, user_id: int, *, role: str | None = None, active: bool | None = None) -> None:
    user = get_user(session, user_id)
    if role is not None:
        if role not in ROLE_RANK:
            raise ValueError(f"unknown role {role!r}")
        user.role = role
    if active is not None:
        user.active = active
    session.flush()


def count_active_admins(session: Session) -> int:
    return len(session.scalars(select(User.id).where(User.role == "ADMIN", User.active.is_(True))).all())


def revoke_token(session: Session, token_id: int) -> None:
    result = session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise LookupError(f"token {token_id} does not exist or is already revoked")


def get_connection(session: Session, tenant_id: int, system: str) -> Connection:
    conn = session.scalar(select(Connection).where(Connection.tenant_id == tenant_id, Connection.system == system))
    if conn is None:
        raise LookupError(f"tenant {tenant_id} has no {system} connection")
    return conn
