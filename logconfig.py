"""Structured logging for every Zixly process: JSON lines, context fields, no secrets.

Each process entry point calls :func:`configure_logging` once with its settings. Code then
logs with the standard library (``logging.getLogger(__name__)``); what it gets for free:

- **Context fields.** Inside ``with job_context(job_id=…, tenant=…, job_type=…):`` every line
  (from any logger, ours or a library's) carries ``job_id``, ``tenant`` and ``job_type``; inside
  ``with request_context():`` the listener's lines carry ``request_id``. The context lives in a
  :class:`contextvars.ContextVar`, so threads and asyncio tasks do not leak it into each
  other; a worker thread sets it around the job it runs (or runs in ``copy_context()``).
  Flask hooks, where a ``with`` block does not fit, use :func:`bind` / :func:`unbind`.
- **One handler.** Libraries that bring their own handlers (gunicorn, streamlit) are routed
  through ours with :func:`route_to_root`, so their lines are JSON and redacted too.
- **Redaction.** Applied to the finished record, message and exception text included:
  extra fields whose *name* looks secret (password, token, secret, authorization, cookie, …)
  are replaced; in text, ``Bearer …`` credentials, ``key=value`` / ``"key": "value"`` pairs with
  secret-looking keys, passwords in URLs and JWTs are masked; and every secret value from the
  settings (plus any passed to :func:`register_secret`) is masked wherever it appears.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url

from settings import Settings

MASK = "[REDACTED]"
CONTEXT_FIELDS = ("request_id", "job_id", "tenant", "job_type")

_context: ContextVar[Mapping[str, Any]] = ContextVar("zixly_log_context", default={})  # noqa: B039 - never mutated
_secrets: set[str] = set()

# Field names whose values are never logged.
_SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|authorization|auth_header|cookie|api[_-]?key|private[_-]?key|signature|credential|fernet",
    re.IGNORECASE,
)
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer abc / Basic abc
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {MASK}"),
    # password=…, "refresh_token": "…", client_secret: …, X-Api-Key=…
    (
        re.compile(
            r"""(?P<key>["']?[\w-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|signature|credential)[\w-]*["']?"""
            r"""\s*[:=]\s*)(?P<q>["']?)[^\s"'&,;}]+""",
            re.IGNORECASE,
        ),
        rf"\g<key>\g<q>{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.IGNORECASE), rf"\g<scheme>{MASK}@"),
    # JWTs (id tokens, some vendors' access tokens)
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"), MASK),
)


# -- context -------------------------------------------------------------------------------


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add fields to the current logging context; undo with :func:`unbind`."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def current_context() -> Mapping[str, Any]:
    return _context.get()


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside the block carries ``fields``."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


@contextmanager
def job_context(job_id: object, tenant: object, job_type: str) -> Iterator[None]:
    """Around one job attempt: its lines carry job_id, tenant and job_type."""
    with log_context(job_id=job_id, tenant=tenant, job_type=job_type):
        yield


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Around one listener request; yields the request id (a new one unless given)."""
    rid = request_id or uuid.uuid4().hex
    with log_context(request_id=rid):
        yield rid


class ContextFilter(logging.Filter):
    """Copies the logging context onto each record (attached to our handler, so every logger gets it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# -- redaction -----------------------------------------------------------------------------


def register_secret(value: str | SecretStr | None) -> None:
    """Mask this exact value wherever it appears in a log line (short values are ignored)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value and len(value) >= 6:
        _secrets.add(value)


def redact_text(text: str) -> str:
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secret-named fields and secret-looking text masked."""
    if key and key not in CONTEXT_FIELDS and _SECRET_NAME.search(key) and isinstance(value, str | bytes | SecretStr):
        return MASK  # a secret-named flag or count (signature_ok=True) stays readable
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, SecretStr):
        return MASK
    return value


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, with the finished record redacted."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {k: redact(v, k) for k, v in log_data.items()}


class RedactingTextFormatter(logging.Formatter):
    """Plain lines for a terminal (ZIXLY_LOG_JSON=false), context appended, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if hasattr(record, k))
        return redact_text(f"{line} [{context}]" if context else line)


# -- setup ---------------------------------------------------------------------------------


def _register_settings_secrets(settings: Settings) -> None:
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value)
    for key in settings.fernet_keys() if settings.secret_key is not None else ():
        register_secret(key.decode())  # ZIXLY_SECRET_KEY lists several keys: each one alone too
    # An unparsable URL fails loudly where the engine is made; logging must still start.
    with contextlib.suppress(Exception):
        register_secret(make_url(settings.database_url).password)


def configure_logging(settings: Settings, process: str, stream: Any = None) -> logging.Handler:
    """Install Zixly's one log handler on the root logger (idempotent); returns it.

    ``process`` (webhook, runner, dashboard, sandbox, db, demo) is added to every line.
    """
    _register_settings_secrets(settings)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name("zixly")
    handler.addFilter(ContextFilter())
    if settings.log_json:
        handler.setFormatter(
            RedactingJsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                timestamp="time",  # ISO 8601, UTC
                rename_fields={"levelname": "level", "name": "logger"},
                static_fields={"process": process},
            )
        )
    else:
        handler.setFormatter(RedactingTextFormatter(f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "zixly"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Libraries whose INFO lines are per-request noise (and may carry URLs).
    for noisy in ("httpx", "httpcore", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def route_to_root(*prefixes: str) -> None:
    """Make libraries that install their own handlers (streamlit, gunicorn) log through ours.

    Every existing logger named ``prefix`` or ``prefix.…`` loses its handlers and propagates
    to the root logger, so its lines are JSON, carry the context and are redacted.
    """
    names = [n for n in logging.Logger.manager.loggerDict if any(n == p or n.startswith(p + ".") for p in prefixes)]
    for name in [*prefixes, *names]:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
