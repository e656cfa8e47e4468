"""Dashboard sessions: the server side of a browser's login cookie.

The cookie (signed by ``app/session_cookie.py``) carries a random session id; this table holds its
SHA-256, so a copy of the database cannot be replayed as a cookie. A session ends when

* its user logs out (``revoked_at``),
* it is idle longer than the timeout (``last_seen_at``),
* the account changes: a new password, another role or a deactivation (``user_stamp`` no longer
  matches), so none of those paths has to remember to end sessions, including a CLI or SQL edit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.auth import Actor, utcnow
from db.models import DashboardSession, User

# last_seen_at is written at most this often per session: enough for an idle timeout counted in
# minutes, and a dashboard busy with clicks costs one small write a minute, not one per click.
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SessionCheck:
    """The actor of a live session, or why there is none (a sentence fit for the login page)."""

    actor: Actor | None
    reason: str = ""
    stale: bool = False  # last_seen_at is due an update: call :func:`touch` in a transaction of its own


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def user_stamp(user: User) -> str:
    """A digest of what a session depends on: the password (its hash), the role and being active."""
    return hashlib.sha256(f"{user.password_hash}|{user.role}|{bool(user.active)}".encode()).hexdigest()


def start(session: Session, user: User, address: str | None = None, now: dt.datetime | None = None) -> str:
    """A new session for ``user``; returns its id (for the cookie; only its hash is stored). Caller commits."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    session.add(
        DashboardSession(
            id_hash=_hash(session_id), user_id=user.id, user_stamp=user_stamp(user), created_at=now,
            last_seen_at=now, address=(address or None) and address[:64],
        )
    )  # fmt: skip
    session.flush()
    return session_id


def check(
    session: Session, session_id: str, idle_timeout: dt.timedelta, now: dt.datetime | None = None
) -> SessionCheck:
    """The actor behind ``session_id`` if the session is live (a read only)."""
    now = now or utcnow()
    row = session.execute(
        select(DashboardSession, User)
        .join(User, User.id == DashboardSession.user_id)
        .where(DashboardSession.id_hash == _hash(session_id))
    ).first()
    if row is None:
        return SessionCheck(None, "Please log in.")
    ds, user = row
    if ds.revoked_at is not None:
        return SessionCheck(None, "You logged out; log in again to continue.")
    if not user.active or ds.user_stamp != user_stamp(user):
        return SessionCheck(None, "Your account changed (password, role or access); please log in again.")
    if now - ds.last_seen_at > idle_timeout:
        return SessionCheck(None, "Your session timed out; please log in again.")
    return SessionCheck(
        Actor(email=user.email, role=user.role, user_id=user.id), stale=now - ds.last_seen_at >= TOUCH_EVERY
    )


def touch(session: Session, session_id: str, now: dt.datetime | None = None) -> None:
    """Mark a session used (the idle timeout counts from here). Caller commits.

    A write of its own, not the tail of :func:`check`'s read: on SQLite a read transaction that
    turns into a write after another process wrote fails at once with "database is locked".
    """
    session.execute(
        update(DashboardSession)
        .where(DashboardSession.id_hash == _hash(session_id))
        .values(last_seen_at=now or utcnow())
    )


def end(session: Session, session_id: str, now: dt.datetime | None = None) -> None:
    """Revoke one session (logout). Caller commits."""
    session.execute(
        update(DashboardSession)
        .where(DashboardSession.id_hash == _hash(session_id), DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


def end_all(session: Session, user_id: int, now: dt.datetime | None = None) -> int:
    """Revoke every session of a user ("log out everywhere"); returns how many. Caller commits."""
    result = session.execute(
        update(DashboardSession)
        .where(DashboardSession.user_id == user_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def touch_quietly(session: Session, session_id: str) -> None:
    """:func:`touch` and commit; a busy database skips it (the next click tries again), never the page."""
    try:
        touch(session, session_id)
        session.commit()
    except OperationalError:
        session.rollback()
