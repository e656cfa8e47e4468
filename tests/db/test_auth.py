from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import auth
from db.auth import (
    Actor,
    Forbidden,
    actor_for_token,
    authenticate,
    create_api_token,
    create_user,
    require_role,
)
from db.models import ApiToken, AuditEntry


def test_a_user_logs_in_with_the_right_password_only(session: Session) -> None:
    create_user(session, "Ann@Example.com", "editor", "correct horse")
    assert authenticate(session, "ann@example.com", "correct horse") is not None
    assert authenticate(session, "ann@example.com", "wrong") is None
    assert authenticate(session, "nobody@example.com", "correct horse") is None


def test_an_unknown_email_costs_a_full_argon2_verify() -> None:
    # The dummy hash verified for unknown emails has the hasher's own parameters: a miss costs what a hit does.
    assert not auth._hasher.check_needs_rehash(auth._DUMMY_HASH)
    assert auth._hasher.verify(auth._DUMMY_HASH, "zixly-dummy-password")


def test_passwords_are_stored_as_argon2_hashes(session: Session) -> None:
    user = create_user(session, "ann@example.com", "VIEWER", "correct horse")
    assert user.password_hash is not None and user.password_hash.startswith("$argon2")
    assert "correct horse" not in user.password_hash


def test_an_inactive_user_cannot_log_in(session: Session) -> None:
    user = create_user(session, "ann@example.com", "VIEWER", "correct horse")
    user.active = False
    assert authenticate(session, "ann@example.com", "correct horse") is None


def test_bad_roles_and_duplicate_emails_are_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="role"):
        create_user(session, "ann@example.com", "OWNER", "pw-pw-pw-pw")
    create_user(session, "ann@example.com", "VIEWER", "pw-pw-pw-pw")
    with pytest.raises(ValueError, match="already exists"):
        create_user(session, "ANN@example.com", "VIEWER", "pw-pw-pw-pw")


def test_api_tokens_are_stored_hashed_and_resolve_to_their_owner(session: Session) -> None:
    user = create_user(session, "bot@example.com", "EDITOR", "pw-pw-pw-pw")
    token = create_api_token(session, user)
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored
    actor = actor_for_token(session, token)
    assert actor is not None and actor.email == "bot@example.com" and actor.role == "EDITOR"
    assert actor_for_token(session, token + "x") is None


def test_a_token_never_outranks_a_demoted_owner(session: Session) -> None:
    user = create_user(session, "bot@example.com", "ADMIN", "pw-pw-pw-pw")
    token = create_api_token(session, user)
    user.role = "VIEWER"
    actor = actor_for_token(session, token)
    assert actor is not None and actor.role == "VIEWER"


def test_a_refused_action_is_audited(session: Session) -> None:
    viewer = Actor(email="v@example.com", role="VIEWER")
    with pytest.raises(Forbidden):
        require_role(session, viewer, "EDITOR", "rerun", "job:1")
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.target, entry.allowed) == ("v@example.com", "rerun", "job:1", False)
    require_role(session, Actor(email="e@example.com", role="EDITOR"), "EDITOR", "rerun", "job:1")
