"""Throttled logins: failures counted per account and per client address.

Each failed login counts against two keys, ``account:<email>`` and ``address:<ip>``. After
``login_free_failures`` a key must wait before its next try, 1 s, then 2 s, 4 s … up to
``login_max_delay_s``; at ``login_lockout_failures`` (an address: ``login_address_lockout_failures``,
since an office shares one) it is locked for ``login_lockout_minutes``. A success clears the
account's count; counts older than a lockout period start again from zero.

Both keys are checked *before* the password, so a throttled guess costs no argon2 work and
learns nothing, and unknown emails are counted exactly like known ones: no answer — the wait,
the lockout, the message — tells whether an account exists. Every failure and every lockout
is audited; an ADMIN can lift a lockout (:func:`unlock`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.auth import Actor, audit, authenticate, require_role, utcnow
from db.models import LoginFailure, User
from settings import Settings

ACCOUNT = "account:"
ADDRESS = "address:"


@dataclass(frozen=True)
class LoginResult:
    """The user on success; otherwise ``message``, fit to show whoever is trying."""

    user: User | None
    message: str = ""
    retry_after_s: int = 0


def keys_for(email: str, address: str | None) -> list[str]:
    keys = [ACCOUNT + email.strip().lower()[:320]]
    if address:
        keys.append(ADDRESS + address[:64])
    return keys


def _limit(settings: Settings, key: str) -> int:
    if key.startswith(ADDRESS):
        return settings.login_address_lockout_failures
    return settings.login_lockout_failures


def wait_s(session: Session, settings: Settings, keys: list[str], now: dt.datetime) -> int:
    """Seconds before any of ``keys`` may try again (0: now)."""
    window = dt.timedelta(minutes=settings.login_lockout_minutes)
    wait = 0.0
    for row in session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys))):
        if row.locked_until is not None and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
        elif row.last_failed_at > now - window and row.failures >= settings.login_free_failures:
            delay = min(2.0 ** (row.failures - settings.login_free_failures), settings.login_max_delay_s)
            wait = max(wait, delay - (now - row.last_failed_at).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def _count_failure(session: Session, settings: Settings, key: str, now: dt.datetime) -> LoginFailure:
    """One more failure for ``key`` (one statement, so concurrent failures all count)."""
    table = LoginFailure.__table__
    insert: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stale = table.c.last_failed_at < now - dt.timedelta(minutes=settings.login_lockout_minutes)
    stmt = (
        insert(table)
        .values(key=key, failures=1, last_failed_at=now)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"failures": case((stale, 1), else_=table.c.failures + 1), "last_failed_at": now},
        )
    )
    session.execute(stmt)
    row = session.get(LoginFailure, key, populate_existing=True)
    assert row is not None
    return row


def _record_failure(session: Session, settings: Settings, keys: list[str], now: dt.datetime) -> None:
    for key in keys:
        row = _count_failure(session, settings, key, now)
        limit = _limit(settings, key)
        if row.failures >= limit and (row.locked_until is None or row.locked_until <= now):
            row.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
            details = {"failures": row.failures, "until": row.locked_until.isoformat()}
            audit(session, Actor(email=key[:320], role="NONE"), "login_lockout", key[:255], details, allowed=False)


def attempt_login(
    session: Session, settings: Settings, email: str, password: str, address: str | None, now: dt.datetime | None = None
) -> LoginResult:
    """Check the throttle, then the password; count and audit a failure. The caller commits."""
    now = now or utcnow()
    keys = keys_for(email, address)
    who = Actor(email=email.strip().lower()[:320] or "?", role="NONE")
    wait = wait_s(session, settings, keys, now)
    if wait:
        audit(session, who, "login", details={"throttled_s": wait, "address": address}, allowed=False)
        return LoginResult(None, _wait_message(wait), wait)
    user = authenticate(session, email, password)
    if user is None:
        audit(session, who, "login", details={"address": address}, allowed=False)
        _record_failure(session, settings, keys, now)
        return LoginResult(None, "Wrong email or password.")
    session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
    return LoginResult(user)


def _wait_message(seconds: int) -> str:
    if seconds < 90:
        return f"Too many failed logins. Try again in {seconds} second{'s' if seconds != 1 else ''}."
    minutes = math.ceil(seconds / 60)
    return f"Too many failed logins. Try again in {minutes} minutes, or ask an admin to unlock it."


def lockouts(session: Session, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The keys locked right now, for the Admin page."""
    now = now or utcnow()
    rows = session.scalars(
        select(LoginFailure).where(LoginFailure.locked_until > now).order_by(LoginFailure.locked_until.desc())
    )
    return [
        {"key": r.key, "failures": r.failures, "last_failed_at": r.last_failed_at, "locked_until": r.locked_until}
        for r in rows
    ]


def unlock(session: Session, actor: Actor, key: str) -> bool:
    """Lift a lockout and forget the key's failures (ADMIN, audited); False if it was not locked."""
    require_role(session, actor, "ADMIN", "unlock_login", key[:255])
    result = session.execute(delete(LoginFailure).where(LoginFailure.key == key))
    deleted = int(result.rowcount)  # type: ignore[attr-defined]
    audit(session, actor, "unlock_login", key[:255], {"had_failures": bool(deleted)})
    return bool(deleted)
