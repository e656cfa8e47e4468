"""The OpenAPI 3.1 document of the listener, served at ``GET /openapi.json``.

Tests validate real responses against it (openapi-core) and fuzz it (schemathesis), so it
must describe every status each operation can answer.
"""

from __future__ import annotations

from typing import Any

from integrations.registry import vendors
from integrations.vendor import Webhooks

PROBLEM = "application/problem+json"


def _problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}
        }
    return response


def _job_ids(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobIds"}}},
    }


INTAKE_ERRORS: dict[str, Any] = {
    "400": _problem("Malformed JSON, or not this vendor's delivery shape (after the signature was verified)"),
    "401": _problem("Missing or invalid signature; nothing is stored"),
    "404": _problem("This vendor's webhooks are not configured here (or an unknown connection)"),
    "413": _problem("Body larger than ZIXLY_WEBHOOK_MAX_BYTES"),
    "415": _problem("The body is not application/json"),
    "429": _problem("The tenant sent more than its per-minute budget", retry_after=True),
    "503": _problem("The database is unavailable; nothing was stored, retry later", retry_after=True),
}


def _sig_header(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _intake(
    summary: str, body_schema: dict[str, Any], params: list[dict[str, Any]], ok: dict[str, Any]
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": ["vendor webhooks"],
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
            "responses": {**ok, **INTAKE_ERRORS},
        }
    }


def job_ids_response(description: str) -> dict[str, Any]:
    """A response whose body is the document's ``JobIds`` schema."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobIds"}}},
    }


def _success_responses(hooks: Webhooks) -> dict[str, Any]:
    """The 2xx answers, derived from how ``webhook/accept.py`` answers this vendor."""
    if hooks.empty_success_body:
        header = {"Zixly-Job-Ids": {"description": "Comma-separated job ids", "schema": {"type": "string"}}}
        return {"200": {"description": "Stored (or a duplicate); no body, as the vendor requires", "headers": header}}
    stored = "Stored; the jobs were committed"
    if hooks.handshake is not None:
        stored += " (or the handshake was completed, echoing its secret)"
    duplicate = "A duplicate delivery: the original job ids; nothing new was created"
    if hooks.success_status == 200:
        return {"200": job_ids_response(f"{stored}; or {duplicate[0].lower()}{duplicate[1:]}")}
    return {str(hooks.success_status): job_ids_response(stored), "200": job_ids_response(duplicate)}


def _vendor_paths() -> dict[str, Any]:
    """One intake operation per registered vendor, from its record's documentation."""
    paths: dict[str, Any] = {}
    for record in vendors():
        hooks = record.webhooks
        params = [_sig_header(h.name, h.description, required=h.required) for h in hooks.doc.headers]
        responses = _success_responses(hooks)
        path = f"/webhook/{record.system}"
        if not hooks.per_connection:
            paths[path] = _intake(hooks.doc.summary, hooks.doc.body_schema, params, responses)
            continue
        path += "/{connection_id}"
        params.insert(0, {"name": "connection_id", "in": "path", "required": True, "schema": {"type": "integer"}})
        paths[path] = _intake(hooks.doc.summary + "; a handshake here is refused (404)", hooks.doc.body_schema,
                              params, responses)  # fmt: skip
        token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "The single-use token of a webhook creation Zixly has in flight"}  # fmt: skip
        summary = hooks.doc.summary + "; the handshake only with the token of a creation in flight (else 404)"
        paths[path + "/{token}"] = _intake(summary, hooks.doc.body_schema, [params[0], token, *params[1:]], responses)
    return paths


