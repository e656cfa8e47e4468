"""Reading a request body safely: bounded before it is read, raw bytes for the signature."""

from __future__ import annotations

from flask import g, request

from webhook.problems import Problem

CHUNK = 64 * 1024


def read_body(limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused without reading a byte; a chunked or
    lying body is read at most ``limit + 1`` bytes before it is refused. The bytes are kept
    for the request, so a view run again (a stale database connection) reads them again.
    """
    if "raw_body" in g:
        body: bytes = g.raw_body
        return body
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Problem(413, "Content Too Large", f"the body may be at most {limit} bytes")
    stream = request.stream
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Content Too Large", f"the body may be at most {limit} bytes")
    g.raw_body = b"".join(parts)
    return g.raw_body  # type: ignore[no-any-return]


def require_json(mimetype: str | None = None) -> None:
    """415 unless the request (or the given Content-Type without parameters) says JSON."""
    if (request.mimetype if mimetype is None else mimetype) != "application/json":
        raise Problem(
            415,
            "Unsupported Media Type",
            "the body must be application/json",
            headers={"Accept-Post": "application/json"},
        )
