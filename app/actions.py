"""Every change the dashboard can make. Each action checks the actor's role itself
(``db.auth.require_role``: a refusal is audited and raises ``Forbidden``), does the work
through ``db``/``integrations`` functions, writes the audit log and commits — so calling an
action directly, without its button, is exactly as safe as clicking it.

Roles: VIEWER reads; EDITOR reruns, cancels, approves or rejects waiting writes, exports, replays and
edits schedules; ADMIN also manages tenants, users, tokens, workflow settings and connections.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from db import admin, jobs, login_throttle, queries, schedules, workflow_settings
from db.auth import Actor, audit, create_api_token, create_user, require_role
from db.blobs import BlobStore
from db.export import jobs_csv, jobs_csv_to_blob, related_records_csv
from db.filters import JobFilter
from integrations.links import record_url
from jobtypes import queued_on_options, schedules_following, validate_options, validate_params
from settings import Settings

EDITOR, ADMIN = "EDITOR", "ADMIN"


class StaleConfirmation(RuntimeError):
    """The number of jobs changed since the user confirmed; ask again."""


def _done(
    session: Session, actor: Actor, action: str, target: str | None, details: dict[str, Any] | None = None
) -> None:
    audit(session, actor, action, target, details)
    session.commit()


def parse_params(text: str) -> dict[str, Any]:
    """Edited params: a JSON object, or ValueError saying what is wrong and where."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise ValueError("params must be a JSON object ({...})")
    return value


def _filter_details(f: JobFilter) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dataclasses.asdict(f).items() if v}


# -- jobs ----------------------------------------------------------------------------------


def rerun(session: Session, actor: Actor, job_id: int, params: dict[str, Any] | None = None) -> int:
    """A new job with the original's params (or ``params``), after the catalogue's check.

    Params the runner would refuse (a typo in an edit, or stored params today's rules no longer
    accept) raise ``jobtypes.InvalidParams`` naming each field, and nothing is queued.
    """
    target = f"job:{job_id}"
    require_role(session, actor, EDITOR, "job.rerun", target)
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be a JSON object")
    original = queries.job_detail(session, job_id)
    if original is None:
        raise LookupError(f"job {job_id} does not exist")
    validate_params(original.job["job_type"], original.job["params"] if params is None else params)
    new_id = jobs.rerun(session, job_id, params=params, created_by=actor.email)
    _done(session, actor, "job.rerun", target, {"new_job_id": new_id, "edited_params": params is not None})
    return new_id


def cancel(session: Session, actor: Actor, job_id: int) -> str:
    target = f"job:{job_id}"
    require_role(session, actor, EDITOR, "job.cancel", target)
    status = jobs.cancel(session, job_id, by=actor.email)
    _done(session, actor, "job.cancel", target, {"status": status})
    return status


def decide_approval(session: Session, actor: Actor, job_id: int, *, approved: bool, comment: str) -> str:
    """Approve or reject the write a waiting job asked approval for (EDITOR or above; audited).

    Raises ``LookupError`` when the job has no open approval (decided meanwhile, expired, ended)
    and ``ValueError`` for a rejection without a comment. Returns ``approved`` or ``rejected``.
    """
    target = f"job:{job_id}"
    verb = "approve" if approved else "reject"
    require_role(session, actor, EDITOR, f"job.{verb}", target)
    comment = comment.strip()
    if not approved and not comment:
        raise ValueError("say why the write is rejected (a comment is required)")
    open_wait = next((w for w in jobs.waits.waits_of(session, job_id) if w.reason == "approval" and w.outcome is None),
                     None)  # fmt: skip
    job_tenant = open_wait.tenant_id if open_wait is not None else None
    if open_wait is None or job_tenant is None or not actor.sees_tenant(job_tenant):
        raise LookupError(f"job {job_id} is not waiting for an approval")
    if not jobs.waits.decide(session, open_wait.id, approved=approved, by=actor.email, comment=comment):
        session.rollback()
        raise LookupError(f"job {job_id}'s approval was decided or expired meanwhile")
    outcome = "approved" if approved else "rejected"
    _done(session, actor, f"job.{verb}", target, {"outcome": outcome, "comment": comment, "wait_id": open_wait.id})
    jobs.notify_runners(session)  # the job is claimable again: wake a runner (PostgreSQL)
    session.commit()
    return outcome


def awaiting_approval(session: Session, actor: Actor) -> list[jobs.waits.OpenApproval]:
    """The open approvals the actor may see (any role reads; deciding needs EDITOR)."""
    found = jobs.waits.open_approvals(session)
    return [a for a in found if actor.sees_tenant(a.tenant_id)]


# -- exports -------------------------------------------------------------------------------


def export_jobs(session: Session, actor: Actor, job_filter: JobFilter) -> Iterator[bytes]:
    """The filtered jobs as CSV chunks; the session must stay open while they are read."""
    require_role(session, actor, EDITOR, "jobs.export", "jobs")
    _done(session, actor, "jobs.export", "jobs", {"filter": _filter_details(job_filter)})
    return jobs_csv(session, job_filter)


