"""The login page and the gate over HTTP, as ``app/server.py`` mounts them, without a browser.

:func:`client` serves the same routes and middleware in front of a stand-in for Streamlit (it answers
every other path with 200 "dashboard"), reading the database and keys from the ``ZIXLY_*``
environment like the real process.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app import login_routes, session_cookie

HTML = {"Accept": "text/html,application/xhtml+xml"}


async def _dashboard(request: Request) -> PlainTextResponse:
    return PlainTextResponse("dashboard")


def client() -> TestClient:
    app = Starlette(
        routes=[*login_routes.ROUTES, Route("/{path:path}", _dashboard)],
        middleware=[Middleware(login_routes.LoginGate)],
    )
    login_routes._engine.cache_clear()  # the database of this test's environment
    return TestClient(app, base_url="http://127.0.0.1:8501", follow_redirects=False)


def form_token(page: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(c: TestClient, email: str, password: str, next_path: str = "/") -> tuple[int, str]:
    """Fill in the login form as a browser would: (status, the error shown or the redirect target)."""
    # The form as a browser without a login sees it (a logged-in one is sent straight on).
    fresh = TestClient(c.app, base_url=str(c.base_url), follow_redirects=False)
    page = fresh.get("/session/login", params={"next": next_path}, headers=HTML).text
    c.cookies.set(session_cookie.FORM_COOKIE, fresh.cookies[session_cookie.FORM_COOKIE])  # the same browser
    response = c.post(
        "/session/login",
        data={"email": email, "password": password, "next": next_path, "token": form_token(page)},
        headers={**HTML, "Origin": "http://127.0.0.1:8501"},
    )
    if response.status_code == 303:
        return 303, response.headers["location"]
    error = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.text)
    return response.status_code, error.group(1) if error else ""
