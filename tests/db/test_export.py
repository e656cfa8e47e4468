"""Streaming CSV export: BOM, formula neutralising, filenames, chunks and the blob store."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from dashboard_seed import INVOICE_ID, Seeded, seed
from sqlalchemy.orm import Session

from db.blobs import make_blob_store
from db.export import export_filename, jobs_csv, jobs_csv_to_blob, neutralise, related_records_csv
from db.filters import JobFilter
from integrations.links import record_url
from settings import Settings


@pytest.fixture
def data(session: Session) -> Seeded:
    return seed(session)


def _rows(chunks: list[bytes]) -> list[dict[str, str]]:
    raw = b"".join(chunks)
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_cells_that_look_like_formulas_are_neutralised() -> None:
    for bad in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(bad) == "'" + bad
    assert neutralise("plain") == "plain" and neutralise(-2) == -2 and neutralise(None) is None


def test_the_jobs_export_has_every_filtered_job_newest_first(session: Session, data: Seeded) -> None:
    rows = _rows(list(jobs_csv(session, JobFilter(statuses=("FAILED",)), chunk_rows=2)))
    assert {int(r["id"]) for r in rows} == set(data.failed_ids)
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    evil = next(r for r in rows if r["tenant"] == "Bolt Bikes" and r["error"].startswith("'"))
    assert evil["error"] == "'=cmd|' /C calc'!A0"
    assert float(rows[0]["duration_s"]) > 0 and rows[0]["params"].startswith("{")


def test_the_export_streams_in_chunks_and_reports_progress(session: Session, data: Seeded) -> None:
    seen: list[int] = []
    chunks = list(jobs_csv(session, JobFilter(), chunk_rows=10, progress=seen.append))
    assert len(chunks) == 1 + 4 and seen == [10, 20, 30, 40]


def test_a_jobs_related_records_export_has_deep_links(session: Session, data: Seeded) -> None:
    rows = _rows(list(related_records_csv(session, data.invoice_job, link=record_url)))
    assert [r["record_id"] for r in rows] == [INVOICE_ID, "901"]
    assert rows[1]["link"] == "https://app.hubspot.com/contacts/62515/record/0-1/901"


def test_filenames_name_the_tenant_and_the_range() -> None:
    start, end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    name = export_filename("jobs", ["Acme Outdoor Co"], start, end)
    assert name == "zixly-jobs-acme-outdoor-co-20261101-20261125.csv"  # the end is exclusive: the 25th is last
    named = export_filename("jobs", ["Acme Outdoor Co"], start, end, job_types=["xero-invoice-paid"],
                            statuses=["FAILED", "CANCELLED"], text="INV-0042")  # fmt: skip
    assert (
        named == "zixly-jobs-acme-outdoor-co-xero-invoice-paid-failed-cancelled-matching-inv-0042-20261101-20261125.csv"
    )
    assert export_filename("jobs", [], None, None, today=dt.date(2026, 11, 26)) == (
        "zixly-jobs-all-tenants-start-20261126.csv"
    )
    assert export_filename("jobs", ["a", "b"], start, end).startswith("zixly-jobs-2-tenants-")


def test_a_large_export_goes_to_the_blob_store(session: Session, data: Seeded, settings: Settings) -> None:
    store = make_blob_store(settings)
    key = jobs_csv_to_blob(session, store, JobFilter(tenant_ids=(data.bolt,)), "zixly-jobs-bolt.csv")
    assert key.startswith("exports/") and key.endswith("-zixly-jobs-bolt.csv")
    assert len(_rows([store.get(key)])) == 5


def test_postgresql_formats_the_same_cells_as_python(session: Session, data: Seeded) -> None:
    # The COPY path (PostgreSQL formats and neutralises) against the portable Python path.
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    from db.export import _jobs_csv_copy, _jobs_csv_rows
    from db.models import PipelineJob, Tenant

    hostile = Tenant(name='=HYPERLINK("x")')
    session.add(hostile)
    session.flush()
    at = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)  # no microseconds: isoformat drops them
    for i, (error, by) in enumerate(
        [
            ('line one\nline two, "quoted"', "+61 400 000 000"),
            ("", "-editor"),
            ("\ttab first", "@me"),
            ("\rcarriage", "ok"),
            ("ünïcødé ✓ 💥", None),
        ]
    ):
        session.add(
            PipelineJob(
                tenant_id=hostile.id, job_type="-weird-type", status="FAILED", params={"x": "=1", "n": i},
                error=error, created_by=by, created_at=at - dt.timedelta(seconds=i), run_at=at,
                started_at=at, completed_at=at + dt.timedelta(seconds=[1, 0.05, 2.5, 0, 1234.5678][i]),
            )
        )  # fmt: skip
    session.add(PipelineJob(tenant_id=hostile.id, job_type="x", status="QUEUED", params={}, created_at=at, run_at=at))
    session.add(PipelineJob(tenant_id=hostile.id, job_type="x", status="QUEUED", params=-5, created_at=at, run_at=at))
    session.commit()

    def cells(chunks: object) -> list[list[str]]:
        raw = b"".join(chunk for _, chunk in chunks)  # type: ignore[attr-defined]
        assert raw.endswith(b"\r\n")
        return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))

    for job_filter in (JobFilter(), JobFilter(tenant_ids=(hostile.id,)), JobFilter(text="line two")):
        python = cells(_jobs_csv_rows(session, job_filter, 3))
        assert cells(_jobs_csv_copy(session, job_filter, 3)) == python and python
    rows = _rows(list(jobs_csv(session, JobFilter(tenant_ids=(hostile.id,)), chunk_rows=4)))
    assert rows[0]["tenant"] == '\'=HYPERLINK("x")' and rows[0]["job_type"] == "x"
    assert rows[0]["created_at"] == "2026-11-26T09:30:00+00:00" and rows[0]["duration_s"] == ""
    by_error = {r["error"]: r for r in rows}
    assert by_error['line one\nline two, "quoted"']["created_by"] == "'+61 400 000 000"
    assert by_error["'\ttab first"]["duration_s"] == "2.5" and by_error["'\rcarriage"]["duration_s"] == "0.0"
    assert by_error["ünïcødé ✓ 💥"]["duration_s"] == "1234.568" and by_error[""]["created_by"] == "'-editor"
    assert sorted(r["params"] for r in rows if r["job_type"] == "x") == ["'-5", "{}"]


def test_the_session_writes_normally_after_an_export(session: Session, data: Seeded) -> None:
    # (The export once left its streaming option on the session's connection, so the audit
    # INSERT after a blob export ran as a server-side cursor and failed on PostgreSQL.)
    from db.models import AuditEntry

    assert len(b"".join(jobs_csv(session, JobFilter(), chunk_rows=7))) > 0
    session.add(AuditEntry(actor="editor@example.com", action="jobs.export", target="all"))
    session.commit()
    assert session.query(AuditEntry).filter_by(action="jobs.export").count() == 1