def export_jobs_to_blob(
    session: Session,
    actor: Actor,
    store: BlobStore,
    job_filter: JobFilter,
    filename: str,
    progress: Callable[[int], None] | None = None,
) -> str:
    require_role(session, actor, EDITOR, "jobs.export", "jobs")
    key = jobs_csv_to_blob(session, store, job_filter, filename, progress=progress)
    _done(session, actor, "jobs.export", "jobs", {"filter": _filter_details(job_filter), "blob": key})
    return key


def export_related_records(session: Session, actor: Actor, job_id: int) -> bytes:
    target = f"job:{job_id}"
    require_role(session, actor, EDITOR, "records.export", target)
    body = b"".join(related_records_csv(session, job_id, link=record_url))
    _done(session, actor, "records.export", target)
    return body


# -- webhooks ------------------------------------------------------------------------------


def replay_delivery(session: Session, actor: Actor, delivery_pk: int) -> list[int]:
    """Run a delivery's jobs again on today's workflow code (reruns linked to the originals)."""
    target = f"delivery:{delivery_pk}"
    require_role(session, actor, EDITOR, "delivery.replay", target)
    found = queries.delivery_job_ids(session, delivery_pk)
    if found is None:
        raise LookupError(f"delivery {delivery_pk} does not exist")
    if not found[2]:
        raise ValueError(
            "this delivery created no jobs (rejected, duplicate or no workflow), so there is none to replay"
        )
    for job_id in found[2]:  # the catalogue's check first: a replay that would fail at once queues nothing
        original = queries.job_detail(session, job_id)
        if original is not None:
            validate_params(original.job["job_type"], original.job["params"])
    ids = [jobs.rerun(session, job_id, created_by=actor.email) for job_id in found[2]]
    _done(session, actor, "delivery.replay", target, {"new_jobs": ids})
    return ids


# -- schedules -----------------------------------------------------------------------------


def check_cron(cron: str, timezone: str) -> list[Any]:
    """The next three fire times, or ValueError naming the problem."""
    try:
        return schedules.next_fire_times(cron.strip(), timezone, 3)
    except Exception as exc:  # APScheduler raises ValueError (or KeyError for zones)
        raise ValueError(f"invalid cron {cron!r}: {exc}") from exc


def create_schedule(
    session: Session,
    actor: Actor,
    *,
    tenant_id: int,
    job_type: str,
    cron: str,
    timezone: str,
    params: dict[str, Any],
    enabled: bool = True,
) -> int:
    require_role(session, actor, EDITOR, "schedule.create", f"tenant:{tenant_id}")
    check_cron(cron, timezone)
    validate_params(job_type.strip(), params)  # what every fired job will carry: refuse a typo now
    schedule_id = schedules.create_schedule(
        session,
        tenant_id=tenant_id,
        job_type=job_type.strip(),
        cron=cron.strip(),
        timezone=timezone,
        params=params,
        enabled=enabled,
    )
    _done(session, actor, "schedule.create", f"schedule:{schedule_id}", {"cron": cron, "job_type": job_type})
    return schedule_id


def update_schedule(session: Session, actor: Actor, schedule_id: int, **changes: Any) -> int:
    """Change cron, timezone, params, job_type and/or enabled (new params pass the catalogue's check)."""
    target = f"schedule:{schedule_id}"
    require_role(session, actor, EDITOR, "schedule.update", target)
    if changes.get("cron") is not None:
        check_cron(changes["cron"], changes.get("timezone") or "UTC")
    if changes.get("params") is not None:
        validate_params(changes.get("job_type") or schedules.schedule_job_type(session, schedule_id), changes["params"])
    schedules.update_schedule(session, schedule_id, **changes)
    _done(session, actor, "schedule.update", target, {k: v for k, v in changes.items() if k != "params"})
    return schedule_id


def run_schedule_now(session: Session, actor: Actor, schedule_id: int) -> int:
    target = f"schedule:{schedule_id}"
    require_role(session, actor, EDITOR, "schedule.run_now", target)
    job_id = schedules.run_schedule_now(session, schedule_id, created_by=actor.email)
    _done(session, actor, "schedule.run_now", target, {"job_id": job_id})
    return job_id


# -- admin: tenants, users, tokens, workflow settings ------------------------------------


def create_tenant(session: Session, actor: Actor, name: str, timezone: str) -> int:
    require_role(session, actor, ADMIN, "tenant.create", name)
    tenant_id = admin.create_tenant(session, name, timezone)
    _done(session, actor, "tenant.create", f"tenant:{tenant_id}", {"name": name, "timezone": timezone})
    return tenant_id


def update_tenant(session: Session, actor: Actor, tenant_id: int, **changes: Any) -> int:
    target = f"tenant:{tenant_id}"
    require_role(session, actor, ADMIN, "tenant.update", target)
    admin.update_tenant(session, tenant_id, **changes)
    _done(session, actor, "tenant.update", target, changes)
    return tenant_id


