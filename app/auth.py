"""Who is logged in: the browser's session cookie, or optional OIDC via ``st.login``.

Logging in with a password happens on ``/session/login`` (``app/login_routes.py``), which sets a
signed HttpOnly cookie; every script run reads it (``st.context.cookies``) and checks its
``dashboard_sessions`` row again, so logout, the idle timeout, a password or role change and a
deactivation take effect on the next click. An actor put straight into ``st.session_state``
(page tests, single sign-on) is kept for the tab. Hiding buttons is only courtesy: every action
checks the role again on the server side (``app/actions.py``).
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import quote, urlencode, urlsplit

import streamlit as st

from app import data, session_cookie
from db import queries, web_sessions
from db.auth import Actor, audit

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


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(session_cookie.COOKIE)
    except Exception:  # no browser connection
        return None
    return value if isinstance(value, str) else None  # AppTest hands out a mock


def _cookie_actor(cookie: str) -> Actor | None:
    """The actor of the cookie's session, checked against the database on every run."""
    cfg = data.settings()
    sid = session_cookie.session_id(cfg, cookie)
    if sid is None:
        st.session_state[NOTICE] = "Your login expired; please log in again."
        return None
    with data.session() as s:
        checked = web_sessions.check(s, sid, dt.timedelta(minutes=cfg.session_timeout_min))
        s.rollback()  # end the read before writing (SQLite)
        if checked.stale:
            web_sessions.touch_quietly(s, sid)
    if checked.actor is None:
        st.session_state[NOTICE] = checked.reason
    return checked.actor


def recheck() -> None:
    """For live fragments (they rerun without the router): once the cookie's session has ended (logout in
    another tab, an account change, the idle timeout), rerun the whole page, which then asks for a login.
    A refresh is not activity: it never moves the idle timeout."""
    cookie = _cookie()
    if not cookie or ACTOR in st.session_state:
        return
    cfg = data.settings()
    sid = session_cookie.session_id(cfg, cookie)
    if sid is not None:
        with data.session() as s:
            if web_sessions.check(s, sid, dt.timedelta(minutes=cfg.session_timeout_min)).actor is not None:
                return
    st.rerun()


def current_actor() -> Actor | None:
    """The logged-in actor, or None (also when the idle timeout has passed)."""
    cookie = _cookie()
    if cookie and ACTOR not in st.session_state:
        return _cookie_actor(cookie)
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
    """End the login: the cookie's session is revoked in the database, so no tab can use it again."""
    cookie = _cookie()
    sid = session_cookie.session_id(data.settings(), cookie) if cookie else None
    if sid is not None:
        actor = _cookie_actor(cookie) if cookie else None
        with data.session() as s:
            web_sessions.end(s, sid)
            if actor is not None:
                audit(s, actor, "logout")
            s.commit()
        notice = notice or "You logged out."
    for key in (ACTOR, LAST_SEEN):
        st.session_state.pop(key, None)
    if notice:
        st.session_state[NOTICE] = notice
    if oidc_configured() and _oidc_logged_in():
        st.logout()


def login_path() -> str:
    """The login page, returning to the page and query this tab shows now."""
    try:
        url = st.context.url
    except Exception:  # no browser connection
        url = None
    path = urlsplit(url).path if isinstance(url, str) else "/"
    query = urlencode(st.query_params.to_dict())
    return "/session/login?next=" + quote((path or "/") + (f"?{query}" if query else ""), safe="")


def login_page() -> None:
    """What a tab shows without a login: why, and the way to the login page (or single sign-on)."""
    st.title("Zixly")
    notice = st.session_state.pop(NOTICE, None)
    st.info(notice or "Please log in.")
    # A link, not a button: the login page is a plain form outside the websocket (it sets the cookie).
    st.markdown(f'<a href="{login_path()}" target="_self">Log in</a>', unsafe_allow_html=True)
    if oidc_configured():
        st.divider()
        if st.query_params.get("sso") or st.button("Log in with single sign-on", key="login_sso"):
            st.login()