def spec(public_url: str) -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearerToken": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Zixly webhook listener",
            "version": "1.0.0",
            "description": "Verified, durable, idempotent intake of vendor webhooks; the job trigger and status API.",
        },
        "servers": [{"url": public_url.rstrip("/")}],
        "paths": {
            **_vendor_paths(),
            "/webhook/jobs": {
                "post": {
                    "summary": "Trigger a registered job type (EDITOR or above)",
                    "tags": ["jobs"],
                    "security": bearer,
                    "parameters": [_sig_header("Idempotency-Key", "Repeat-safe triggering", required=False)],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}},
                    },
                    "responses": {
                        "202": _job_ids("The job was committed"),
                        "200": _job_ids("The Idempotency-Key was used before: the existing job"),
                        "400": _problem("Malformed JSON"),
                        "401": _problem("Missing or invalid bearer token"),
                        "403": _problem("The token's role is below EDITOR"),
                        "413": _problem("Body too large"),
                        "415": _problem("The body is not application/json"),
                        "422": _problem("Schema or params violation; `errors` names each field"),
                        "429": _problem("The tenant sent more than its per-minute budget", retry_after=True),
                        "503": _problem("The database is unavailable", retry_after=True),
                    },
                }
            },
            "/webhook/jobs/{job_id}": {
                "get": {
                    "summary": "A job's status, attempts, timestamps, result, error and step summary",
                    "tags": ["jobs"],
                    "security": bearer,
                    "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {
                        "200": {
                            "description": "The job",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobStatus"}}},
                        },
                        "401": _problem("Missing or invalid bearer token"),
                        "404": _problem("No such job"),
                        "503": _problem("The database is unavailable", retry_after=True),
                    },
                }
            },
            "/webhook/callbacks/{token}": {
                "post": {
                    "summary": "An external system reports the result of work a waiting job started",
                    "description": "The URL (and, for a signed wait, the HMAC secret) was handed to the external "
                    "system by the job. Single-use per wait; repeated deliveries answer 200 with duplicate=true.",
                    "tags": ["jobs"],
                    "parameters": [
                        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
                        _sig_header(
                            "X-Zixly-Signature",
                            "sha256=<hex HMAC-SHA256 of the body>, for a signed wait",
                            required=False,
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "Stored; the job resumes (duplicate=true: received before, nothing changed)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallbackAck"}}},
                        },
                        "400": _problem("Malformed JSON"),
                        "401": _problem("A signed wait's delivery without a valid X-Zixly-Signature"),
                        "404": _problem("Unknown, expired or ended callback"),
                        "413": _problem("Body too large"),
                        "415": _problem("The body is not application/json"),
                        "503": _problem("The database is unavailable", retry_after=True),
                    },
                }
            },
            "/oauth/{vendor}/callback": {
                "get": {
                    "summary": "The vendor's OAuth redirect: finishes the connection",
                    "tags": ["oauth"],
                    "parameters": [
                        {"name": "vendor", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "state", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "code", "in": "query", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "Connected", "content": {"text/html": {"schema": {"type": "string"}}}},
                        "400": _problem("The flow failed (unknown state, denied, bad signature, refused code)"),
                        "404": _problem("Unknown vendor"),
                        "503": _problem("The database is unavailable", retry_after=True),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness with a database check",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "Up, database reachable",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status"],
                                        "properties": {"status": {"const": "ok"}, "database": {"const": "ok"}},
                                    }
                                }
                            },
                        },
                        "503": _problem("The database is unreachable", retry_after=True),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (summed over gunicorn workers)",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": "An API token (zx_…)"}
            },
            "schemas": SCHEMAS,
        },
    }


_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "JobIds": {
        "type": "object",
        "required": ["job_ids"],
        "properties": {
            "job_ids": {"type": "array", "items": {"type": "integer"}},
            "duplicate": {"type": "boolean"},
        },
    },
    "CallbackAck": {
        "type": "object",
        "required": ["job_id", "duplicate"],
        "properties": {"job_id": {"type": "integer"}, "duplicate": {"type": "boolean"}},
    },
    "JobRequest": {
        "type": "object",
        "required": ["job_type", "tenant"],
        "additionalProperties": False,
        "properties": {
            "job_type": {"type": "string", "minLength": 1, "maxLength": 64, "examples": ["trading-sweep"]},
            "tenant": {"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "Tenant id or name"},
            "params": {"type": "object", "description": "The job type's parameters"},
            "priority": {"type": "integer", "minimum": -1000, "maximum": 1000, "default": 0},
        },
    },
    "JobStatus": {
        "type": "object",
        "required": ["id", "tenant_id", "job_type", "status", "attempts", "created_at", "steps"],
        "properties": {
            "id": {"type": "integer"},
            "tenant_id": {"type": "integer"},
            "job_type": {"type": "string"},
            "status": {"enum": ["QUEUED", "RUNNING", "WAITING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"]},
            "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "priority": {"type": "integer"},
            "created_by": {"type": ["string", "null"]},
            "parent_job_id": {"type": ["integer", "null"]},
            "created_at": _TIME,
            "run_at": _TIME,
            "started_at": _TIME,
            "completed_at": _TIME,
            "result": {"type": ["object", "null"]},
            "error": {"type": ["string", "null"]},
            "steps": {
                "type": "object",
                "required": ["total", "by_kind", "last"],
                "properties": {
                    "total": {"type": "integer"},
                    "by_kind": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "last": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "properties": {"kind": {"type": "string"}, "message": {"type": "string"}, "at": _TIME},
                            },
                        ]
                    },
                },
            },
        },
    },
}
