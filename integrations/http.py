"""One HTTP policy for every vendor: errors, retries, call recording, the client factory.

A vendor client subclasses :class:`ApiClient`, sets ``system`` and overrides only what its
vendor does differently: ``raise_for_response`` (error mapping), ``retry_delay`` (rate-limit
headers) or ``is_retry_safe`` (which writes may be repeated). Everything else — path
templating, timeouts, the retry loop, the job-step recorder and the latency histogram — lives
here once.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, Self
from urllib.parse import quote

import httpx

from integrations.metrics import integration_api_latency_seconds, integration_rate_limited_total

VERSION = "0.1.0"
USER_AGENT = f"Zixly/{VERSION}"

# Methods whose repetition cannot create a second record at the vendor.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


# -- errors ----------------------------------------------------------------------------------


class IntegrationError(Exception):
    """A vendor call failed. ``permanent`` says whether retrying the same call can help."""

    permanent: ClassVar[bool] = False

    def __init__(self, message: str, *, system: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class TransientError(IntegrationError):
    """Timeouts, connection failures, 5xx and 409: the same call may succeed later."""


class PermanentError(IntegrationError):
    """400, 403, 404, 422…: repeating the call gives the same answer."""

    permanent = True


class RateLimited(TransientError):
    """The vendor answered 429; ``retry_after`` is how long it asked us to wait (seconds)."""

    def __init__(self, message: str, *, system: str, status_code: int | None = 429, retry_after: float = 1.0) -> None:
        super().__init__(message, system=system, status_code=status_code)
        self.retry_after = retry_after


class QuotaExhausted(TransientError):
    """The connection's quota (``limit``) is spent until ``until``: nothing was sent; the runner
    requeues the job for then without spending an attempt."""

    def __init__(self, message: str, *, system: str, until: dt.datetime, limit: str) -> None:
        super().__init__(message, system=system, status_code=None)
        self.until = until
        self.limit = limit


class AuthError(PermanentError):
    """The connection cannot authenticate (401 after a refresh, revoked grant): reconnect."""


class NotFound(PermanentError):
    """The named record does not exist at the vendor."""

    def __init__(self, message: str, *, system: str, status_code: int | None = 404, record: str | None = None) -> None:
        super().__init__(message, system=system, status_code=status_code)
        self.record = record


class Governor(Protocol):
    """Admits each call within the connection's vendor limits (``integrations/quota.py``)."""

    def admit(self, path_template: str, *, fits: Callable[[float], bool], sleep: Callable[[float], None]) -> Any: ...

    def done(self, ticket: Any, response: httpx.Response | None) -> None: ...


class CallRecorder(Protocol):
    """Receives every vendor call; the runner's job context writes them to ``job_steps``."""

    def __call__(self, system: str, method: str, path_template: str, status: int | None, latency_ms: float) -> None: ...


