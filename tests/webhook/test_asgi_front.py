"""The ASGI front (webhook.asgi.BufferedWSGI) in process: buffering, 408, 413, the WSGI environ."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from webhook import SECURITY_HEADERS
from webhook.asgi import BufferedWSGI

Message = dict[str, Any]


def _echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app that answers with what it was given."""
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if isinstance(v, str)} | {"body": body.decode()}
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Echo", "1")])
    return [json.dumps(seen).encode()]


def _scope(headers: list[tuple[bytes, bytes]], *, method: str = "POST", path: str = "/webhook/xero") -> Message:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"a=1&b=%C3%A9",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 3000),
        "client": ("127.0.0.1", 5555),
        "headers": headers,
    }


def _call(
    front: BufferedWSGI, scope: Message, chunks: list[bytes], *, delay_s: float = 0.0, hang: bool = False
) -> tuple[int, dict[str, str], bytes, int]:
    """Run one request; returns status, headers, body and how many body chunks were read."""
    sent: list[Message] = []
    read = 0

    async def receive() -> Message:
        nonlocal read
        if read < len(chunks):
            await asyncio.sleep(delay_s)
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks) or hang}
        if hang:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"], read


def _front(**kw: Any) -> BufferedWSGI:
    return BufferedWSGI(_echo, **({"read_timeout_s": 5.0, "max_bytes": 100, "threads": 2} | kw))


def test_a_complete_request_reaches_the_app_with_a_faithful_environ() -> None:
    headers = [
        (b"host", b"example.test"),
        (b"content-type", b"application/json"),
        (b"content-length", b"11"),
        (b"x-xero-signature", b"abc"),
        (b"x-multi", b"1"),
        (b"x-multi", b"2"),
        (b"x_forwarded_for", b"6.6.6.6"),  # an underscore name could pose as X-Forwarded-For
    ]
    status, got_headers, body, _ = _call(_front(), _scope(headers), [b'{"a":', b" 1}", b""])
    assert status == 201
    assert got_headers["x-echo"] == "1"
    env = json.loads(body)
    assert env["body"] == '{"a": 1}'
    assert env["CONTENT_LENGTH"] == "8"  # what the app reads, not what was declared
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/webhook/xero"
    assert env["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert env["HTTP_X_XERO_SIGNATURE"] == "abc"
    assert env["HTTP_X_MULTI"] == "1,2"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PORT"] == "3000"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert "HTTP_X_FORWARDED_FOR" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_a_chunked_body_is_given_to_the_app_with_its_length() -> None:
    headers = [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")]
    _, _, body, _ = _call(_front(), _scope(headers), [b"[1,", b"2]"])
    env = json.loads(body)
    assert env["body"] == "[1,2]" and env["CONTENT_LENGTH"] == "5"
    assert "HTTP_TRANSFER_ENCODING" not in env


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read() -> None:
    status, headers, body, read = _call(_front(), _scope([(b"content-length", b"101")]), [b"x" * 101])
    assert (status, read) == (413, 0)
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert all(headers[name.lower()] == value for name, value in SECURITY_HEADERS.items())
    assert json.loads(body)["status"] == 413


def test_an_undeclared_body_is_413_as_soon_as_it_passes_the_limit() -> None:
    chunks = [b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60]
    status, _, body, read = _call(_front(), _scope([(b"transfer-encoding", b"chunked")]), chunks)
    assert (status, read) == (413, 2)
    assert json.loads(body)["title"] == "Content Too Large"


@pytest.mark.parametrize("hang", [True, False], ids=["stalled", "trickling"])
def test_a_body_not_received_in_time_is_408(hang: bool) -> None:
    chunks = [b"x"] * (1 if hang else 50)
    front = _front(read_timeout_s=0.3)
    status, headers, body, read = _call(front, _scope([(b"content-length", b"50")]), chunks, delay_s=0.05, hang=hang)
    assert status == 408
    assert read < 50
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert all(headers[name.lower()] == value for name, value in SECURITY_HEADERS.items())
    problem = json.loads(body)
    assert problem["status"] == 408 and problem["title"] == "Request Timeout"


def test_a_client_gone_before_its_body_is_not_answered() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(_front()(_scope([(b"content-length", b"10")]), receive, send))
    assert sent == []


def test_lifespan_completes_and_shuts_the_pool_down() -> None:
    front = _front()
    assert front.executor.submit(lambda: 1).result() == 1
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(front({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    with pytest.raises(RuntimeError):
        front.executor.submit(lambda: 1)


def test_the_deadline_holds_even_if_the_servers_receive_swallows_the_cancellation() -> None:
    """On Python 3.11 a receive woken by a chunk can swallow the cancellation; 408 all the same."""
    sent: list[Message] = []
    read = 0

    async def receive() -> Message:
        nonlocal read
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.02)
        read += 1
        return {"type": "http.request", "body": b"x", "more_body": read < 100}

    async def send(message: Message) -> None:
        sent.append(message | {"read": read})

    asyncio.run(_front(read_timeout_s=0.2, max_bytes=1000)(_scope([(b"content-length", b"100")]), receive, send))
    assert sent[0]["status"] == 408
    assert sent[0]["read"] < 100  # answered at the deadline, not once the body was in
