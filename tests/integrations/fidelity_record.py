"""Record every HTTP exchange the sandbox serves, whoever sends it (test-only WSGI middleware).

Zixly's clients are built deep inside the runner, the OAuth flow and the connection probe, so
the recording sits at the sandbox's edge instead of in the product: the product stays free of
test hooks, and nothing a client sends can slip past.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request


@dataclass
class Exchange:
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    def describe(self) -> str:
        return f"{self.method} {self.path}{'?' + self.query if self.query else ''} -> {self.status}"


class Recorder:
    """WSGI middleware keeping each (request, response) the wrapped app answers."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else (stream.read() if environ.get("wsgi.input_terminated") else b"")
        environ["wsgi.input"] = io.BytesIO(body)
        request = Request(environ, populate_request=False)
        exchange = Exchange(
            method=request.method,
            path=request.path,
            query=environ.get("QUERY_STRING", ""),
            request_headers=dict(request.headers),
            request_body=body,
        )

        def recording_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            exchange.status = int(status.split(" ", 1)[0])
            exchange.response_headers = dict(headers)
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, recording_start))
        exchange.response_body = b"".join(chunks)
        with self._lock:
            self.exchanges.append(exchange)
        return chunks

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()
