"""Staff accounts, API tokens, roles and the audit log.

Every action that changes something checks the actor's role *here*, on the server side,
whatever the UI shows; refusals are audited too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ROLES, ApiToken, AuditEntry, Tenant, User

ROLE_RANK = {"VIEWER": 1, "EDITOR": 2, "ADMIN": 3}
TOKEN_PREFIX = "zx_"  # noqa: S105 (a marker, not a secret)
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as much as a hit. A constant made
# with _hasher's parameters (tests/db/test_auth.py checks they still match), not hashed at import:
# every process importing this module (each listener worker, the dashboard) paid an argon2 hash.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$fv3Q5S9FldK7Djy8YieJ0Q$rU7tJkK4SPU2Mu5SRfr1TiCHoPmCcBSbzHjB2F6zpnY"


class Forbidden(PermissionError):
    """The actor's role does not allow this action."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff member, an API token's owner, or a system process."""

    email: str
    role: str
    user_id: int | None = None
    tenant_id: int | None = None  # a tenant-scoped API token: only this tenant's jobs

    def sees_tenant(self, tenant_id: int) -> bool:
        return self.tenant_id is None or self.tenant_id == tenant_id

    def can(self, minimum: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[minimum]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_user(session: Session, email: str, role: str, password: str, name: str | None = None) -> User:
    role = role.upper()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ValueError(f"a user with email {email} already exists")
    user = User(email=email, role=role, password_hash=hash_password(password), name=name, active=True)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, or None (same cost either way)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active or stored is _DUMMY_HASH:
        return None
    user.last_login_at = utcnow()
    if _hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    session: Session, user: User, name: str = "api", role: str | None = None, tenant_id: int | None = None
) -> str:
    """A new bearer token for ``user`` (limited to ``tenant_id`` when given).

    Only its SHA-256 is stored; the token is returned once.
    """
    role = (role or user.role).upper()
    if ROLE_RANK.get(role, 0) > ROLE_RANK[user.role]:
        raise ValueError("a token cannot have a higher role than its owner")
    if tenant_id is not None and session.get(Tenant, tenant_id) is None:
        raise ValueError(f"no tenant {tenant_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id, name=name, token_hash=_token_hash(token), prefix=token[:10], role=role, tenant_id=tenant_id
        )
    )
    session.flush()
    return token


def actor_for_token(session: Session, token: str) -> Actor | None:
    """The actor behind a bearer token, or None when unknown, revoked or its owner inactive."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_(None), User.active.is_(True))
    ).first()
    if row is None:
        return None
    api_token, user = row
    session.execute(update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=utcnow()))
    # A token never outranks its owner, even if the owner was demoted after it was made.
    role = min(api_token.role, user.role, key=lambda r: ROLE_RANK[r])
    return Actor(email=user.email, role=role, user_id=user.id, tenant_id=api_token.tenant_id)


def audit(
    session: Session,
    actor: Actor,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    allowed: bool = True,
) -> None:
    session.add(
        AuditEntry(
            user_id=actor.user_id, actor=actor.email, action=action, target=target, details=details, allowed=allowed
        )
    )
    session.flush()


def require_role(session: Session, actor: Actor, minimum: str, action: str, target: str | None = None) -> None:
    """Raise Forbidden (and audit the refusal) unless ``actor`` holds ``minimum`` or above."""
    if actor.can(minimum):
        return
    audit(session, actor, action, target, {"required_role": minimum, "role": actor.role}, allowed=False)
    session.commit()  # the refusal is recorded even though the action is not
    raise Forbidden(f"{actor.email} ({actor.role}) may not {action}: {minimum} or above required")
