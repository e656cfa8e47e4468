"""``POST /webhook/jobs`` (trigger any catalogued job type) and ``GET /webhook/jobs/<id>``.

Both take ``Authorization: Bearer <api token>``; triggering needs EDITOR or above and is
audited. A request is checked in this order: token (401), role (403), size (413), content
type (415), JSON (400), shape and params (422, naming the field), tenant rate limit (429).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from db import intake
from db.auth import Actor, Forbidden, actor_for_token, audit, require_role
from db.jobs import enqueue
from db.models import PipelineJob
from integrations.events import load_json
from webhook import metrics, registry
from webhook.accept import enforce_rate_limit
from webhook.body import read_body, require_json
from webhook.context import get_session, listener
from webhook.problems import Problem
from webhook.storable import MAX_INT4, MAX_INT8, first_unstorable, too_deep

log = logging.getLogger("webhook.jobs")
bp = Blueprint("jobs", __name__)

# Deeper bodies are refused (400) before anything recursive walks them.
MAX_DEPTH = 64
# A caller's Idempotency-Key is stored under this prefix, in a column of 255 characters.
CALLER_KEYS = "api:"
MAX_KEY = 255 - len(CALLER_KEYS)


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_type: str = Field(min_length=1, max_length=64, description="A catalogued job type")
    tenant: int | str = Field(description="Tenant id or exact name")
    params: dict[str, Any] = Field(default_factory=dict, description="The job type's parameters")
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first")

    @field_validator("tenant", mode="plain")
    @classmethod
    def _tenant_ref(cls, value: object) -> int | str:
        # One plain validator (not a union) so errors say "tenant", not "tenant.int".
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INT4:
            return value
        if isinstance(value, str) and 1 <= len(value) <= 200:
            return value
        raise ValueError("a tenant id (a positive integer) or a tenant name (1-200 characters)")


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def _param_field(field: str) -> str:
    # The catalogue names a field inside the params ("params" for the whole object); the body has them under "params".
    return field if field == "params" else f"params.{field}"


def _unprocessable(errors: list[dict[str, str]]) -> Problem:
    first = errors[0]
    return Problem(422, "Unprocessable Content", f"{first['field']}: {first['message']}", errors=errors)


def _from_validation(exc: ValidationError) -> Problem:
    errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    return _unprocessable(errors or [{"field": "body", "message": str(exc)}])


def bearer_actor() -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    actor = actor_for_token(get_session(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if actor is None:
        raise Problem(
            401, "Unauthorized", "a valid bearer API token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return actor


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _respond(payload: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(_json(payload)), status=status, mimetype="application/json")


def _key_conflicts(
    original: PipelineJob | None, req: JobRequest, params: dict[str, Any], actor: Actor
) -> list[dict[str, str]]:
    """What differs between a repeated Idempotency-Key's request and the one that made the job.

    A key names one request: reused with another job type, other params, another priority or
    by another actor it is a client bug (or a guess), never "the same job again".
    """
    if original is None:
        return []
    differs = {
        "job_type": original.job_type != req.job_type,
        "params": original.params != params,
        "priority": original.priority != req.priority,
        "Authorization": original.created_by != actor.email,
    }
    return [
        {"field": name, "message": f"differs from the request that first used this Idempotency-Key (job {original.id})"}
        for name, changed in differs.items()
        if changed
    ]


@bp.post("/webhook/jobs")
def trigger_job() -> Response:
    session = get_session()
    actor = bearer_actor()
    try:
        require_role(session, actor, "EDITOR", "job.enqueue")
    except Forbidden as exc:
        raise Problem(403, "Forbidden", str(exc)) from None
    body = read_body(listener().settings.webhook_max_bytes)
    require_json()
    try:
        raw = load_json(body)  # ValueError for bad JSON, bad UTF-8 and deep nesting alike
    except ValueError:
        raise Problem(400, "Bad Request", "the body is not valid JSON") from None
    if too_deep(raw, MAX_DEPTH):
        # Validation, the storability check and the queue's JSON encoder all recurse.
        raise Problem(400, "Bad Request", f"the JSON is nested more than {MAX_DEPTH} levels deep")
    try:
        req = JobRequest.model_validate(raw)
    except ValidationError as exc:
        raise _from_validation(exc) from None
    unstorable = first_unstorable(raw, "")
    if unstorable:
        raise _unprocessable([{"field": unstorable, "message": "contains a NUL character or invalid UTF-8"}])
    tenant_id = intake.tenant_id_for(session, req.tenant)
    if tenant_id is None or not actor.sees_tenant(tenant_id):  # another tenant's token: as if unknown
        raise _unprocessable([{"field": "tenant", "message": f"no active tenant {req.tenant!r}"}])
    try:
        params = registry.validate_params(req.job_type, req.params)
    except registry.UnknownJobType:
        message = f"unknown job type {req.job_type!r}; known: {', '.join(registry.known_job_types())}"
        raise _unprocessable([{"field": "job_type", "message": message}]) from None
    except registry.InvalidParams as exc:
        raise _unprocessable([{"field": _param_field(e.field), "message": e.message} for e in exc.errors]) from None
    except (ValueError, TypeError) as exc:
        raise _unprocessable([{"field": "params", "message": str(exc)}]) from None
    enforce_rate_limit({tenant_id}, None)
    idempotency_key = request.headers.get("Idempotency-Key") or None
    if idempotency_key is not None:
        if len(idempotency_key) > MAX_KEY:
            raise _unprocessable([{"field": "Idempotency-Key", "message": f"at most {MAX_KEY} characters"}])
        # The caller's keys live apart from those Zixly makes itself (a schedule's fire, a vendor's
        # event): a key of theirs spelt like one of ours must not take that job's place.
        idempotency_key = CALLER_KEYS + idempotency_key
    result = enqueue(
        session,
        tenant_id=tenant_id,
        job_type=req.job_type,
        params=params,
        priority=req.priority,
        idempotency_key=idempotency_key,
        created_by=actor.email,
    )
    if result.created:
        audit(session, actor, "job.enqueue", f"job:{result.id}", {"job_type": req.job_type, "tenant_id": tenant_id})
    else:
        conflicts = _key_conflicts(session.get(PipelineJob, result.id), req, params, actor)
        if conflicts:
            session.rollback()
            raise _unprocessable(conflicts)
    session.commit()
    if not result.created:
        return _respond({"job_ids": [result.id], "duplicate": True}, 200)
    metrics.JOBS_QUEUED.labels(job_type=req.job_type).inc()
    log.info("job triggered", extra={"job_id": result.id, "job_type": req.job_type, "actor": actor.email})
    return _respond({"job_ids": [result.id]}, 202)


@bp.get("/webhook/jobs/<int:job_id>")
def job_status(job_id: int) -> Response:
    session = get_session()
    actor = bearer_actor()  # any valid token may read (VIEWER and above), within its tenant
    status = intake.job_status(session, job_id) if job_id <= MAX_INT8 else None
    session.commit()  # the token's last_used_at
    if status is None or not actor.sees_tenant(status["tenant_id"]):
        raise Problem(404, "Not Found", f"no job {job_id}")
    return _respond(status, 200)
