"""Approvals: a shopify-order-to-xero job above the tenant's ``approval_above`` waits for an EDITOR,
who approves or rejects through the dashboard's actions (role-checked, audited). Against the live
sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from workflow_harness import SHOP, Env, workflow_env

from app import actions
from db import jobs, workflow_settings
from db.auth import Actor, Forbidden
from db.models import AuditEntry, PipelineJob
from sandbox.shopify import api as shopify_sandbox
from sandbox.xero import data as xero_data

JOB = "shopify-order-to-xero"
ORDER = 5100001001  # #1001: total 284.80 AUD (GST included)
EDITOR = Actor("ed@agency.example", "EDITOR")
VIEWER = Actor("vi@agency.example", "VIEWER")


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    with workflow_env(db_url, tmp_path, ("xero", "shopify")) as env:
        yield env


def require_approval_above(env: Env, amount: float) -> None:
    with env.factory() as session, session.begin():
        workflow_settings.save(session, env.tenant_id, JOB, enabled=True, options={"approval_above": amount})


def invoices_for(reference: str) -> list[dict[str, Any]]:
    org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
    return [i for i in org.invoices.values() if i["Reference"] == reference]


def start(env: Env) -> int:
    shopify_sandbox.orders(SHOP)[ORDER]["financial_status"] = "paid"
    with env.factory() as session, session.begin():
        job_id = jobs.enqueue(session, tenant_id=env.tenant_id, job_type=JOB,
                              params={"order_id": str(ORDER), "shop": SHOP}).id  # fmt: skip
    assert env.runner.run_once()
    return job_id


def audit_actions(env: Env, job_id: int) -> list[tuple[str, str, bool]]:
    with env.factory() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.target == f"job:{job_id}").order_by(AuditEntry.id))
        return [(r.actor, r.action, r.allowed) for r in rows]


def test_an_order_above_the_threshold_waits_and_is_written_once_approved(env: Env) -> None:
    require_approval_above(env, 250)
    job_id = start(env)
    job = env.job(job_id)
    assert job.status == "WAITING" and job.locked_by is None
    assert invoices_for("#1001") == []  # nothing written to Xero yet
    assert env.writes("xero") == {}

    with env.factory() as session:
        [waiting] = actions.awaiting_approval(session, VIEWER)
    assert waiting.job_id == job_id and "284.80 AUD" in waiting.summary
    lines = [li["Description"] for li in waiting.detail["invoice"]["LineItems"]]
    assert lines == ["Merino throw (MT-GRY)", "Kauri coaster set (KC-4)", "Shipping: Courier"]  # as mapped for Xero
    assert waiting.detail["invoice"]["Contact"] == {"Name": "alice@northwind.example",
                                                    "EmailAddress": "alice@northwind.example"}  # fmt: skip

    with env.factory() as session, pytest.raises(Forbidden):
        actions.decide_approval(session, VIEWER, job_id, approved=True, comment="")
    assert env.job(job_id).status == "WAITING"

    with env.factory() as session:
        assert (
            actions.decide_approval(session, EDITOR, job_id, approved=True, comment="checked with Alice") == "approved"
        )
    with env.factory() as session, pytest.raises(LookupError):  # decided once
        actions.decide_approval(session, EDITOR, job_id, approved=False, comment="too late")

    job = env.finish(job_id)
    assert job.status == "COMPLETED", job.error
    assert len(invoices_for("#1001")) == 1
    messages = [s.message for s in env.steps(job_id)]
    assert any(m.startswith("waiting for approval: Xero invoice for Shopify order #1001") for m in messages)
    assert "Approved by ed@agency.example: checked with Alice" in messages
    assert audit_actions(env, job_id) == [
        ("vi@agency.example", "job.approve", False),
        ("ed@agency.example", "job.approve", True),
    ]
    with env.factory() as session:
        assert actions.awaiting_approval(session, VIEWER) == []


def test_a_rejected_order_is_cancelled_with_who_and_why_and_nothing_is_written(env: Env) -> None:
    require_approval_above(env, 100)
    job_id = start(env)
    with env.factory() as session, pytest.raises(ValueError, match="comment is required"):
        actions.decide_approval(session, EDITOR, job_id, approved=False, comment="  ")
    with env.factory() as session:
        assert actions.decide_approval(session, EDITOR, job_id, approved=False, comment="duplicate order") == "rejected"
    job = env.finish(job_id)
    assert job.status == "CANCELLED"
    assert job.error == "approval rejected by ed@agency.example: duplicate order"
    assert invoices_for("#1001") == [] and env.writes("xero") == {}
    assert audit_actions(env, job_id) == [("ed@agency.example", "job.reject", True)]


def test_an_order_below_the_threshold_is_written_without_waiting(env: Env) -> None:
    require_approval_above(env, 1000)
    job_id = start(env)
    job = env.job(job_id)
    assert job.status == "COMPLETED", job.error
    assert len(invoices_for("#1001")) == 1
    with env.factory() as session:
        assert session.scalar(select(PipelineJob.status).where(PipelineJob.id == job_id)) == "COMPLETED"
