"""Check a recorded sandbox exchange against what its vendor documents.

- Xero: the Accounting and Identity OpenAPI documents in ``integrations/xero/spec`` (MIT).
- HubSpot: its OpenAPI documents in ``../shared/vendor/hubspot`` (not redistributable; when
  absent, HubSpot exchanges are counted as unchecked and the HubSpot test skips).
- Asana: the subset of its OpenAPI document in ``asana_oas_subset.json`` (Apache-2.0).
- Shopify: each GraphQL document is validated against the Admin schema
  (``sandbox/shopify/shopify_admin.graphql``), and each answer's ``data`` is re-executed over
  that schema with the query, so every value must have its field's declared type (non-null,
  enum, scalar, list) — the GraphQL equivalent of a response schema.

Operations a vendor publishes no machine-readable document for (the OAuth consent pages and
token endpoints of Xero, Asana and Shopify) are listed in :data:`UNDOCUMENTED` with the reason;
the suite counts them as unchecked and fails on any exchange that is neither checked nor listed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from fidelity_record import Exchange
from graphql import GraphQLError, GraphQLSchema, execute_sync, parse, validate
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_schema_validator import OAS30Validator
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

import integrations.xero
from sandbox.shopify.graphql_schema import schema as shopify_schema

XERO_SPECS = Path(integrations.xero.__file__).parent / "spec"
HUBSPOT_SPECS = Path(__file__).resolve().parents[3] / "shared" / "vendor" / "hubspot"
ASANA_SUBSET = Path(__file__).with_name("asana_oas_subset.json")

# (method, path pattern) -> why no document covers it.
UNDOCUMENTED: dict[tuple[str, str], str] = {
    ("GET", r"/xero/login/identity/connect/authorize"): "Xero's consent page: a browser redirect, no API document",
    ("POST", r"/xero/identity/connect/token"): "Xero documents its token endpoint in prose (OAuth 2.0), no OpenAPI",
    ("POST", r"/xero/identity/connect/revocation"): "Xero's revocation endpoint: prose only (RFC 7009)",
    ("GET", r"/hubspot/app/oauth/authorize"): "HubSpot's consent page on app.hubspot.com: a browser redirect",
    ("GET", r"/asana/-/oauth_authorize"): "Asana's consent page: a browser redirect",
    ("POST", r"/asana/-/oauth_token"): "Asana's OAuth endpoints are outside its OpenAPI document (prose only)",
    ("POST", r"/asana/-/oauth_revoke"): "Asana's OAuth endpoints are outside its OpenAPI document (prose only)",
    ("GET", r"/shopify/[^/]+/admin/oauth/authorize"): "Shopify's consent page: a browser redirect",
    ("POST", r"/shopify/[^/]+/admin/oauth/access_token"): "Shopify publishes no OpenAPI for its OAuth (prose only)",
    ("GET", r"/prices(/.*)?"): "Zixly's daily price feed, not one of the four vendors",
    (
        "POST",
        r"/trading/sweeps",
    ): "the sandbox's trading sweep service (the original design's external API), not a vendor",
    (
        "GET",
        r"/trading/sweeps/.*",
    ): "the sandbox's trading sweep service (the original design's external API), not a vendor",
    ("POST", r"/slack/services/.*"): "Slack incoming webhooks: documented in prose (plain-text answers), no OpenAPI",
    ("GET", r"/slack/messages"): "the sandbox's own view of the Slack messages it received, no Slack endpoint",
    ("GET", r"/shopify/.+/schema\.graphql"): "the sandbox's own convenience (the SDL it runs), no Shopify endpoint",
}


@dataclass
class Verdict:
    vendor: str
    operation: str
    request_checked: bool = False
    response_checked: bool = False
    problems: list[str] = field(default_factory=list)
    unchecked_reason: str | None = None
    response_unchecked: str | None = None


def _openapi(document: dict[str, Any]) -> OpenAPI:
    # The documents are the vendors'; validating the documents themselves would only cost time.
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


@cache
def _yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    return loaded


@cache
def _json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@cache
def _spec(kind: str, name: str) -> tuple[OpenAPI, dict[str, Any]]:
    if kind == "xero":
        document = _yaml(XERO_SPECS / name)
    elif kind == "hubspot":
        document = _json(HUBSPOT_SPECS / name)
    else:
        document = _nullable_refs(copy.deepcopy(_json(ASANA_SUBSET)))
    return _openapi(document), document


def _nullable_refs(node: Any) -> Any:
    """Read Asana's ``allOf: [<ref>, {nullable: true}]`` as the nullable reference it means.

    OAS 3.0.3 lets ``nullable`` act only beside a ``type`` in the same schema object, so a
    strict validator never accepts null there; Asana's reference and its answers do give null
    (an unassigned task's ``assignee``). Rewritten as "the reference, or null".
    """
    if isinstance(node, dict):
        parts = node.get("allOf")
        if isinstance(parts, list) and {"nullable": True} in parts:
            rest = [p for p in parts if p != {"nullable": True}]
            node = {k: v for k, v in node.items() if k != "allOf"}
            node["anyOf"] = [*rest, {"type": "object", "nullable": True, "enum": [None]}]
        return {k: _nullable_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_nullable_refs(v) for v in node]
    return node


def hubspot_specs_present() -> bool:
    return (HUBSPOT_SPECS / "contacts.2026-09.json").exists()


def _error_validator(document: dict[str, Any], name: str) -> OAS30Validator:
    return OAS30Validator({**document["components"]["schemas"][name], "components": document["components"]})


def _as_request(exchange: Exchange, strip: str, server: str) -> WerkzeugOpenAPIRequest:
    """The exchange as if sent to the vendor's own server (scheme, host and base path of the spec)."""
    parts = urlsplit(server)
    builder = EnvironBuilder(
        method=exchange.method,
        base_url=f"{parts.scheme}://{parts.netloc}",
        path=parts.path.rstrip("/") + exchange.path.removeprefix(strip),
        query_string=exchange.query,
        headers=[(k, v) for k, v in exchange.request_headers.items() if k.lower() not in ("host", "content-length")],
        data=exchange.request_body or None,
    )
    return WerkzeugOpenAPIRequest(builder.get_request())


def _as_response(exchange: Exchange) -> WerkzeugOpenAPIResponse:
    headers = [(k, v) for k, v in exchange.response_headers.items() if k.lower() != "content-length"]
    return WerkzeugOpenAPIResponse(Response(exchange.response_body, status=exchange.status, headers=headers))


def _problem(exc: Exception) -> str:
    causes = []
    current: BaseException | None = exc
    while current is not None and len(causes) < 4:
        causes.append(f"{type(current).__name__}: {str(current)[:300]}")
        inner = getattr(current, "schema_errors", None) or getattr(current, "errors", None)
        if inner:
            causes.extend(f"  - {str(e)[:300]}" for e in list(inner)[:3])
        current = current.__cause__
    return " / ".join(causes)


def _check_openapi(
    verdict: Verdict,
    exchange: Exchange,
    spec: OpenAPI,
    document: dict[str, Any],
    *,
    strip: str,
    server: str,
    error_schema: str,
    documented_errors: bool,
    request_too: bool,
) -> Verdict:
    """Request against its operation; response against the operation's response (or the error schema)."""
    request = _as_request(exchange, strip, server)
    if request_too:
        try:
            spec.validate_request(request)
        except Exception as exc:
            verdict.problems.append(f"request: {_problem(exc)}")
        verdict.request_checked = True
    if exchange.status == 406 and exchange.response_body.startswith(b"<"):
        verdict.response_unchecked = "Xero answers XML unless asked for JSON (the sandbox does not emulate it)"
        return verdict
    try:
        if exchange.status >= 400 and not documented_errors:
            # The vendor documents its error answers loosely (*/* or not per operation): check the body.
            _error_validator(document, error_schema).validate(json.loads(exchange.response_body))
        elif exchange.status < 300 and _documents_only_errors(document, exchange.path.removeprefix(strip), exchange):
            # HubSpot's revoke declares only ``default: Error``: its success answer is undocumented.
            verdict.response_unchecked = "the operation documents only its error answer"
            return verdict
        else:
            try:
                spec.validate_response(request, _as_response(exchange))
            except Exception as exc:
                missing = type(exc).__name__ in ("ResponseNotFound", "PathNotFound", "OperationNotFound")
                if exchange.status < 400 or not missing:
                    raise
                # An error status (or a path) the document leaves out: the body must still be its error.
                _error_validator(document, error_schema).validate(json.loads(exchange.response_body))
    except Exception as exc:
        verdict.problems.append(f"response {exchange.status}: {_problem(exc)}")
    verdict.response_checked = True
    return verdict


def _documents_only_errors(document: dict[str, Any], path: str, exchange: Exchange) -> bool:
    operation = document["paths"].get(path, {}).get(exchange.method.lower(), {})
    return set(operation.get("responses", {})) == {"default"} and not exchange.response_body


def _hubspot_file(path: str) -> str:
    version = "v3" if "/crm/v3/" in path else path.split("/")[4] if "/crm/objects/" in path else "v3"
    if path.startswith("/hubspot/oauth/"):
        return f"oauth.{path.split('/')[3]}.json"
    kind = "deals" if "/deals" in path.split("/associations/")[0] else "contacts"
    return f"{kind}.{version}.json"


def _check_shopify(verdict: Verdict, exchange: Exchange, *, request_too: bool) -> Verdict:
    schema: GraphQLSchema = shopify_schema()
    document = None
    try:
        body = json.loads(exchange.request_body)
        document = parse(body["query"])
        problems = validate(schema, document)
        if problems:
            document = None
            raise GraphQLError("; ".join(p.message for p in problems))
    except Exception as exc:
        if request_too:
            verdict.problems.append(f"request: {_problem(exc)}")
    verdict.request_checked = request_too
    try:
        answer = json.loads(exchange.response_body)
        if exchange.status != 200:
            if not isinstance(answer.get("errors"), str | list | dict):
                raise ValueError(f"a {exchange.status} without Shopify's errors field")
        elif answer.get("errors"):
            if not all(isinstance(e, dict) and "message" in e for e in answer["errors"]):
                raise ValueError("GraphQL errors without a message")
        elif document is not None:
            _re_execute(schema, document, body.get("variables") or {}, answer["data"])
        else:
            raise ValueError("an invalid GraphQL document answered with data")
    except Exception as exc:
        verdict.problems.append(f"response {exchange.status}: {_problem(exc)}")
    verdict.response_checked = True
    return verdict


def _re_execute(schema: GraphQLSchema, document: Any, variables: dict[str, Any], data: dict[str, Any]) -> None:
    """Serialize the answer's ``data`` through the schema: every value must fit its field's type."""

    def by_response_key(source: Any, info: Any, **_: Any) -> Any:
        return source.get(info.path.key) if isinstance(source, dict) else None

    def by_typename(value: Any, _info: Any, _type: Any) -> str | None:
        return value.get("__typename") if isinstance(value, dict) else None

    result = execute_sync(
        schema,
        document,
        root_value=data,
        variable_values=variables,
        field_resolver=by_response_key,
        type_resolver=by_typename,
    )
    if result.errors:
        raise ValueError("; ".join(f"{e.path}: {e.message}" for e in result.errors[:5]))
    if result.data != data:
        raise ValueError("the answer carries fields the query did not ask for")


def _has_shopify_errors(body: bytes) -> bool:
    try:
        return "errors" in json.loads(body)
    except (ValueError, TypeError):
        return False


def check(exchange: Exchange, *, request_too: bool = True) -> Verdict:
    """The verdict on one exchange (request and response checked, or why not).

    ``request_too=False`` checks only the answer: the hostile-input suite sends requests that
    are wrong on purpose, and the vendor's answer to them must still be documented.
    """
    path, method = exchange.path, exchange.method
    vendor = path.split("/")[1]
    for (listed_method, pattern), reason in UNDOCUMENTED.items():
        if method == listed_method and re.fullmatch(pattern, path):
            return Verdict(vendor, f"{method} {pattern}", unchecked_reason=reason)
    verdict = Verdict(vendor, f"{method} {path}")
    if path.startswith("/xero/api.xro/2.0/"):
        spec, document = _spec("xero", "xero_accounting.yaml")
        return _check_openapi(
            verdict, exchange, spec, document, strip="/xero/api.xro/2.0", server="https://api.xero.com/api.xro/2.0",
            error_schema="Error", documented_errors=True, request_too=request_too,
        )  # fmt: skip
    if path.startswith(("/xero/Connections", "/xero/connections")):
        # Xero's paths are case-insensitive: its docs write /connections, its spec /Connections.
        exchange = dataclasses.replace(exchange, path=exchange.path.replace("/connections", "/Connections", 1))
        spec, document = _spec("xero", "xero-identity.yaml")
        accounting = _spec("xero", "xero_accounting.yaml")[1]
        return _check_openapi(
            verdict, exchange, spec, accounting if exchange.status >= 400 else document, strip="/xero",
            server="https://api.xero.com", error_schema="Error", documented_errors=exchange.status < 400,
            request_too=request_too,
        )  # fmt: skip
    if path.startswith("/hubspot/"):
        if not hubspot_specs_present():
            verdict.unchecked_reason = "HubSpot's OpenAPI files are not in ../shared/vendor/hubspot/"
            return verdict
        name = _hubspot_file(path)
        # A path no document has (a hostile version segment): its error answer is still checked.
        spec, document = _spec("hubspot", name if (HUBSPOT_SPECS / name).exists() else "contacts.2026-09.json")
        return _check_openapi(
            verdict, exchange, spec, document, strip="/hubspot", server="https://api.hubapi.com",
            error_schema="Error", documented_errors=False, request_too=request_too,
        )  # fmt: skip
    if path.startswith("/asana/api/1.0/"):
        spec, document = _spec("asana", "subset")
        return _check_openapi(
            verdict, exchange, spec, document, strip="/asana/api/1.0", server="https://app.asana.com/api/1.0",
            error_schema="ErrorResponse", documented_errors=True, request_too=request_too,
        )  # fmt: skip
    if re.fullmatch(r"/shopify/[^/]+/admin/api/[^/]+/graphql\.json", path):
        return _check_shopify(verdict, exchange, request_too=request_too)
    if path.startswith("/shopify/") and exchange.status >= 400:
        # Outside the GraphQL endpoint Shopify answers errors as {"errors": ...} (its REST shape).
        verdict.response_checked = True
        if not _has_shopify_errors(exchange.response_body):
            verdict.problems.append(f"response {exchange.status}: not Shopify's {{errors}} shape")
        return verdict
    verdict.problems.append("no vendor document covers this operation and it is not listed as undocumented")
    return verdict