def add_user(session: Session, actor: Actor, email: str, role: str, password: str) -> int:
    require_role(session, actor, ADMIN, "user.create", email)
    if len(password) < 12:
        raise ValueError("the password must be at least 12 characters")
    user = create_user(session, email, role, password)
    _done(session, actor, "user.create", f"user:{user.id}", {"email": user.email, "role": user.role})
    return user.id


def update_user(
    session: Session, actor: Actor, user_id: int, *, role: str | None = None, active: bool | None = None
) -> int:
    target = f"user:{user_id}"
    require_role(session, actor, ADMIN, "user.update", target)
    user = admin.get_user(session, user_id)
    demotes_admin = user.role == "ADMIN" and user.active and (role not in (None, "ADMIN") or active is False)
    if demotes_admin and admin.count_active_admins(session) <= 1:
        raise ValueError("this is the last active admin; make another admin first")
    admin.update_user(session, user_id, role=role, active=active)
    _done(session, actor, "user.update", target, {"role": role, "active": active})
    return user_id


def create_token(
    session: Session, actor: Actor, user_id: int, name: str, role: str | None = None, tenant_id: int | None = None
) -> str:
    """A new API token (limited to ``tenant_id`` when given); the secret is shown once and never stored."""
    target = f"user:{user_id}"
    require_role(session, actor, ADMIN, "token.create", target)
    user = admin.get_user(session, user_id)
    token = create_api_token(session, user, name=name, role=role, tenant_id=tenant_id)
    _done(session, actor, "token.create", target, {"name": name, "prefix": token[:10], "tenant_id": tenant_id})
    return token


def revoke_token(session: Session, actor: Actor, token_id: int) -> int:
    target = f"token:{token_id}"
    require_role(session, actor, ADMIN, "token.revoke", target)
    admin.revoke_token(session, token_id)
    _done(session, actor, "token.revoke", target)
    return token_id


def unlock_login(session: Session, actor: Actor, key: str) -> bool:
    """Lift a login lockout (ADMIN; audited by ``db.login_throttle.unlock``)."""
    unlocked = login_throttle.unlock(session, actor, key)
    session.commit()
    return unlocked


def save_workflow_setting(
    session: Session, actor: Actor, tenant_id: int, workflow: str, *, enabled: bool, options: dict[str, Any]
) -> int:
    target = f"tenant:{tenant_id}/workflow:{workflow}"
    require_role(session, actor, ADMIN, "workflow.update", target)
    # The runner's own model checks the options here, so a bad one is refused where it is typed.
    name = workflow.strip()
    validated = validate_options(name, options)
    before = workflow_settings.load(session, tenant_id, name).options
    workflow_settings.save_validated(
        session, tenant_id, name, enabled=enabled, options=validated, retimes=schedules_following(name)
    )
    if workflow_settings.load(session, tenant_id, name).options != before:
        # What the options look after changed (the onboarding project: its Asana webhook).
        for entry in queued_on_options(name):
            assert entry.upkeep is not None
            jobs.enqueue(session, **entry.upkeep.job(entry.name, tenant_id, f"{name} options changed"))
    _done(session, actor, "workflow.update", target, {"enabled": enabled})
    return tenant_id


# -- connections -----------------------------------------------------------------------------


def connect(
    session: Session, settings: Settings, actor: Actor, tenant_id: int, system: str, shop: str | None = None
) -> str:
    """Start the OAuth flow; returns the vendor's consent URL to send the browser to."""
    from integrations import oauth

    target = f"tenant:{tenant_id}/{system}"
    require_role(session, actor, ADMIN, "connection.connect", target)
    url = oauth.start_authorization(session, settings, tenant_id, system, actor.email, shop=shop)
    _done(session, actor, "connection.connect", target, {"shop": shop} if shop else None)
    return url


def disconnect(session: Session, settings: Settings, actor: Actor, tenant_id: int, system: str) -> str:
    from integrations import oauth

    target = f"tenant:{tenant_id}/{system}"
    require_role(session, actor, ADMIN, "connection.disconnect", target)
    oauth.disconnect(session, settings, admin.get_connection(session, tenant_id, system))
    _done(session, actor, "connection.disconnect", target)
    return system


def test_connection(session: Session, settings: Settings, actor: Actor, tenant_id: int, system: str) -> str:
    """Ask the vendor who we are with the stored tokens; returns a one-line verdict."""
    target = f"tenant:{tenant_id}/{system}"
    require_role(session, actor, ADMIN, "connection.test", target)
    try:
        from integrations.oauth import test_connection as probe
    except ImportError:
        raise NotImplementedError("the connection test is not available in this build") from None
    connection = admin.get_connection(session, tenant_id, system)
    # End this read before the probe: it writes (token refresh, verdict) from sessions of its own, and
    # on SQLite a read transaction that writes after another did fails at once ("database is locked").
    session.commit()
    verdict = str(probe(session, settings, connection))
    _done(session, actor, "connection.test", target, {"verdict": verdict[:200]})
    return verdict
