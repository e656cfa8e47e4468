"""Login throttling: growing waits, then a lockout, per account and per address; nothing tells
whether an account exists; every failure and lockout is audited; an ADMIN lifts a lockout."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.auth import Actor, Forbidden, create_user
from db.login_throttle import LoginResult, attempt_login, lockouts, unlock
from db.models import AuditEntry
from settings import Settings

T0 = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
ADDRESS = "203.0.113.7"


@pytest.fixture
def ann(session: Session) -> None:
    create_user(session, "ann@example.com", "EDITOR", "correct horse battery")
    session.commit()


def _guess(
    session: Session, settings: Settings, at: dt.datetime, email: str = "ann@example.com", pw: str = "nope"
) -> LoginResult:
    result = attempt_login(session, settings, email, pw, ADDRESS, now=at)
    session.commit()
    return result


def test_twelve_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(
    session: Session, settings: Settings, ann: None
) -> None:
    at = T0
    waits = []
    for _ in range(settings.login_lockout_failures):
        result = _guess(session, settings, at)
        assert result.user is None and result.message == "Wrong email or password."
        # The next try must wait: nothing for the free failures, then 1, 2, 4 … seconds.
        probe = attempt_login(session, settings, "ann@example.com", "nope", ADDRESS, now=at)
        session.rollback()
        waits.append(probe.retry_after_s)
        if probe.retry_after_s <= settings.login_max_delay_s:  # wait out the delay, not the lockout
            at += dt.timedelta(seconds=probe.retry_after_s)
    assert waits[: settings.login_free_failures - 1] == [0] * (settings.login_free_failures - 1)
    assert waits[settings.login_free_failures - 1 : settings.login_free_failures + 2] == [1, 2, 4]
    # Locked: the right password is refused for the whole lockout, with a message that says so.
    right = _guess(session, settings, at + dt.timedelta(minutes=1), pw="correct horse battery")
    assert right.user is None and "Too many failed logins" in right.message
    assert right.retry_after_s > 10 * 60
    # After the lockout the right password works and clears the account's count.
    later = at + dt.timedelta(minutes=settings.login_lockout_minutes, seconds=1)
    assert _guess(session, settings, later, pw="correct horse battery").user is not None
    assert _guess(session, settings, later + dt.timedelta(seconds=1)).retry_after_s == 0


def test_an_unknown_account_is_throttled_exactly_like_a_known_one(
    session: Session, settings: Settings, ann: None
) -> None:
    settings = settings.model_copy(update={"login_lockout_failures": 5})

    def run(email: str) -> list[tuple[str, int]]:
        out = []
        at = T0
        for _ in range(settings.login_lockout_failures + 1):
            result = attempt_login(session, settings, email, "nope", None, now=at)
            session.commit()
            out.append((result.message, result.retry_after_s))
            waited = result.retry_after_s if result.retry_after_s <= settings.login_max_delay_s else 0
            at += dt.timedelta(seconds=waited + 1)
        return out

    assert run("ann@example.com") == run("ghost@example.com")


def test_one_address_guessing_many_accounts_is_slowed_then_locked(session: Session, settings: Settings) -> None:
    settings = settings.model_copy(update={"login_address_lockout_failures": 8})  # each guess costs an argon2 hash
    at = T0
    for i in range(settings.login_address_lockout_failures):
        _guess(session, settings, at, email=f"user{i}@example.com")
        at += dt.timedelta(seconds=settings.login_max_delay_s)
    blocked = _guess(session, settings, at, email="fresh@example.com")
    assert "Too many failed logins" in blocked.message
    # Another address may still try that account.
    other = attempt_login(session, settings, "fresh@example.com", "nope", "198.51.100.1", now=at)
    assert other.message == "Wrong email or password."


def test_failures_and_lockouts_are_audited_and_an_admin_unlocks(
    session: Session, settings: Settings, ann: None
) -> None:
    settings = settings.model_copy(update={"login_lockout_failures": 5})
    at = T0
    while not lockouts(session, at):
        result = attempt_login(session, settings, "ann@example.com", "nope", ADDRESS, now=at)
        session.commit()
        at += dt.timedelta(seconds=max(1, result.retry_after_s))
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries if e.action == "login_lockout"] == ["login_lockout"]
    assert sum(1 for e in entries if e.action == "login" and not e.allowed) >= settings.login_lockout_failures
    assert all(e.details is None or "nope" not in str(e.details) for e in entries)  # never the password

    with pytest.raises(Forbidden):
        unlock(session, Actor("eve@example.com", "EDITOR"), "account:ann@example.com")
    assert unlock(session, Actor("admin@example.com", "ADMIN", None), "account:ann@example.com")
    session.commit()
    assert attempt_login(session, settings, "ann@example.com", "correct horse battery", None, now=at).user is not None
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.action == "unlock_login")).all()
