"""Operational routes: ``/health``, ``/metrics``, ``/openapi.json`` and the OAuth redirect."""

from __future__ import annotations

import html
import json
import logging

from flask import Blueprint, Response, g, request
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from db import intake
from db.jobs import enqueue
from db.workflow_settings import ensure_default_schedules
from integrations.oauth import OAuthFlowError, finish_authorization
from integrations.registry import UnknownVendor
from integrations.registry import vendor as vendor_record
from jobtypes import DEFAULT_SCHEDULES, queued_on_connect
from webhook.context import get_session, listener
from webhook.metrics import render_metrics
from webhook.openapi import spec
from webhook.problems import Problem

log = logging.getLogger("webhook")
bp = Blueprint("service", __name__)


@bp.get("/health")
def health() -> Response:
    try:
        intake.ping(get_session())
    except SQLAlchemyError as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated and not g.get("retrying"):
            raise  # a stale pooled connection: the app runs the check again on a fresh one
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        raise Problem(503, "Service Unavailable", "the database is unreachable", headers={"Retry-After": "5"}) from None
    return Response(json.dumps({"status": "ok", "database": "ok"}), mimetype="application/json")


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(json.dumps(spec(listener().settings.public_url)), mimetype="application/json")


@bp.get("/oauth/<vendor>/callback")
def oauth_callback(vendor: str) -> Response:
    """The vendor's redirect after consent: finish the flow, store the tokens, say so."""
    try:
        record = vendor_record(vendor)
    except UnknownVendor:
        raise Problem(404, "Not Found", f"unknown vendor {vendor!r}") from None
    session = get_session()
    try:
        connection = finish_authorization(session, listener().settings, vendor, request.args.to_dict())
    except OAuthFlowError as exc:
        session.commit()  # the state row is single use even when the flow fails
        log.info("oauth callback refused", extra={"vendor": vendor, "reason": str(exc)})
        raise Problem(400, "Bad Request", str(exc)) from None
    # A tenant connected after the demo seed gets the schedules its connections now call for,
    # and the upkeep jobs a new connection starts (Asana: its webhook).
    ensure_default_schedules(session, connection.tenant_id, DEFAULT_SCHEDULES)
    for entry in queued_on_connect(vendor):
        assert entry.upkeep is not None
        enqueue(session, **entry.upkeep.job(entry.name, connection.tenant_id, f"{vendor} connected"))
    session.commit()
    log.info("oauth connected", extra={"vendor": vendor, "connection_id": connection.id})
    name = html.escape(connection.org_name or connection.external_org_id or vendor)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>Connected</title></head>"
        f"<body><h1>Connected {html.escape(record.display_name)}</h1><p>{name} is now connected. "
        "You can close this tab and return to the dashboard.</p></body></html>"
    )
    return Response(page, mimetype="text/html")
