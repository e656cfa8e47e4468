"""Alert actions: channels (ADMIN), test messages (ADMIN), rerun or cancel an error group (EDITOR).

Like ``app.actions``: each checks the role server-side (a refusal is audited), works through
``db``, writes the audit log and commits. A test message is only written to the outbox: the
runner sends it, exactly as it sends real alerts, so a test proves the whole path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from app.actions import ADMIN, EDITOR, StaleConfirmation, _done
from app.bulk_actions import BULK_MAX as BULK_RERUN_MAX
from db import jobs
from db.alerts import channels, error_groups, outbox
from db.auth import Actor, require_role
from settings import Settings


def create_channel(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    name: str,
    kind: str,
    events: list[str],
    tenant_id: int | None = None,
    url: str = "",
    to: str = "",
    secret: str = "",
) -> tuple[int, str | None]:
    """Store a channel (secrets encrypted); returns its id and, for a webhook, the signing secret to show once."""
    target = f"tenant:{tenant_id}" if tenant_id is not None else "global"
    require_role(session, actor, ADMIN, "alert_channel.create", target)
    config: dict[str, Any] = {"url": url.strip(), "secret": secret.strip(), "to": to.replace(";", ",").split(",")}
    channel_id, stored = channels.create_channel(
        session, settings.cipher(), name=name, kind=kind, config=config, events=events, tenant_id=tenant_id,
        created_by=actor.email,
    )  # fmt: skip
    _done(session, actor, "alert_channel.create", f"alert_channel:{channel_id}",
          {"kind": kind, "tenant_id": tenant_id, "events": sorted(events)})  # fmt: skip
    return channel_id, stored.get("secret")


def set_channel_enabled(session: Session, actor: Actor, channel_id: int, enabled: bool) -> int:
    target = f"alert_channel:{channel_id}"
    require_role(session, actor, ADMIN, "alert_channel.update", target)
    channels.set_enabled(session, channel_id, enabled)
    _done(session, actor, "alert_channel.update", target, {"enabled": enabled})
    return channel_id


def delete_channel(session: Session, actor: Actor, channel_id: int) -> int:
    target = f"alert_channel:{channel_id}"
    require_role(session, actor, ADMIN, "alert_channel.delete", target)
    channels.delete_channel(session, channel_id)
    _done(session, actor, "alert_channel.delete", target)
    return channel_id


def send_test(session: Session, actor: Actor, channel_id: int) -> int:
    """Queue a test message for the runner to send; returns the delivery id (its outcome shows on Alerts)."""
    target = f"alert_channel:{channel_id}"
    require_role(session, actor, ADMIN, "alert_channel.test", target)
    if not any(c["id"] == channel_id for c in channels.list_channels(session)):
        raise LookupError(f"alert channel {channel_id} does not exist")
    delivery_id = outbox.enqueue_test(session, channel_id, by=actor.email, now=dt.datetime.now(dt.UTC))
    _done(session, actor, "alert_channel.test", target, {"delivery_id": delivery_id})
    return delivery_id


def rerun_group(session: Session, actor: Actor, group_id: int, *, confirmed_count: int) -> list[int]:
    """Rerun every FAILED job of an error group, if there are still as many as the user confirmed."""
    target = f"alert_group:{group_id}"
    require_role(session, actor, EDITOR, "alert_group.rerun", target)
    failed = error_groups.failed_job_ids(session, group_id)
    if len(failed) > BULK_RERUN_MAX:
        raise ValueError(f"more than {BULK_RERUN_MAX} failed jobs in this group; rerun them from the Jobs page")
    if len(failed) != confirmed_count:
        raise StaleConfirmation(f"{len(failed)} failed jobs in the group now, not {confirmed_count}; confirm again")
    new_ids = [jobs.rerun(session, job_id, created_by=actor.email) for job_id in failed]
    _done(session, actor, "alert_group.rerun", target, {"new_jobs": len(new_ids)})
    return new_ids


def cancel_group(session: Session, actor: Actor, group_id: int) -> int:
    """Cancel every queued or running job of the group's problem (its reruns, jobs retrying with its error)."""
    target = f"alert_group:{group_id}"
    require_role(session, actor, EDITOR, "alert_group.cancel", target)
    ids = error_groups.unfinished_job_ids(session, group_id)
    for job_id in ids:
        jobs.cancel(session, job_id, by=actor.email)
    _done(session, actor, "alert_group.cancel", target, {"jobs": len(ids)})
    return len(ids)
