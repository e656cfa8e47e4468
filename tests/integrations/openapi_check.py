"""Validate recorded httpx exchanges against a vendor OpenAPI document with openapi-core.

The sandbox serves a vendor under a path prefix on 127.0.0.1; each exchange is replayed as if
sent to the vendor's real server URL (scheme, host and base path from the spec).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_schema_validator import OAS30Validator
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response


def as_vendor_request(request: httpx.Request, *, strip_prefix: str, server: str) -> WerkzeugOpenAPIRequest:
    path = request.url.path.removeprefix(strip_prefix)
    server_parts = urlsplit(server)
    builder = EnvironBuilder(
        method=request.method,
        base_url=f"{server_parts.scheme}://{server_parts.netloc}",
        path=server_parts.path.rstrip("/") + path,
        query_string=request.url.query.decode(),
        headers=[(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")],
        data=request.content or None,
    )
    return WerkzeugOpenAPIRequest(builder.get_request())


def as_vendor_response(response: httpx.Response) -> WerkzeugOpenAPIResponse:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    return WerkzeugOpenAPIResponse(Response(response.content, status=response.status_code, headers=headers))


def check_exchanges(
    spec: OpenAPI,
    exchanges: list[tuple[httpx.Request, httpx.Response]],
    *,
    strip_prefix: str,
    server: str,
    error_schema: dict[str, Any] | None = None,
) -> int:
    """Validate every request and response; returns how many exchanges were checked.

    ``error_schema``: HubSpot documents its error answers as ``*/*`` (so openapi-core cannot
    parse them); error bodies are then checked as JSON against this schema instead.
    """
    for request, response in exchanges:
        vendor_request = as_vendor_request(request, strip_prefix=strip_prefix, server=server)
        spec.validate_request(vendor_request)
        if error_schema is not None and response.status_code >= 400:
            OAS30Validator(error_schema).validate(response.json())
            continue
        spec.validate_response(vendor_request, as_vendor_response(response))
    return len(exchanges)


def component_schema(path: str, name: str) -> dict[str, Any]:
    """A component schema with its ``$ref``s resolvable (the whole document as the root)."""
    document: dict[str, Any] = json.loads(Path(path).read_text())
    return {**document["components"]["schemas"][name], "components": document["components"]}
