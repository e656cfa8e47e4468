"""Logging in: local accounts (argon2), an idle timeout, and optional OIDC via ``st.login``.

The logged-in :class:`db.auth.Actor` lives in ``st.session_state``. Hiding buttons is only
courtesy: every action checks the role again on the server side (``app/actions.py``).
"""

from __future__ import annotations

import time

import streamlit as st

from app import data
from db import queries
from db.auth import Actor, audit
from db.login_throttle import attempt_login

ACTOR = "actor"
LAST_SEEN = "last_seen"
NOTICE = "login_notice"


def oidc_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (st.login's settings)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _oidc_logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # st.user is unavailable outside a browser session
        return False


def _oidc_actor() -> Actor | None:
    """The staff member behind an OIDC login; the role always comes from our users table."""
    if not oidc_configured():
        return None
    if not _oidc_logged_in():
        return None
    email = str(st.user.get("email") or "")
    with data.session() as s:
        user = queries.active_user(s, email) if email else None
        if user is None:
            st.session_state[NOTICE] = f"{email or 'This account'} has no Zixly access; ask an admin."
            return None
        actor = Actor(email=user["email"], role=user["role"], user_id=user["id"])
        audit(s, actor, "login", details={"method": "oidc"})
        s.commit()
    st.session_state[ACTOR] = actor
    return actor


def current_actor() -> Actor | None:
    """The logged-in actor, or None (also when the idle timeout has passed)."""
    actor: Actor | None = st.session_state.get(ACTOR) or _oidc_actor()
    if actor is None:
        return None
    now = time.time()
    last = st.session_state.get(LAST_SEEN)
    if last is not None and now - float(last) > data.settings().session_timeout_min * 60:
        logout(notice="Your session timed out; please log in again.")
        return None
    st.session_state[LAST_SEEN] = now
    return actor


def require_actor() -> Actor:
    """The logged-in actor; otherwise the login form takes the page's place."""
    actor = current_actor()
    if actor is None:
        login_page()
        st.stop()
    return actor


def require_page_role(actor: Actor, minimum: str) -> None:
    """Stop a page the actor's role may not see (the action layer checks again)."""
    if not actor.can(minimum):
        st.error(f"This page needs the {minimum} role; you are {actor.role}.")
        st.stop()


def client_address() -> str | None:
    """The browser's address as Streamlit saw it (behind a proxy: the proxy's, unless it forwards)."""
    try:
        address = st.context.ip_address
    except Exception:  # no browser connection
        return None
    return address if isinstance(address, str) else None  # AppTest hands out a mock


def logout(notice: str | None = None) -> None:
    for key in (ACTOR, LAST_SEEN):
        st.session_state.pop(key, None)
    if notice:
        st.session_state[NOTICE] = notice
    if oidc_configured() and _oidc_logged_in():
        st.logout()


def login_page() -> None:
    st.title("Zixly")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.info(notice)
    with st.form("login"):
        email = st.text_input("Email", key="login_email")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        with data.session() as s:
            result = attempt_login(s, data.settings(), email, password, client_address())
            s.commit()  # failures and lockouts are recorded whatever happens next
            user = result.user
            if user is None:
                st.error(result.message)
                return
            actor = Actor(email=user.email, role=user.role, user_id=user.id)
            audit(s, actor, "login", details={"method": "password"})
            s.commit()
        st.session_state[ACTOR] = actor
        st.session_state[LAST_SEEN] = time.time()
        st.rerun()
    if oidc_configured():
        st.divider()
        if st.button("Log in with single sign-on", key="login_sso"):
            st.login()
