"""The dashboard's login cookie: a signed, expiring session id (itsdangerous, keyed by ZIXLY_SECRET_KEY).

The signature stops forgery, the timestamp bounds the cookie's life to ``session_max_hours``, and the
id it carries points at a ``dashboard_sessions`` row that logout, an account change or the idle
timeout ends (``db/web_sessions.py``). Every Fernet key verifies and the first signs, so rotating
``ZIXLY_SECRET_KEY`` keeps logins made with the previous key.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

from settings import Settings

COOKIE = "zixly_session"
SALT = "zixly.dashboard-session"
FORM_SALT = "zixly.login-form"  # the login form's anti-forgery token
# The login form's token is bound to a random value in this browser's cookie (double submit), so a
# token fetched by someone else's browser — another site's page posting our form — is refused.
FORM_COOKIE = "zixly_login_form"
FORM_MAX_AGE_S = 3600


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with all of them.
    keys = [k.decode() for k in settings.fernet_keys()]
    return URLSafeTimedSerializer(list(reversed(keys)), salt=salt)


def max_age_s(settings: Settings) -> int:
    return settings.session_max_hours * 3600


def sign(settings: Settings, session_id: str) -> str:
    return _serializer(settings, SALT).dumps(session_id)


def session_id(settings: Settings, cookie: str | None) -> str | None:
    """The session id a cookie carries, or None when it is missing, forged or older than its lifetime."""
    if not cookie:
        return None
    try:
        value = _serializer(settings, SALT).loads(cookie, max_age=max_age_s(settings))
    except BadSignature:  # includes SignatureExpired
        return None
    return value if isinstance(value, str) else None


def form_nonce(cookie: str | None) -> str:
    """This browser's login-form value: the one its cookie holds (two open tabs both work), else a new one."""
    if cookie and 16 <= len(cookie) <= 64 and cookie.replace("-", "").replace("_", "").isalnum():
        return cookie
    return secrets.token_urlsafe(24)


def form_token(settings: Settings, nonce: str) -> str:
    return _serializer(settings, FORM_SALT).dumps(nonce)


def form_token_ok(settings: Settings, token: str | None, nonce: str | None) -> bool:
    """The token was made by us, within the hour, for the value this browser's cookie holds."""
    if not token or not nonce:
        return False
    try:
        value = _serializer(settings, FORM_SALT).loads(token, max_age=FORM_MAX_AGE_S)
    except BadSignature:
        return False
    return isinstance(value, str) and hmac.compare_digest(value.encode(), nonce.encode())
