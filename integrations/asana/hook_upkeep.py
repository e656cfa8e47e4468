"""Keeping a connection's Asana webhook alive: create it, check it, re-create it, delete it.

Asana calls the target back (the ``X-Hook-Secret`` handshake) *while* ``POST /webhooks`` is
open, so the creation is first recorded with a single-use token (its SHA-256 stored, the
token itself only in the target URL ``/webhook/asana/<connection id>/<token>``) and committed;
the listener accepts the handshake for that token alone, once, within :data:`HANDSHAKE_TTL`.
This runs in the runner (job ``asana-webhook-ensure``), never in the listener, which must be
free to answer the handshake. Deleting happens where the connection is disconnected, before
its grant is revoked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from db import connection_webhooks as hooks
from integrations.asana.client import AsanaClient
from integrations.http import IntegrationError, NotFound

log = logging.getLogger(__name__)

HANDSHAKE_TTL = dt.timedelta(minutes=2)
# Events of the project's tasks only: the workflows act on tasks (``task.*``).
FILTERS = ({"resource_type": "task"},)


def target_url(public_url: str, connection_id: int, token: str) -> str:
    return f"{public_url.rstrip('/')}/webhook/asana/{connection_id}/{token}"


@dataclass(frozen=True)
class Outcome:
    """What the upkeep did: ``active`` (still there), ``created``, ``deleted``, ``busy`` or ``none``."""

    action: str
    detail: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def delete(client: AsanaClient, webhook_gid: str) -> None:
    """Delete the webhook at Asana; one Asana already deleted is just as gone."""
    with contextlib.suppress(NotFound):
        client.delete_webhook(webhook_gid)


def ensure(
    factory: sessionmaker[Session],
    client: AsanaClient,
    connection_id: int,
    project_gid: str | None,
    public_url: str,
    *,
    step: Callable[[str], None] = lambda _message: None,
) -> Outcome:
    """Make the connection's webhook be an active one on ``project_gid`` (or none without a project).

    Raises the Asana error when a creation fails (after recording ``failed`` with its reason),
    so the job is retried.
    """
    with factory() as session:
        row = hooks.get(session, connection_id)
        current = (row.state, row.resource_gid, row.webhook_gid) if row is not None else None
    if project_gid is None:
        if current is not None and current[2]:
            delete(client, current[2])
        with factory() as session, session.begin():
            hooks.forget(session, connection_id)
        step("No onboarding project is set: the connection has no Asana webhook")
        return Outcome("none", "no onboarding project set")

    reason: str | None = None
    state = "creating" if current is None else "recreating"
    if current is not None and current[2] and current[1] == project_gid and current[0] == "active":
        try:
            alive = client.get_webhook(current[2]).active
        except NotFound:
            alive = False
        if alive:
            with factory() as session, session.begin():
                hooks.mark_checked(session, connection_id, _now())
            step(f"Asana webhook {current[2]} on project {project_gid} is active")
            return Outcome("active", current[2])
        reason = f"Asana deleted webhook {current[2]} (or turned it off)"
    elif current is not None and current[2] and current[1] != project_gid:
        delete(client, current[2])
        reason = f"the onboarding project changed from {current[1]} to {project_gid}"
    elif current is not None and current[0] == "failed":
        reason = "retrying after a failed creation"

    token = secrets.token_urlsafe(32)
    now = _now()
    with factory() as session, session.begin():
        began = hooks.begin_creation(
            session,
            connection_id,
            resource_gid=project_gid,
            state=state,
            reason=reason,
            token=token,
            expires_at=now + HANDSHAKE_TTL,
            now=now,
        )
    if not began:
        step("Another creation of this webhook is in flight; leaving it to finish")
        return Outcome("busy", "a creation is in flight")
    step(f"Creating the Asana webhook on project {project_gid}" + (f" ({reason})" if reason else ""))
    try:
        hook = client.create_webhook(project_gid, target_url(public_url, connection_id, token), FILTERS)
    except IntegrationError as exc:
        with factory() as session, session.begin():
            hooks.mark_failed(session, connection_id, f"Asana refused the webhook: {exc}", _now())
        raise
    with factory() as session, session.begin():
        hooks.mark_active(session, connection_id, webhook_gid=hook.gid, resource_gid=project_gid, now=_now())
    log.info("asana webhook created", extra={"connection_id": connection_id, "webhook_gid": hook.gid})
    return Outcome("created", hook.gid)


def remove(session: Session, client_factory: Callable[[], AsanaClient], connection_id: int) -> str | None:
    """On disconnect: delete the connection's webhook at Asana and forget it.

    Returns a message when Asana could not be asked (the row is forgotten anyway: the grant is
    about to be revoked, and Asana deletes a webhook whose deliveries keep failing).
    """
    row = hooks.get(session, connection_id)
    problem = None
    if row is not None and row.webhook_gid:
        try:
            with client_factory() as client:
                delete(client, row.webhook_gid)
        except IntegrationError as exc:
            log.warning("deleting the asana webhook failed: %s", type(exc).__name__)
            problem = f"Asana webhook {row.webhook_gid} could not be deleted ({exc}); delete it in Asana"
    hooks.forget(session, connection_id)
    return problem
