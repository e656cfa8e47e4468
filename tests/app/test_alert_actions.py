"""Alert actions on both databases: ADMIN-only channels, EDITOR group rerun and cancel, all audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app import alert_actions
from app.actions import StaleConfirmation
from db import jobs
from db.alerts import error_groups
from db.auth import Actor, Forbidden
from db.models import AlertChannel, AuditEntry, PipelineJob, Tenant
from settings import Settings
from sync.alerts.check import check
from sync.runner import Runner


def actor(role: str) -> Actor:
    """Staff without a user row (the fresh database has none): audited by email."""
    return Actor(email=f"{role.lower()}@example.com", role=role)


def test_only_an_admin_configures_channels_and_refusals_are_audited(settings: Settings, session: Session) -> None:
    with pytest.raises(Forbidden):
        alert_actions.create_channel(session, settings, actor("EDITOR"), name="x", kind="slack",
                                     events=["job_failed"], url="https://hooks.slack.com/services/T/B/X")  # fmt: skip
    refused = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert refused is not None and (refused.action, refused.allowed) == ("alert_channel.create", False)
    channel_id, secret = alert_actions.create_channel(
        session, settings, actor("ADMIN"), name="Ops", kind="slack", events=["job_failed", "sync_stale"],
        url="https://hooks.slack.com/services/T/B/X",
    )  # fmt: skip
    assert secret is None
    stored = session.get(AlertChannel, channel_id)
    assert stored is not None and "hooks.slack.com/services" not in stored.config_ciphertext
    assert stored.target_hint == "Slack webhook at hooks.slack.com"  # the path is the secret
    with pytest.raises(Forbidden):
        alert_actions.send_test(session, actor("EDITOR"), channel_id)
    with pytest.raises(ValueError, match="must start with whsec_"):
        alert_actions.create_channel(session, settings, actor("ADMIN"), name="h", kind="webhook",
                                     events=["job_failed"], url="https://example.com/h", secret="plain")  # fmt: skip


def test_an_editor_reruns_every_failed_job_of_a_group_then_cancels_the_reruns(
    settings: Settings, engine: Engine, session: Session
) -> None:
    tenants = [Tenant(name="A"), Tenant(name="B")]
    session.add_all(tenants)
    session.commit()
    for i in range(6):
        jobs.enqueue(session, tenant_id=tenants[i % 2].id, job_type="noop", params={"fail_times": 1, "permanent": True})
    session.commit()
    Runner(settings, engine, runner_id="r").run_until_empty()
    check(engine, settings, lambda: dt.datetime.now(dt.UTC))
    [group] = error_groups.error_groups(session)
    assert (group["count"], group["tenants"], group["tenant_names"]) == (6, 2, "A, B")

    with pytest.raises(Forbidden):
        alert_actions.rerun_group(session, actor("VIEWER"), group["group"], confirmed_count=6)
    with pytest.raises(StaleConfirmation):
        alert_actions.rerun_group(session, actor("EDITOR"), group["group"], confirmed_count=5)
    new_ids = alert_actions.rerun_group(session, actor("EDITOR"), group["group"], confirmed_count=6)
    assert len(new_ids) == 6
    assert alert_actions.cancel_group(session, actor("EDITOR"), group["group"]) == 6
    statuses = session.scalars(select(PipelineJob.status).where(PipelineJob.id.in_(new_ids))).all()
    assert set(statuses) == {"CANCELLED"}
    audited = session.scalar(select(func.count()).where(AuditEntry.action.like("alert_group.%"), AuditEntry.allowed))
    assert audited == 2
