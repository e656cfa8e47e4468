"""The listener's gunicorn worker: gunicorn's ``asgi`` worker with two changes to its HTTP/1 protocol.

* **A deadline on the request head.** A client trickling its request line and headers is
  answered 408 (problem+json) and closed once ``ZIXLY_WEBHOOK_READ_TIMEOUT_S`` has passed since
  the head's first byte; the body then has its own deadline in ``webhook.asgi``. On the event
  loop such a client costs memory only, but without a deadline it would hold a connection slot
  (``worker_connections``) forever.
* **Half-closed clients get their answer.** A client may shut its sending side once the request
  is sent and wait for the response (``shutdown(SHUT_WR)``). asyncio's default closes the
  connection on that EOF, dropping the answer; the sync worker used to send it. Here the
  connection stays open for writing while a request is in flight.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from webhook import SECURITY_HEADERS
from webhook.problems import PROBLEM_JSON


def _timeout_response(timeout_s: float) -> bytes:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Request Timeout",
            "status": 408,
            "detail": f"the request was not received within {timeout_s:g} s",
        }
    ).encode()
    security = "".join(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS.items())
    head = (
        f"HTTP/1.1 408 Request Timeout\r\nContent-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{security}\r\n"
    )
    return head.encode("latin-1") + body


class ListenerProtocol(ASGIProtocol):  # type: ignore[misc]
    """One connection (HTTP/1): a deadline on each request head, and answers past a half-close."""

    def __init__(self, worker: Any) -> None:
        super().__init__(worker)
        self._reading_head = True  # the next bytes are a request head
        self._head_timer: Any = None
        self._unanswered = 0  # requests whose head is in and whose answer is not yet sent

    @property
    def _read_timeout_s(self) -> float | None:
        return getattr(self.worker.asgi, "read_timeout_s", None)

    def data_received(self, data: bytes) -> None:
        timeout_s = self._read_timeout_s
        if self._reading_head and self._head_timer is None and timeout_s is not None:
            self._head_timer = self.worker.loop.call_later(timeout_s, self._head_timed_out, timeout_s)
        super().data_received(data)

    def _on_headers_complete(self) -> Any:
        self._reading_head = False
        self._unanswered += 1
        self._cancel_head_timer()
        return super()._on_headers_complete()

    def _on_message_complete(self) -> Any:
        self._reading_head = True  # any byte after this message starts the next head
        return super()._on_message_complete()

    async def _serve_http_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._serve_http_request(*args, **kwargs)
        finally:
            self._unanswered -= 1

    def _head_timed_out(self, timeout_s: float) -> None:
        self._head_timer = None
        if not self._reading_head or self._closed or self.transport is None:
            return
        if self._unanswered:  # a pipelined head behind an answer still being made: not mid-answer
            self._head_timer = self.worker.loop.call_later(1.0, self._head_timed_out, timeout_s)
            return
        self.log.warning("request head not received in %g s; answering 408", timeout_s)
        from webhook.metrics import observe_early_answer  # not at import: see webhook.asgi

        observe_early_answer("", 408, timeout_s)  # the method is not known before the head is
        self.transport.write(_timeout_response(timeout_s))
        self._close_transport()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def eof_received(self) -> bool:
        """The client has sent all it will: keep the connection to answer a complete request."""
        receiver = self._body_receiver
        body_complete = receiver is None or receiver._complete
        if self._unanswered > 0 and body_complete and not self._closed:
            self._keepalive = 0  # answer this request, then close
            return True
        # Nothing to answer (idle), or a request cut short (it can never complete): close, and
        # the app waiting for the body learns of the disconnect now rather than at its deadline.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


class ListenerWorker(gasgi.ASGIWorker):  # type: ignore[misc]
    """gunicorn's ``asgi`` worker serving connections with ``ListenerProtocol``."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        pass  # ``threads`` is not ignored here: it sizes the app's thread pool (webhook.server)

    def init_process(self) -> None:
        # ``ASGIWorker._serve`` makes each connection's protocol from this module-level name;
        # it is rebound in this (forked worker) process only, before the worker serves.
        gasgi.ASGIProtocol = ListenerProtocol
        super().init_process()
