"""The login page and the gate in front of the dashboard, served by ``app/server.py`` beside Streamlit.

A Streamlit script cannot set an HttpOnly cookie (it talks to the browser over a websocket), so
logging in is a plain HTML form on ``/session/login``: it checks the password (throttled, audited),
starts a ``dashboard_sessions`` row and answers with the signed cookie and a redirect to where the
user was going. :class:`LoginGate` sends a page request without a live session to that form with
``next`` set to the page's URL, so a reload, a new tab or a shared link (``/jobs?job=671``) opens
the page itself once logged in. The script reads the same cookie (``st.context.cookies``) and checks
the session again on every run (``app/auth.py``).
"""

from __future__ import annotations

import datetime as dt
import html
import time
from functools import lru_cache
from urllib.parse import quote, urlsplit

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app import session_cookie
from db import web_sessions
from db.auth import Actor, audit
from db.engine import is_busy, make_engine, make_session_factory
from db.login_throttle import attempt_login
from settings import Settings, load_settings

LOGIN_PATH = "/session/login"
BUSY_RETRIES = 5
STREAMLIT_AUTH_COOKIE = "_streamlit_user"  # st.login's (OIDC) cookie: the script checks that login itself
# Requests the gate never stops: Streamlit's own machinery, assets, and the login page itself.
OPEN_PREFIXES = ("/_stcore", "/static", "/media", "/component", "/app/static", "/session/", "/auth/",
                 "/oauth2callback", "/favicon")  # fmt: skip


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def settings() -> Settings:
    return load_settings()


def safe_next(value: str | None) -> str:
    """Only a path on this site: never another host (an open redirect), never the login page again."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\", LOGIN_PATH)):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def check_cookie(cfg: Settings, cookie: str | None) -> web_sessions.SessionCheck | None:
    """The session behind a cookie (None: no cookie or a forged or expired one)."""
    sid = session_cookie.session_id(cfg, cookie)
    if sid is None:
        return None
    with make_session_factory(_engine(cfg.database_url))() as s:
        result = web_sessions.check(s, sid, dt.timedelta(minutes=cfg.session_timeout_min))
        s.rollback()  # end the read before writing (SQLite)
        if result.stale:
            web_sessions.touch_quietly(s, sid)
    return result


def oidc_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (st.login's settings)."""
    import streamlit as st

    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _page(
    cfg: Settings, nonce: str, next_path: str, notice: str = "", error: str = "", email: str = ""
) -> HTMLResponse:
    """The form, its token bound to ``nonce``, which the response also sets as this browser's form cookie."""
    token = session_cookie.form_token(cfg, nonce)

    def esc(v: str) -> str:
        return html.escape(v, quote=True)

    notice_html = f'<p class="notice" role="status">{esc(notice)}</p>' if notice else ""
    error_html = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    # Single sign-on is Streamlit's st.login, started from the script: the gate lets ?sso=1 through.
    sso_html = '<p><a href="/?sso=1">Log in with single sign-on</a></p>' if oidc_configured() else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Zixly</title>
