"""The action layer checks roles itself and audits everything, allowed or refused."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import actor
from dashboard_seed import INVOICE_ID, Seeded
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import actions, bulk_actions
from db.auth import Forbidden
from db.filters import JobFilter
from db.models import AuditEntry, PipelineJob, Schedule, Tenant
from jobtypes import InvalidParams


def _audit(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_viewer_calling_rerun_directly_is_refused_and_audited(db_session: Session, seeded: Seeded) -> None:
    with pytest.raises(Forbidden):
        actions.rerun(db_session, actor("VIEWER"), seeded.invoice_job)
    entry = _audit(db_session)[-1]
    assert (entry.actor, entry.action, entry.target, entry.allowed) == (
        "viewer@example.com",
        "job.rerun",
        f"job:{seeded.invoice_job}",
        False,
    )
    assert db_session.scalar(select(PipelineJob).where(PipelineJob.parent_job_id == seeded.invoice_job)) is None


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda s, a, d: actions.cancel(s, a, d.invoice_job), "job.cancel"),
        (lambda s, a, d: bulk_actions.bulk_rerun(s, a, JobFilter(), confirmed_count=6), "job.bulk_rerun"),
        (lambda s, a, d: bulk_actions.bulk_cancel(s, a, JobFilter(), confirmed_count=2), "job.bulk_cancel"),
        (lambda s, a, d: list(actions.export_jobs(s, a, JobFilter())), "jobs.export"),
        (lambda s, a, d: actions.export_related_records(s, a, d.invoice_job), "records.export"),
        (lambda s, a, d: actions.replay_delivery(s, a, d.delivery_id), "delivery.replay"),
        (lambda s, a, d: actions.run_schedule_now(s, a, d.schedule_id), "schedule.run_now"),
        (lambda s, a, d: actions.update_schedule(s, a, d.schedule_id, enabled=False), "schedule.update"),
    ],
)
def test_editor_actions_refuse_viewers(db_session: Session, seeded: Seeded, call: object, name: str) -> None:
    with pytest.raises(Forbidden):
        call(db_session, actor("VIEWER"), seeded)  # type: ignore[operator]
    assert (_audit(db_session)[-1].action, _audit(db_session)[-1].allowed) == (name, False)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda s, a, d: actions.create_tenant(s, a, "Evil Co", "UTC"), "tenant.create"),
        (lambda s, a, d: actions.update_tenant(s, a, d.acme, active=False), "tenant.update"),
        (lambda s, a, d: actions.add_user(s, a, "x@example.com", "ADMIN", "long enough pw"), "user.create"),
        (lambda s, a, d: actions.update_user(s, a, 2, role="ADMIN"), "user.update"),
        (lambda s, a, d: actions.create_token(s, a, 2, "t"), "token.create"),
        (
            lambda s, a, d: actions.save_workflow_setting(s, a, d.acme, "w", enabled=False, options={}),
            "workflow.update",
        ),
    ],
)
def test_admin_actions_refuse_editors(db_session: Session, seeded: Seeded, call: object, name: str) -> None:
    with pytest.raises(Forbidden):
        call(db_session, actor("EDITOR"), seeded)  # type: ignore[operator]
    assert (_audit(db_session)[-1].action, _audit(db_session)[-1].allowed) == (name, False)


def test_bulk_rerun_refuses_a_stale_confirmation(db_session: Session, seeded: Seeded) -> None:
    failed = JobFilter(statuses=("FAILED",))
    with pytest.raises(actions.StaleConfirmation):
        bulk_actions.bulk_rerun(db_session, actor("EDITOR"), failed, confirmed_count=3)
    done = bulk_actions.bulk_rerun(db_session, actor("EDITOR"), failed, confirmed_count=6)
    # The rerun of a rerun's parent lacks invoice_id: left out and named, not queued to fail.
    assert len(done.ids) == 5 and [r.job_id for r in done.refused] == [seeded.rerun_child]
    assert done.refused[0].reason == "invoice_id is required"
    entry = _audit(db_session)[-1]
    assert (entry.action, entry.details["filter"], entry.details["matched"], entry.details["new_jobs"]) == (
        "job.bulk_rerun",
        {"statuses": ["FAILED"]},
        6,
        5,
    )
    assert entry.details["refused"] == [seeded.rerun_child]


def test_bulk_rerun_takes_every_finished_job_the_filter_matches_paced_below_live_work(
    db_session: Session, seeded: Seeded
) -> None:
    bolt = JobFilter(tenant_ids=(seeded.bolt,))  # any status: 2 failed and 3 completed Shopify jobs
    plan = bulk_actions.plan_rerun(db_session, bolt)
    assert (plan.count, plan.refused) == (5, [])
    now = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    done = bulk_actions.bulk_rerun(db_session, actor("EDITOR"), bolt, confirmed_count=5, now=now)
    new = [db_session.get(PipelineJob, i) for i in done.ids]
    gap = 60 / bulk_actions.JOBS_PER_MINUTE
    starts = sorted(_aware(j.run_at) for j in new if j is not None)
    assert starts == [now + dt.timedelta(seconds=gap * k) for k in range(5)]
    assert {j.priority for j in new if j is not None} == {-1}  # live work (priority 0) goes first
    # Pressed again: every one has a rerun under way, so nothing matches.
    assert bulk_actions.plan_rerun(db_session, bolt).count == 0


def test_bulk_cancel_stops_every_queued_and_running_job_once_audited(db_session: Session, seeded: Seeded) -> None:
    assert bulk_actions.cancel_count(db_session, JobFilter()) == 2
    cancelled, stopping = bulk_actions.bulk_cancel(db_session, actor("EDITOR"), JobFilter(), confirmed_count=2)
    assert (cancelled, stopping) == (1, 1)
    db_session.expire_all()
    statuses = dict(db_session.execute(select(PipelineJob.status, func.count()).group_by(PipelineJob.status)).all())
    assert statuses.get("QUEUED") is None and statuses["RUNNING"] == 1  # it stops at its next checkpoint
    entry = _audit(db_session)[-1]
    assert (entry.action, entry.details) == (
        "job.bulk_cancel",
        {"filter": {}, "matched": 2, "cancelled": 1, "stopping": 1},
    )
    assert len([e for e in _audit(db_session) if e.action == "job.bulk_cancel"]) == 1


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def test_replay_reruns_the_deliverys_jobs(db_session: Session, seeded: Seeded) -> None:
    ids = actions.replay_delivery(db_session, actor("EDITOR"), seeded.delivery_id)
    job = db_session.get(PipelineJob, ids[0])
    assert job is not None and job.parent_job_id == seeded.invoice_job
    assert _audit(db_session)[-1].details == {"new_jobs": ids}


def test_schedules_are_created_validated_and_run(db_session: Session, seeded: Seeded) -> None:
    editor = actor("EDITOR")
    with pytest.raises(ValueError, match="invalid cron"):
        actions.create_schedule(db_session, editor, tenant_id=seeded.acme, job_type="noop", cron="61 * * * *",
                                timezone="UTC", params={})  # fmt: skip
    with pytest.raises(InvalidParams, match="a is not a parameter of noop"):
        actions.create_schedule(db_session, editor, tenant_id=seeded.acme, job_type="noop", cron="*/5 * * * *",
                                timezone="UTC", params={"a": 1})  # fmt: skip
    sid = actions.create_schedule(db_session, editor, tenant_id=seeded.acme, job_type="noop", cron="*/5 * * * *",
                                  timezone="Australia/Sydney", params={"sleep_ms": 1})  # fmt: skip
    assert len(actions.check_cron("*/5 * * * *", "Australia/Sydney")) == 3
    actions.update_schedule(db_session, editor, sid, enabled=False)
    db_session.expire_all()
    assert db_session.get(Schedule, sid).enabled is False  # type: ignore[union-attr]
    job_id = actions.run_schedule_now(db_session, editor, sid)
    assert db_session.get(PipelineJob, job_id).params == {"sleep_ms": 1}  # type: ignore[union-attr]
    with pytest.raises(InvalidParams, match="sleep_ms"):
        actions.update_schedule(db_session, editor, sid, params={"sleep_ms": -1})


def test_admins_manage_tenants_users_and_tokens(db_session: Session, seeded: Seeded) -> None:
    admin = actor("ADMIN")
    tid = actions.create_tenant(db_session, admin, "Cobalt Cafe", "Europe/Berlin")
    with pytest.raises(ValueError, match="timezone"):
        actions.create_tenant(db_session, admin, "Nowhere", "Mars/Olympus")
    actions.update_tenant(db_session, admin, tid, active=False)
    assert db_session.get(Tenant, tid).active is False  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="12 characters"):
        actions.add_user(db_session, admin, "new@example.com", "VIEWER", "short")
    uid = actions.add_user(db_session, admin, "new@example.com", "VIEWER", "twelve chars!")
    token = actions.create_token(db_session, admin, uid, "ci")
    assert token.startswith("zx_") and token not in str([e.details for e in _audit(db_session)])
    with pytest.raises(ValueError, match="last active admin"):
        actions.update_user(db_session, admin, 1, role="VIEWER")


def test_params_must_be_a_json_object() -> None:
    assert actions.parse_params('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="JSON object"):
        actions.parse_params("[1]")
    with pytest.raises(ValueError, match="line 1"):
        actions.parse_params("{")


def test_a_rerun_is_checked_by_the_catalogue_and_queues_nothing_when_invalid(
    db_session: Session, seeded: Seeded
) -> None:
    editor = actor("EDITOR")
    before = db_session.scalar(select(func.count()).select_from(PipelineJob))
    with pytest.raises(InvalidParams) as edited:
        actions.rerun(db_session, editor, seeded.invoice_job, {"invoice_id": ""})
    assert [str(e) for e in edited.value.errors] == ["invoice_id must not be empty"]
    with pytest.raises(InvalidParams, match="invoice_id must be text in quotes, not the number 12345"):
        actions.rerun(db_session, editor, seeded.invoice_job, {"invoice_id": 12345})
    with pytest.raises(InvalidParams, match="must be the Xero InvoiceID"):
        actions.rerun(db_session, editor, seeded.invoice_job, {"invoice_id": "INV-0042"})  # the number, not the id
    with pytest.raises(InvalidParams, match="invoice_id is required"):
        actions.rerun(db_session, editor, seeded.rerun_child)  # its stored params lack invoice_id
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(PipelineJob)) == before
    new_id = actions.rerun(db_session, editor, seeded.invoice_job, {"invoice_id": INVOICE_ID})
    assert db_session.get(PipelineJob, new_id).params == {"invoice_id": INVOICE_ID}  # type: ignore[union-attr]
