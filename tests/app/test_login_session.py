"""A login that lasts like a web app's, over HTTP on both databases: the signed HttpOnly cookie, the
gate that sends a page to the login and back, and everything that ends a session (logout, idle
timeout, a new password, another role, a deactivation, a forged or expired cookie)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import login_http
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from app import session_cookie
from app.login_routes import safe_next
from db import admin, web_sessions
from db.auth import create_user, hash_password
from db.models import DashboardSession, User
from settings import load_settings

PASSWORD = "correct horse battery"
HTML = login_http.HTML


@pytest.fixture
def staff(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_factory: sessionmaker[Session]) -> int:
    for name, value in {"ZIXLY_ENV": "test", "ZIXLY_DATABASE_URL": db_url, "ZIXLY_VAR_DIR": str(tmp_path / "var"),
                        "ZIXLY_BLOB_URL": str(tmp_path / "blobs")}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    with session_factory() as s:
        create_user(s, "admin@example.com", "ADMIN", PASSWORD)
        user_id = create_user(s, "editor@example.com", "EDITOR", PASSWORD).id
        s.commit()
    return user_id


@pytest.fixture
def c(staff: int) -> Iterator[TestClient]:
    with login_http.client() as client:
        yield client
    from app.login_routes import _engine

    for engine in (_engine(load_settings().database_url),):
        engine.dispose()
    _engine.cache_clear()


def logged_in(c: TestClient, path: str = "/jobs?job=7") -> bool:
    return c.get(path, headers=HTML).status_code == 200


def test_a_deep_link_goes_through_the_login_and_back(c: TestClient) -> None:
    response = c.get("/jobs?job=7&status=FAILED", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/session/login?next=%2Fjobs%3Fjob%3D7%26status%3DFAILED"
    page = c.get(response.headers["location"], headers=HTML)
    assert 'name="next" value="/jobs?job=7&amp;status=FAILED"' in page.text
    assert page.headers["cache-control"] == "no-store"

    assert login_http.log_in(c, "editor@example.com", PASSWORD, "/jobs?job=7&status=FAILED") == (
        303, "/jobs?job=7&status=FAILED",
    )  # fmt: skip
    assert logged_in(c, "/jobs?job=7&status=FAILED")
    assert logged_in(c, "/overview")  # another page, another tab: the same cookie
    # Streamlit's own requests (assets, the websocket, health) never meet the gate.
    assert TestClient(c.app, base_url=str(c.base_url)).get("/_stcore/health").status_code == 200


def test_the_cookie_is_signed_expiring_httponly_and_samesite(c: TestClient) -> None:
    login_http.log_in(c, "editor@example.com", PASSWORD)
    page = c.get("/session/login", headers=HTML)  # already logged in: straight on
    assert page.status_code == 303
    cookie = c.cookies[session_cookie.COOKIE]
    # The Set-Cookie header a browser got:
    c.cookies.clear()
    token = login_http.form_token(c.get("/session/login", headers=HTML).text)
    response = c.post("/session/login", data={"email": "editor@example.com", "password": PASSWORD, "next": "/",
                                              "token": token}, headers=HTML)  # fmt: skip
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "max-age=43200" in set_cookie
    assert "path=/" in set_cookie

    c.cookies.clear()
    c.cookies[session_cookie.COOKIE] = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")  # tampered
    assert not logged_in(c)
    c.cookies[session_cookie.COOKIE] = session_cookie.sign(load_settings(), "a-made-up-session-id")  # no such session
    assert not logged_in(c)
    c.cookies[session_cookie.COOKIE] = cookie
    assert logged_in(c)
    assert session_cookie.session_id(load_settings(), cookie) is not None


def test_a_cookie_older_than_its_lifetime_is_refused(c: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    login_http.log_in(c, "editor@example.com", PASSWORD)
    cookie = c.cookies[session_cookie.COOKIE]
    later = time.time() + 12 * 3600 + 60  # session_max_hours is 12 by default, however busy the session
    monkeypatch.setattr(time, "time", lambda: later)
    assert session_cookie.session_id(load_settings(), cookie) is None
    assert not logged_in(c)


def test_a_login_form_posted_from_another_site_is_refused(c: TestClient) -> None:
    token = login_http.form_token(c.get("/session/login", headers=HTML).text)
    form = {"email": "editor@example.com", "password": PASSWORD, "next": "/", "token": token}
    assert c.post("/session/login", data=form, headers={"Origin": "https://evil.example"}).status_code == 200
    assert c.post("/session/login", data=form | {"token": "forged"}).status_code == 200
    assert session_cookie.COOKIE not in c.cookies


def test_a_login_token_works_only_in_the_browser_it_was_given_to(c: TestClient) -> None:
    """Login CSRF without an Origin header: another site cannot post a token its own visit fetched."""
    attacker = login_http.client()
    token = login_http.form_token(attacker.get("/session/login", headers=HTML).text)
    form = {"email": "editor@example.com", "password": PASSWORD, "next": "/", "token": token}
    assert c.post("/session/login", data=form).status_code == 200  # this browser has no form cookie at all
    page = c.get("/session/login", headers=HTML)  # it has one now, of its own
    set_cookie = page.headers["set-cookie"].lower()
    assert set_cookie.startswith(session_cookie.FORM_COOKIE) and "samesite=strict" in set_cookie
    assert "httponly" in set_cookie and "path=/session/login" in set_cookie
    refused = c.post("/session/login", data=form)
    assert refused.status_code == 200 and "This form expired" in refused.text
    assert session_cookie.COOKIE not in c.cookies
    # Its own token, from the page it was shown, logs in; the form cookie is then spent.
    own = login_http.form_token(c.get("/session/login", headers=HTML).text)
    response = c.post("/session/login", data=form | {"token": own})
    assert response.status_code == 303 and session_cookie.COOKIE in c.cookies
    assert session_cookie.FORM_COOKIE not in c.cookies
    form_cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(session_cookie.FORM_COOKIE))
    assert "max-age=0" in form_cookie.lower() or "expires=" in form_cookie.lower()


@pytest.mark.parametrize("path", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "", "jobs",
                                  "/session/login?next=/x"])  # fmt: skip
def test_next_is_only_a_path_on_this_site(path: str) -> None:
    assert safe_next(path) == "/"


def _end_by(change: str, s: Session, user_id: int) -> None:
    if change == "password":
        s.execute(update(User).where(User.id == user_id).values(password_hash=hash_password("a new password!")))
    elif change == "role":
        admin.update_user(s, user_id, role="VIEWER")
    elif change == "deactivation":
        admin.update_user(s, user_id, active=False)
    elif change == "logout everywhere":
        web_sessions.end_all(s, user_id)


CHANGES = {
    "password": "Your account changed (password, role or access); please log in again.",
    "role": "Your account changed (password, role or access); please log in again.",
    "deactivation": "Your account changed (password, role or access); please log in again.",
    "logout everywhere": "You logged out; log in again to continue.",
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_an_account_change_ends_its_sessions(
    c: TestClient, staff: int, session_factory: sessionmaker[Session], change: str
) -> None:
    login_http.log_in(c, "editor@example.com", PASSWORD)
    assert logged_in(c)
    with session_factory() as s:
        _end_by(change, s, staff)
        s.commit()
    assert not logged_in(c)
    page = c.get("/session/login", headers=HTML)
    assert CHANGES[change] in page.text
    assert "max-age=0" in page.headers["set-cookie"].lower() or "expires=" in page.headers["set-cookie"].lower()


def test_an_idle_session_times_out_and_use_keeps_it_alive(
    c: TestClient, staff: int, session_factory: sessionmaker[Session]
) -> None:
    login_http.log_in(c, "editor@example.com", PASSWORD)

    def idle(minutes: float) -> None:
        with session_factory() as s:
            s.execute(
                update(DashboardSession).values(last_seen_at=web_sessions.utcnow() - dt.timedelta(minutes=minutes))
            )
            s.commit()

    idle(59)  # the default timeout is 60 minutes; using it now moves last_seen_at on
    assert logged_in(c)
    with session_factory() as s:
        seen = s.scalar(select(DashboardSession.last_seen_at))
    assert seen is not None and web_sessions.utcnow() - seen < dt.timedelta(minutes=1)
    idle(61)
    assert not logged_in(c)
    assert "Your session timed out; please log in again." in c.get("/session/login", headers=HTML).text


def test_only_a_hash_of_the_session_id_is_stored(c: TestClient, session_factory: sessionmaker[Session]) -> None:
    login_http.log_in(c, "editor@example.com", PASSWORD)
    sid = session_cookie.session_id(load_settings(), c.cookies[session_cookie.COOKIE])
    assert sid is not None
    with session_factory() as s:
        stored = s.scalars(select(DashboardSession.id_hash)).all()
    assert len(stored) == 1 and sid not in stored[0] and len(stored[0]) == 64


def test_a_new_login_in_the_same_browser_ends_the_old_session(
    c: TestClient, session_factory: sessionmaker[Session]
) -> None:
    login_http.log_in(c, "editor@example.com", PASSWORD)
    c.cookies.clear()
    login_http.log_in(c, "editor@example.com", PASSWORD)  # another browser: both live
    assert login_http.log_in(c, "admin@example.com", PASSWORD)[0] == 303  # this browser again, as someone else
    with session_factory() as s:
        live = s.scalars(select(User.email).join(DashboardSession).where(DashboardSession.revoked_at.is_(None))).all()
    assert sorted(live) == ["admin@example.com", "editor@example.com"]
