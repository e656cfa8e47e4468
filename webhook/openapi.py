"""The OpenAPI 3.1 document of the listener, served at ``GET /openapi.json``.

Tests validate real responses against it (openapi-core) and fuzz it (schemathesis), so it
must describe every status each operation can answer.
"""

from __future__ import annotations

from typing import Any

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
    "404": _problem("This vendor's webhooks are not configured here (or an unknown Asana connection)"),
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


_OBJECTS = {"type": "array", "items": {"type": "object"}}
_DUP = {"200": _job_ids("A duplicate delivery: the original job ids; nothing new was created")}


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
            "/webhook/xero": _intake(
                "Xero webhook (and intent-to-receive)",
                {"type": "object", "required": ["events"], "properties": {"events": _OBJECTS}},
                [_sig_header("x-xero-signature", "base64 HMAC-SHA256 of the body with the webhook key")],
                {
                    "200": {
                        "description": "Stored (or a duplicate); no body, as Xero requires",
                        "headers": {
                            "Zixly-Job-Ids": {"description": "Comma-separated job ids", "schema": {"type": "string"}}
                        },
                    }
                },
            ),
            "/webhook/hubspot": _intake(
                "HubSpot webhook (a JSON array of events)",
                _OBJECTS,
                [
                    _sig_header("X-HubSpot-Signature-v3", "base64 HMAC over method, URI, body, timestamp"),
                    _sig_header("X-HubSpot-Request-Timestamp", "Unix milliseconds; at most 5 minutes old"),
                ],
                {"202": _job_ids("Stored; the jobs were committed"), **_DUP},
            ),
            "/webhook/shopify": _intake(
                "Shopify webhook (the resource, e.g. an order)",
                {"type": "object"},
                [
                    _sig_header("X-Shopify-Hmac-Sha256", "base64 HMAC-SHA256 of the body with the app secret"),
                    _sig_header("X-Shopify-Topic", "e.g. orders/paid"),
                    _sig_header("X-Shopify-Shop-Domain", "the shop, <name>.myshopify.com"),
                    _sig_header("X-Shopify-Event-Id", "stable across retries", required=False),
                ],
                {"202": _job_ids("Stored; the jobs were committed"), **_DUP},
            ),
            "/webhook/asana/{connection_id}": _intake(
                "Asana webhook for one connection (handshake, heartbeat, events)",
                {"type": "object", "required": ["events"], "properties": {"events": _OBJECTS}},
                [
                    {"name": "connection_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                    _sig_header(
                        "X-Hook-Signature", "hex HMAC-SHA256 of the body with the handshake secret", required=False
                    ),
                    _sig_header("X-Hook-Secret", "present only in the handshake", required=False),
                ],
                {
                    "200": {
                        "description": "Stored (or the handshake was completed, echoing X-Hook-Secret)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobIds"}}},
                    },
                    "409": _problem("A handshake for a connection that already has a secret"),
                },
            ),
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
            "status": {"enum": ["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]},
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
