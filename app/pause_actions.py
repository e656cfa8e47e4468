"""Pausing and resuming a client (or one of its workflows): EDITOR or above, audited.

Like every action in :mod:`app.actions`, each checks the role itself (a refusal is audited and
raises ``Forbidden``), does the work through ``db.jobs.pauses`` and writes the audit log in the
same transaction, so calling it without its button is exactly as safe as clicking it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from db.auth import Actor, audit, require_role
from db.jobs import pauses
from db.models import Tenant
from jobtypes import BY_NAME

EDITOR = "EDITOR"
REASON_MAX = 500  # shown on the board and in the audit log: a sentence, not a document
LONGEST_PAUSE = dt.timedelta(days=366)  # an end time further out is a typo; pause without one instead


def _check_scope(session: Session, tenant_id: int, workflow: str) -> None:
    if session.get(Tenant, tenant_id) is None:
        raise LookupError(f"tenant {tenant_id} does not exist")
    if workflow != pauses.ALL and workflow not in BY_NAME:
        raise ValueError(f"{workflow!r} is not a workflow")


def pause_client(
    session: Session,
    actor: Actor,
    tenant_id: int,
    *,
    reason: str,
    workflow: str = pauses.ALL,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Pause the client (or one workflow) with a reason and an optional end time; the jobs held now."""
    target = f"tenant:{tenant_id}"
    require_role(session, actor, EDITOR, "client.pause", target)
    _check_scope(session, tenant_id, workflow)
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why the client is paused: the reason is shown on the Clients board.")
    if len(reason) > REASON_MAX:
        raise ValueError(f"Keep the reason under {REASON_MAX} characters (it has {len(reason):,}).")
    now = now or dt.datetime.now(dt.UTC)
    if until is not None and until.tzinfo is None:
        raise ValueError("The end time needs a time zone (the board's times are UTC).")
    if until is not None and until <= now:
        raise ValueError(f"The end time {until:%Y-%m-%d %H:%M} UTC has already passed.")
    if until is not None and until - now > LONGEST_PAUSE:
        raise ValueError("An end time more than a year ahead: pause without an end time and resume by hand.")
    held = pauses.pause(session, tenant_id=tenant_id, workflow=workflow, reason=reason, by=actor.email, until=until,
                        now=now)  # fmt: skip
    details = {"workflow": workflow, "reason": reason, "until": until.isoformat() if until else None, "held": held}
    audit(session, actor, "client.pause", target, details)
    session.commit()
    return held


def resume_client(
    session: Session, actor: Actor, tenant_id: int, *, per_minute: int, workflow: str = pauses.ALL
) -> int:
    """Resume the pause now; the held jobs it releases (paced ``per_minute``)."""
    target = f"tenant:{tenant_id}"
    require_role(session, actor, EDITOR, "client.resume", target)
    released = pauses.resume(session, tenant_id=tenant_id, workflow=workflow, per_minute=per_minute)
    if released is None:
        raise LookupError("That pause has already ended.")
    audit(session, actor, "client.resume", target, {"workflow": workflow, "released": released})
    session.commit()
    return released
