"""The Jobs page: browse, filter, open a job, rerun, cancel, bulk rerun, export — and the role gates."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from dashboard_seed import INVOICE_ID, Seeded
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from db.models import AuditEntry, PipelineJob


def _table_ids(at: AppTest) -> list[int]:
    return [int(i) for i in at.dataframe[0].value["id"]]


def test_the_browser_lists_jobs_newest_first_and_pages(app: Callable[..., AppTest]) -> None:
    at = app("VIEWER", "pages/jobs.py")
    assert not at.exception, at.exception
    assert len(_table_ids(at)) == 40
    assert at.button(key="jobs_next").disabled and at.button(key="jobs_prev").disabled


def test_filtering_failed_jobs_shows_only_them(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", "pages/jobs.py")
    at.multiselect(key="jf_statuses").select("FAILED").run()
    assert sorted(_table_ids(at)) == sorted(seeded.failed_ids)
    at.text_input(key="jf_text").input("validation").run()
    assert len(_table_ids(at)) == 1


def test_a_link_from_the_clients_board_presets_the_filters(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", "pages/jobs.py", query={"tenant": str(seeded.bolt), "status": "FAILED"})
    at.switch_page("pages/jobs.py").run()
    assert not at.exception, at.exception
    assert len(_table_ids(at)) == 2


def test_opening_a_job_shows_steps_records_and_lineage(app: Callable[..., AppTest], seeded: Seeded) -> None:
    at = app("VIEWER", "pages/jobs.py")
    at.number_input(key="jobs_open_id").set_value(seeded.rerun_child)
    at.button[[b.label for b in at.button].index("Go to job")].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == f"Job #{seeded.rerun_child} · FAILED"
    links = [b.label for b in at.button if b.key and b.key.startswith("lineage_")]
    assert any(label.startswith(f"#{seeded.rerun_of_failed} ") for label in links)
    assert any(label.startswith("↳ #") for label in links)
    assert at.button(key="job_rerun").disabled  # a VIEWER sees the button greyed out
    # Following the lineage opens that job and puts it in the URL, which the next click reads.
    at.button(key=f"lineage_{seeded.rerun_of_failed}").click().run()
    assert at.title[0].value.startswith(f"Job #{seeded.rerun_of_failed} ")
    assert at.query_params["job"] == str(seeded.rerun_of_failed)


def test_an_editor_reruns_a_job_and_lands_on_the_new_one(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.query_params["job"] = str(seeded.invoice_job)
    at.run()
    at.button(key="job_rerun").click().run()
    assert not at.exception, at.exception
    new = db_session.scalar(select(PipelineJob).where(PipelineJob.parent_job_id == seeded.invoice_job))
    assert new is not None and new.status == "QUEUED" and new.created_by == "editor@example.com"
    assert at.query_params["job"] == [str(new.id)] or at.query_params["job"] == str(new.id)
    assert at.success[0].value.startswith(f"Rerun queued as job #{new.id}")
    audit = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "job.rerun")).one()
    assert audit.actor == "editor@example.com" and audit.target == f"job:{seeded.invoice_job}" and audit.allowed


def _reruns(db_session: Session, parent: int) -> list[PipelineJob]:
    db_session.expire_all()
    return list(db_session.scalars(select(PipelineJob).where(PipelineJob.parent_job_id == parent)))


def test_rerun_with_edited_params_validates_the_json(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.query_params["job"] = str(seeded.invoice_job)
    at.run()
    at.text_area(key=f"edit_params_{seeded.invoice_job}").input("[1, 2").run()
    at.button(key="job_rerun_edited").click().run()
    assert "not valid JSON" in at.error[0].value
    at.text_area(key=f"edit_params_{seeded.invoice_job}").input(json.dumps({"invoice_id": INVOICE_ID})).run()
    at.button(key="job_rerun_edited").click().run()
    (new,) = _reruns(db_session, seeded.invoice_job)
    assert new.params == {"invoice_id": INVOICE_ID}


def test_rerun_with_edited_params_shows_each_bad_field_and_queues_nothing(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.query_params["job"] = str(seeded.invoice_job)
    at.run()
    at.text_area(key=f"edit_params_{seeded.invoice_job}").input('{"invoice": "INV-9"}').run()  # a typo
    at.button(key="job_rerun_edited").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["invoice_id is required."]
    assert "Nothing was saved or queued" in at.warning[0].value
    assert not any("pydantic" in e.value or "http" in e.value for e in at.error)
    assert _reruns(db_session, seeded.invoice_job) == []
    assert at.title[0].value.startswith(f"Job #{seeded.invoice_job} ")  # still on the job, edit kept


def test_a_one_click_rerun_of_params_that_no_longer_validate_says_why_per_field(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    before = len(_reruns(db_session, seeded.rerun_child))
    db_session.rollback()
    at = app("EDITOR", "pages/jobs.py")
    at.query_params["job"] = str(seeded.rerun_child)  # stored params {"n": 30}: no invoice_id
    at.run()
    at.button(key="job_rerun").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["invoice_id is required."]
    assert len(_reruns(db_session, seeded.rerun_child)) == before


@pytest.mark.parametrize(
    ("edited", "says"),
    [
        ('{"invoice_id": 12345}', "invoice_id must be text in quotes, not the number 12345."),
        ('{"invoice_id": "INV-0042"}', "must be the Xero InvoiceID"),
    ],
)
def test_validate_and_rerun_refuses_what_the_workflow_would_refuse_at_once(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session, edited: str, says: str
) -> None:
    at = app("EDITOR", "pages/jobs.py", query={"job": str(seeded.invoice_job)})
    at.switch_page("pages/jobs.py").run()
    at.text_area(key=f"edit_params_{seeded.invoice_job}").input(edited).run()
    at.button(key="job_rerun_edited").click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and says in at.error[0].value
    assert "pydantic" not in at.error[0].value and "http" not in at.error[0].value
    assert _reruns(db_session, seeded.invoice_job) == []


def test_an_editor_cancels_a_queued_job(app: Callable[..., AppTest], db_session: Session) -> None:
    queued = db_session.scalar(select(PipelineJob.id).where(PipelineJob.status == "QUEUED"))
    db_session.rollback()  # end the read snapshot so the change below is visible
    at = app("EDITOR", "pages/jobs.py")
    at.query_params["job"] = str(queued)
    at.run()
    at.button(key="job_cancel").click().run()
    assert not at.exception, at.exception
    assert db_session.scalar(select(PipelineJob.status).where(PipelineJob.id == queued)) == "CANCELLED"
    assert at.success[0].value == f"Job #{queued} is cancelled."


def test_cancelling_a_running_job_says_it_stops_at_its_next_checkpoint(
    app: Callable[..., AppTest], db_session: Session
) -> None:
    running = db_session.scalar(select(PipelineJob.id).where(PipelineJob.status == "RUNNING"))
    db_session.rollback()
    at = app("EDITOR", "pages/jobs.py", query={"job": str(running)})
    at.switch_page("pages/jobs.py").run()
    at.button(key="job_cancel").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == f"Job #{running} is running — it will stop at its next checkpoint."


def test_bulk_rerun_states_the_count_before_it_runs(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.multiselect(key="jf_tenants").select(seeded.bolt).run()
    at.multiselect(key="jf_statuses").select("FAILED").run()
    at.button(key="bulk_start").click().run()
    assert at.warning[0].value == "Rerun 2 matching jobs?"
    assert at.button(key="bulk_confirm").label == "Yes, rerun 2 jobs"
    at.button(key="bulk_confirm").click().run()
    assert not at.exception, at.exception
    reruns = db_session.scalars(
        select(PipelineJob).where(PipelineJob.created_by == "editor@example.com", PipelineJob.tenant_id == seeded.bolt)
    ).all()
    assert len(reruns) == 2 and {r.status for r in reruns} == {"QUEUED"}
    assert at.success[0].value.startswith("Queued 2 reruns")


def test_bulk_cancel_states_the_count_and_says_what_happened(
    app: Callable[..., AppTest], seeded: Seeded, db_session: Session
) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.button(key="bulk_cancel_start").click().run()
    assert at.warning[0].value.startswith("Cancel 2 queued or running jobs?")
    at.button(key="bulk_cancel_confirm").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Cancelled 1 job; 1 running job will stop at the next checkpoint."


@pytest.mark.parametrize("role", ["VIEWER"])
def test_a_viewer_cannot_start_a_bulk_rerun_or_export(app: Callable[..., AppTest], role: str) -> None:
    at = app(role, "pages/jobs.py")
    assert at.button(key="bulk_start").disabled and at.button(key="export_start").disabled
    assert at.button(key="bulk_cancel_start").disabled


def test_an_editor_exports_the_filtered_jobs(app: Callable[..., AppTest], db_session: Session) -> None:
    at = app("EDITOR", "pages/jobs.py")
    at.multiselect(key="jf_statuses").select("FAILED").run()
    at.button(key="export_start").click().run()
    assert not at.exception, at.exception
    assert len(at.get("download_button")) == 1
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "jobs.export")).one()
    assert entry.details == {"filter": {"statuses": ["FAILED"]}}
