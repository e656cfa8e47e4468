"""Streaming CSV export: BOM, formula neutralising, filenames, chunks and the blob store."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from dashboard_seed import Seeded, seed
from sqlalchemy.orm import Session

from db.blobs import make_blob_store
from db.export import export_filename, jobs_csv, jobs_csv_to_blob, neutralise, related_records_csv
from db.filters import JobFilter
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
    rows = _rows(list(related_records_csv(session, data.invoice_job)))
    assert [r["record_id"] for r in rows] == ["INV-0042", "901"]
    assert rows[1]["link"] == "https://app.hubspot.com/contacts/62515/record/0-1/901"


def test_filenames_name_the_tenant_and_the_range() -> None:
    start, end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    name = export_filename("jobs", ["Acme Outdoor Co"], start, end)
    assert name == "zixly-jobs-acme-outdoor-co-20261101-20261126.csv"
    assert export_filename("jobs", [], None, None, today=dt.date(2026, 11, 26)) == (
        "zixly-jobs-all-tenants-start-20261126.csv"
    )
    assert export_filename("jobs", ["a", "b"], start, end).startswith("zixly-jobs-2-tenants-")


def test_a_large_export_goes_to_the_blob_store(session: Session, data: Seeded, settings: Settings) -> None:
    store = make_blob_store(settings)
    key = jobs_csv_to_blob(session, store, JobFilter(tenant_ids=(data.bolt,)), "zixly-jobs-bolt.csv")
    assert key.startswith("exports/") and key.endswith("-zixly-jobs-bolt.csv")
    assert len(_rows([store.get(key)])) == 5