<style>
 body {{ font-family: system-ui, sans-serif; background: #f6f7f9; color: #1f2430; margin: 0; }}
 main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: .75rem;
        box-shadow: 0 1px 4px rgba(0,0,0,.08); }}
 h1 {{ margin: 0 0 1.25rem; font-size: 1.6rem; }}
 label {{ display: block; margin: .9rem 0 .3rem; font-size: .9rem; }}
 input {{ width: 100%; box-sizing: border-box; padding: .55rem .6rem; border: 1px solid #c8ccd4;
         border-radius: .4rem; font-size: 1rem; }}
 button {{ margin-top: 1.3rem; width: 100%; padding: .6rem; border: 0; border-radius: .4rem;
          background: #ff4b4b; color: #fff; font-size: 1rem; cursor: pointer; }}
 .notice {{ background: #e8f0fe; padding: .6rem .8rem; border-radius: .4rem; }}
 .error {{ background: #fdecea; color: #8a1c1c; padding: .6rem .8rem; border-radius: .4rem; }}
</style></head>
<body><main>
<h1>Zixly</h1>
{notice_html}{error_html}
<form method="post" action="{LOGIN_PATH}">
 <input type="hidden" name="next" value="{esc(next_path)}">
 <input type="hidden" name="token" value="{esc(token)}">
 <label for="email">Email</label>
 <input id="email" name="email" type="email" autocomplete="username" required autofocus value="{esc(email)}">
 <label for="password">Password</label>
 <input id="password" name="password" type="password" autocomplete="current-password" required>
 <button type="submit">Log in</button>
</form>
{sso_html}
</main></body></html>"""
    # The page is never framed and never cached: it carries a form token.
    headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
    response = HTMLResponse(body, headers=headers)
    # Strict: another site's page posting this form sends no cookie, so its token cannot match.
    response.set_cookie(
        session_cookie.FORM_COOKIE, nonce, max_age=session_cookie.FORM_MAX_AGE_S, path=LOGIN_PATH,
        httponly=True, samesite="strict",
    )  # fmt: skip
    return response


def _same_origin(request: Request) -> bool:
    """A POST from our own page (login CSRF): the browser's Origin, when sent, names this host."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _set_cookie(response: Response, request: Request, cfg: Settings, sid: str) -> None:
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(
        session_cookie.COOKIE, session_cookie.sign(cfg, sid), max_age=session_cookie.max_age_s(cfg),
        httponly=True, samesite="lax", secure=secure, path="/",
    )  # fmt: skip


def _log_in(
    cfg: Settings, email: str, password: str, address: str | None, old_cookie: str | None
) -> tuple[str | None, str]:
    """(a new session id, "") or (None, the throttle's message fit to show) when the login failed."""
    with make_session_factory(_engine(cfg.database_url))() as s:
        result = attempt_login(s, cfg, email, password, address)
        s.commit()  # failures and lockouts are recorded whatever happens next
        user = result.user
        if user is None:
            return None, result.message
        old = session_cookie.session_id(cfg, old_cookie)
        if old is not None:
            web_sessions.end(s, old)  # this browser's previous login, if any
        sid = web_sessions.start(s, user, address)
        audit(s, Actor(email=user.email, role=user.role, user_id=user.id), "login", details={"method": "password"})
        s.commit()
    return sid, ""


def _log_in_when_free(
    cfg: Settings, email: str, password: str, address: str | None, old_cookie: str | None
) -> tuple[str | None, str]:
    """:func:`_log_in`, tried again while SQLite is busy (the four processes of ``make run`` share one
    file; its transaction rolled back, so a retry does it once)."""
    for attempt in range(BUSY_RETRIES + 1):
        try:
            return _log_in(cfg, email, password, address, old_cookie)
        except OperationalError as exc:
            if not is_busy(exc) or attempt == BUSY_RETRIES:
                raise
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


async def login(request: Request) -> Response:
    cfg = settings()
    cookie = request.cookies.get(session_cookie.COOKIE)
    form_cookie = request.cookies.get(session_cookie.FORM_COOKIE)
    nonce = session_cookie.form_nonce(form_cookie)
    if request.method == "GET":
        next_path = safe_next(request.query_params.get("next"))
        checked = await run_in_threadpool(check_cookie, cfg, cookie)
        if checked is not None and checked.actor is not None:
            return RedirectResponse(next_path, status_code=303)  # already logged in
        notice = checked.reason if checked is not None else ""
        response = _page(cfg, nonce, next_path, notice=notice)
        if cookie:
            response.delete_cookie(session_cookie.COOKIE, path="/")
        return response
    form = await request.form()
    next_path = safe_next(str(form.get("next") or "/"))
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    token_ok = session_cookie.form_token_ok(cfg, str(form.get("token") or ""), form_cookie)
    if not _same_origin(request) or not token_ok:
        return _page(cfg, nonce, next_path, error="This form expired; please try again.", email=email)
    address = request.client.host if request.client else None
    sid, message = await run_in_threadpool(_log_in_when_free, cfg, email, password, address, cookie)
    if sid is None:
        return _page(cfg, nonce, next_path, error=message, email=email)
    redirect = RedirectResponse(next_path, status_code=303)
    _set_cookie(redirect, request, cfg, sid)
    redirect.delete_cookie(session_cookie.FORM_COOKIE, path=LOGIN_PATH)  # used up: the next form gets a new one
    return redirect


ROUTES = [Route(LOGIN_PATH, login, methods=["GET", "POST"])]


class LoginGate:
    """ASGI middleware: a page request without a live session goes to the login form, ``next`` = its URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if "text/html" not in request.headers.get("accept", ""):
            await self.app(scope, receive, send)
            return
        cookie = request.cookies.get(session_cookie.COOKIE)
        if cookie is None and (STREAMLIT_AUTH_COOKIE in request.cookies or request.query_params.get("sso")):
            await self.app(scope, receive, send)  # a single-sign-on login: the script checks it
            return
        checked = await run_in_threadpool(check_cookie, settings(), cookie) if cookie else None
        if checked is not None and checked.actor is not None:
            await self.app(scope, receive, send)
            return
        target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        response = RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
        await response(scope, receive, send)
