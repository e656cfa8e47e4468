"""Per-tenant workflow settings: defaults, validation on write and read, default schedules."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import workflow_settings as store
from db.models import Connection, Schedule, Tenant
from jobtypes import (
    ASANA_TASK_RECONCILE,
    ASANA_TASKS_POLL,
    ASANA_WEBHOOK_ENSURE,
    DEFAULT_SCHEDULES,
    HUBSPOT_DEAL_WON_TO_ASANA,
    XERO_CONTACTS_TO_HUBSPOT,
    XERO_INVOICE_PAID,
)
from sync import workflow_settings
from sync.errors import PermanentJobError
from sync.workflow_settings import DealWonToAsanaOptions, InvalidOptions, XeroInvoicePaidOptions


@pytest.fixture
def tenant_id(session: Session) -> int:
    tenant = Tenant(name="Acme")
    session.add(tenant)
    session.commit()
    return tenant.id


def test_a_tenant_without_a_row_gets_the_defaults_enabled(session: Session, tenant_id: int) -> None:
    loaded = workflow_settings.load(session, tenant_id, XERO_INVOICE_PAID, XeroInvoicePaidOptions)
    assert loaded.enabled is True
    assert loaded.options.amount_paid_property == "amount_paid"


def test_saving_validates_and_keeps_only_what_differs(session: Session, tenant_id: int) -> None:
    workflow_settings.save(session, tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, options={"asana_project_gid": "42"})
    assert store.load(session, tenant_id, HUBSPOT_DEAL_WON_TO_ASANA).options == {"asana_project_gid": "42"}
    loaded = workflow_settings.load(session, tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, DealWonToAsanaOptions)
    assert (loaded.options.asana_project_gid, loaded.options.due_in_days) == ("42", 7)


def test_a_bad_option_is_refused_naming_the_field(session: Session, tenant_id: int) -> None:
    with pytest.raises(InvalidOptions, match="due_in_days"):
        workflow_settings.save(session, tenant_id, HUBSPOT_DEAL_WON_TO_ASANA, options={"due_in_days": -1})
    with pytest.raises(InvalidOptions, match="colour"):
        workflow_settings.save(session, tenant_id, XERO_INVOICE_PAID, options={"colour": "red"})


def test_a_stored_row_that_no_longer_validates_fails_the_job_permanently(session: Session, tenant_id: int) -> None:
    store.save(session, tenant_id, XERO_INVOICE_PAID, enabled=True, options={"amount_paid_property": ""})
    with pytest.raises(PermanentJobError, match="amount_paid_property"):
        workflow_settings.load(session, tenant_id, XERO_INVOICE_PAID, XeroInvoicePaidOptions)


def test_default_schedules_follow_the_connections_and_are_created_once(session: Session, tenant_id: int) -> None:
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    tenant.timezone = "Australia/Sydney"
    session.add_all([Connection(tenant_id=tenant_id, system=s) for s in ("xero", "hubspot")])
    session.flush()
    first = store.ensure_default_schedules(session, tenant_id, DEFAULT_SCHEDULES)
    assert len(first) == 1 and store.ensure_default_schedules(session, tenant_id, DEFAULT_SCHEDULES) == []
    schedule = session.scalars(select(Schedule).where(Schedule.tenant_id == tenant_id)).one()
    # In the tenant's timezone, as the Schedules page shows it.
    assert (schedule.job_type, schedule.cron, schedule.timezone) == (
        XERO_CONTACTS_TO_HUBSPOT,
        "*/15 * * * *",
        "Australia/Sydney",
    )
    workflow_settings.save(session, tenant_id, XERO_CONTACTS_TO_HUBSPOT, options={"interval_minutes": 5})
    session.refresh(schedule)
    assert schedule.cron == "*/5 * * * *"


def test_the_asana_poll_follows_the_asana_webhook_workflows_settings(session: Session, tenant_id: int) -> None:
    session.add_all([Connection(tenant_id=tenant_id, system=s) for s in ("asana", "hubspot")])
    workflow_settings.save(session, tenant_id, ASANA_TASK_RECONCILE, options={"interval_minutes": 30})
    created = store.ensure_default_schedules(session, tenant_id, DEFAULT_SCHEDULES)
    # The poll, and the check that the Asana webhook still exists: both on the webhook workflow's settings.
    schedules = {s.job_type: s for s in (session.get(Schedule, i) for i in created) if s is not None}
    assert {k: s.cron for k, s in schedules.items()} == {
        ASANA_TASKS_POLL: "*/30 * * * *",
        ASANA_WEBHOOK_ENSURE: "*/30 * * * *",
    }
    workflow_settings.save(session, tenant_id, ASANA_TASK_RECONCILE, options={"interval_minutes": 120})
    for schedule in schedules.values():
        session.refresh(schedule)
        assert schedule.cron == "0 */2 * * *"
