"""The listener's front door: an ASGI app that buffers each request before the WSGI app sees it.

gunicorn's ``asgi`` worker reads requests on an event loop, where a slow client costs a
coroutine and some bytes, not a worker. This front waits there for the *whole* body, with a
deadline (``ZIXLY_WEBHOOK_READ_TIMEOUT_S`` → 408) and a size limit (``ZIXLY_WEBHOOK_MAX_BYTES``
→ 413, on the declared length before a byte is read, else as soon as it is passed), and only
then hands the complete request to the Flask app on a small thread pool (vendor deliveries to
``/webhook/<vendor>`` skip the WSGI layer: ``webhook.direct`` runs them on the same pool). So the app's threads
only ever run requests that are fully here: they never wait on a client.

The answer is buffered the same way (the listener's answers are small) and written by the loop.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from webhook import SECURITY_HEADERS
from webhook.problems import PROBLEM_JSON

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Headers the front consumes: the app gets the whole body with its exact Content-Length.
_HOP_BY_HOP = {"HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"}


class Direct(Protocol):
    """Routes served without the WSGI app (``webhook.direct``): run in a pool thread, never raise."""

    def serves(self, scope: Scope) -> bool: ...

    def __call__(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]: ...


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _problem(status: int, title: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read: the connection ends
        *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
    ]
    return status, headers, body


class BufferedWSGI:
    """ASGI app serving ``wsgi_app`` on ``threads`` threads, each request buffered whole first."""

    def __init__(
        self,
        wsgi_app: WSGIApp,
        *,
        read_timeout_s: float,
        max_bytes: int,
        threads: int,
        direct: Direct | None = None,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.direct = direct
        self.read_timeout_s = read_timeout_s
        self.max_bytes = max_bytes
        self.threads = threads
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        # Made lazily, in the worker process (never across a fork).
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook")
        return self._executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # Anything else (websocket) is not served: returning closes it.

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._executor is not None:
                    self._executor.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._early(
                scope, send, started, 413, "Content Too Large", f"the body may be at most {self.max_bytes} bytes"
            )
            return
        try:
            body = await self._read_body_in_time(receive)
        except TimeoutError:
            log.warning(
                "request body not received in time",
                extra={"path": scope.get("path"), "timeout_s": self.read_timeout_s},
            )
            detail = f"the request was not received within {self.read_timeout_s:g} s"
            await self._early(scope, send, started, 408, "Request Timeout", detail)
            return
        except _TooLarge:
            await self._early(
                scope, send, started, 413, "Content Too Large", f"the body may be at most {self.max_bytes} bytes"
            )
            return
        except _Disconnected:
            return
        loop = asyncio.get_running_loop()
        if self.direct is not None and self.direct.serves(scope):
            status, headers, content = await loop.run_in_executor(self.executor, self.direct, scope, body)
        else:
            environ = _environ(scope, body)
            status, headers, content = await loop.run_in_executor(self.executor, self._run_app, environ)
        await _answer(send, status, headers, content)

    async def _early(self, scope: Scope, send: Send, started: float, status: int, title: str, detail: str) -> None:
        """Answer before the app runs, counted in the listener's metrics (``route="early"``)."""
        # Imported here: prometheus_client must not be imported before ``python -m webhook`` has
        # set PROMETHEUS_MULTIPROC_DIR (webhook.server, which imports this module, comes first).
        from webhook.metrics import observe_early_answer

        observe_early_answer(scope.get("method", ""), status, time.perf_counter() - started)
        await _answer(send, *_problem(status, title, detail))

    async def _read_body_in_time(self, receive: Receive) -> bytes:
        """The body, or ``TimeoutError`` once ``read_timeout_s`` has passed.

        Not ``asyncio.wait_for``: on Python 3.11 a cancellation that meets a chunk arriving in
        the same loop iteration can be swallowed by the server's receive, and ``wait_for`` then
        waits for the body after all (a client trickling bytes kept its connection past the
        deadline). Here the deadline answers at once; the reader is cancelled and left to end
        with the connection, which the 408 closes.
        """
        reader = asyncio.ensure_future(self._read_body(receive))
        done, _ = await asyncio.wait({reader}, timeout=self.read_timeout_s)
        if reader in done:
            return reader.result()
        reader.cancel()
        reader.add_done_callback(_discard_outcome)
        raise TimeoutError

    async def _read_body(self, receive: Receive) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_bytes:
                    raise _TooLarge
                parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _run_app(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """In a pool thread: run the WSGI app to completion, its answer buffered."""
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return lambda _data: None  # the legacy write() callable; not used by Flask

        result = self.wsgi_app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        return (
            int(status.split(" ", 1)[0]),
            [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            content,
        )


def _discard_outcome(task: asyncio.Future[bytes]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late disconnect is expected, not worth a log line


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server's parser refuses a malformed length before we get here
    return None


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """PEP 3333 environ for a complete request."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope["headers"]:
        if b"_" in raw_name:  # X_Forwarded_For would pose as X-Forwarded-For in the environ (gunicorn drops it too)
            continue
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        key = f"HTTP_{name}"
        if key in _HOP_BY_HOP:
            continue
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