# -- helpers ---------------------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: loading the CA bundle takes ~40 ms, which each job
    would otherwise pay per vendor client it builds."""
    return httpx.create_ssl_context()


def build_http_client(
    base_url: str,
    *,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """The one way Zixly builds an ``httpx.Client`` (User-Agent, timeouts, no env proxies)."""
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        transport=transport,
        verify=_tls_context(),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers=merged,
        follow_redirects=False,
        trust_env=False,
    )


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th failure (1-based)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def error_message(response: httpx.Response, limit: int = 300) -> str:
    """A short, log-safe description of an error response (never the request)."""
    text = response.text[:limit].strip() if response.content else ""
    reason = response.reason_phrase or ""
    return f"{response.status_code} {reason}: {text}".strip().rstrip(":")


# -- the base client -------------------------------------------------------------------------


class ApiClient:
    """Base of every vendor client: ``request()`` with retries, recording and typed errors.

    ``deadline`` is a :func:`time.monotonic` instant (the job's deadline): no call or retry
    wait runs past it. ``sleep`` is injectable so tests never wait on the wall clock.
    """

    system: ClassVar[str] = "generic"
    default_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        recorder: CallRecorder | None = None,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        governor: Governor | None = None,
    ) -> None:
        self.governor = governor
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.recorder = recorder
        self.max_retries = max_retries
        self.sleep = sleep
        self.deadline = deadline
        self.http = build_http_client(
            self.base_url, auth=auth, transport=transport, timeout=timeout, headers=self.default_headers
        )

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request method -------------------------------------------------------------
    def request(
        self,
        method: str,
        path_template: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        **httpx_kwargs: Any,
    ) -> httpx.Response:
        """Send one logical call, retrying what is safe to retry; raise a typed error otherwise.

        ``path_template`` (e.g. ``/Invoices/{invoice_id}``) labels metrics and job steps, so
        ids never reach a label; ``path_params`` are percent-encoded into it.
        """
        method = method.upper()
        path = self.format_path(path_template, path_params)
        attempt = 0
        while True:
            attempt += 1
            ticket = self._admit(path_template)
            timeout = self._remaining_timeout()
            request = self.http.build_request(method, path, timeout=timeout, **httpx_kwargs)
            started = time.perf_counter()
            response: httpx.Response | None = None
            try:
                response = self.http.send(request)
            except httpx.TransportError as exc:
                self._record(method, path_template, None, started)
                error: IntegrationError = TransientError(
                    f"{self.system} {method} {path_template}: {type(exc).__name__}", system=self.system
                )
                # A request that never connected cannot have been processed by the vendor.
                retry_ok = isinstance(exc, httpx.ConnectError) or self.is_retry_safe(request)
                delay: float | None = backoff(attempt) if retry_ok else None
                cause: Exception = exc
            else:
                response.read()
                self._record(method, path_template, response.status_code, started)
                try:
                    self.raise_for_response(response, path_template)
                except IntegrationError as exc:
                    error, cause = exc, exc
                    if isinstance(exc, RateLimited):
                        integration_rate_limited_total.labels(self.system).inc()
                    retry_ok = response.status_code == 429 or self.is_retry_safe(request)
                    delay = self.retry_delay(response, attempt) if retry_ok else None
                else:
                    return response
            finally:
                if ticket is not None and self.governor is not None:
                    self.governor.done(ticket, response)
            if error.permanent or delay is None or attempt > self.max_retries or not self._fits(delay):
                if error is cause:
                    raise error
                raise error from cause
            self.sleep(delay)

    # -- hooks vendors override -------------------------------------------------------------
    def format_path(self, path_template: str, path_params: Mapping[str, Any] | None) -> str:
        if not path_params:
            return path_template
        return path_template.format(**{k: quote(str(v), safe="") for k, v in path_params.items()})

    def raise_for_response(self, response: httpx.Response, path_template: str) -> None:
        """Map a non-2xx response to a typed error (override for vendor error bodies)."""
        status = response.status_code
        if status < 400:
            return
        message = f"{self.system} {response.request.method} {path_template}: {error_message(response)}"
        if status == 429:
            retry_after = self.retry_delay(response, 1)
            raise RateLimited(message, system=self.system, retry_after=retry_after or 1.0)
        if status == 401:
            raise AuthError(message, system=self.system, status_code=status)
        if status in (404, 410):
            raise NotFound(message, system=self.system, status_code=status, record=response.request.url.path)
        if status in (408, 409, 425) or status >= 500:
            raise TransientError(message, system=self.system, status_code=status)
        raise PermanentError(message, system=self.system, status_code=status)

    def retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying ``response``; ``None`` means do not retry.

        The default honours ``Retry-After`` and otherwise backs off exponentially. Vendors
        override this to read their own rate-limit headers.
        """
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        return backoff(attempt)

    def is_retry_safe(self, request: httpx.Request) -> bool:
        """Whether sending ``request`` twice cannot create a duplicate at the vendor."""
        return request.method in IDEMPOTENT_METHODS or "Idempotency-Key" in request.headers

    # -- internals --------------------------------------------------------------------------
    def _admit(self, path_template: str) -> Any:
        """Wait for the connection's quota (no call, and no wait, runs past the deadline)."""
        if self.governor is None:
            return None
        prepare = getattr(self.http.auth, "prepare", None)
        if prepare is not None:
            prepare()  # the token first: between the admission and the vendor's count, no database wait
        return self.governor.admit(path_template, fits=self._fits, sleep=self.sleep)

    def _remaining_timeout(self) -> httpx.Timeout:
        total = self.timeout
        if self.deadline is not None:
            total = max(0.001, min(total, self.deadline - time.monotonic()))
        return httpx.Timeout(total, connect=min(total, 10.0))

    def _fits(self, delay: float) -> bool:
        return self.deadline is None or time.monotonic() + delay < self.deadline

    def _record(self, method: str, path_template: str, status: int | None, started: float) -> None:
        elapsed = time.perf_counter() - started
        integration_api_latency_seconds.labels(system=self.system, endpoint=path_template).observe(elapsed)
        if self.recorder is not None:
            self.recorder(self.system, method, path_template, status, elapsed * 1000.0)
