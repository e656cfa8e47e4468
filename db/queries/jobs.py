"""The job browser (keyset pages), the job detail with its lineage, and the record ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import Session

from db.filters import JobFilter
from db.models import Connection, JobStep, PipelineJob, RelatedRecord, Tenant
from db.queries._sql import duration_s

# (system, record type, record id, the tenant's org in that system, the stored url) -> link.
# Only the vendors know their UIs' URLs, so the caller passes the function that builds them.
RecordLink = Callable[[str, str, str, "str | None", "str | None"], "str | None"]


def stored_link(_system: str, _record_type: str, _record_id: str, _org: str | None, stored: str | None) -> str | None:
    """Only the URL stored on the record (what a caller without vendor knowledge can give)."""
    return stored or None


PAGE_SIZE = 50
LINEAGE_MAX = 50  # a rerun chain longer than this is cut (and says so)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the (created_at, id) of its last row, newest first."""

    created_at: dt.datetime
    id: int


@dataclass(frozen=True)
class JobPage:
    rows: list[dict[str, Any]]
    next_cursor: Cursor | None


def _job_columns(session: Session) -> list[Any]:
    return [
        PipelineJob.id,
        Tenant.name.label("tenant"),
        PipelineJob.job_type,
        PipelineJob.status,
        PipelineJob.created_at,
        duration_s(session).label("duration_s"),
        PipelineJob.attempts,
        PipelineJob.created_by,
        PipelineJob.parent_job_id,
        func.substr(PipelineJob.error, 1, 200).label("error"),
    ]


def browse_jobs(
    session: Session, job_filter: JobFilter, after: Cursor | None = None, page_size: int = PAGE_SIZE
) -> JobPage:
    """One page of jobs, newest first, after ``after``.

    Keyset pagination on (created_at, id): the 100th page costs what the first does, and no
    whole-table count is ever taken; ``LIMIT n+1`` tells whether another page follows.
    """
    query = (
        select(*_job_columns(session))
        .join(Tenant, Tenant.id == PipelineJob.tenant_id)
        .where(job_filter.where())
        .order_by(PipelineJob.created_at.desc(), PipelineJob.id.desc())
        .limit(page_size + 1)
    )
    if after is not None:
        query = query.where(tuple_(PipelineJob.created_at, PipelineJob.id) < tuple_(after.created_at, after.id))
    rows = _search_rows(session, query, job_filter)
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_cursor = Cursor(rows[-1]["created_at"], rows[-1]["id"])
    return JobPage(rows, next_cursor)


# A text search on PostgreSQL: the planner cannot tell how rare a substring is (it expects
# thousands of matches for any ILIKE), so it walks the newest jobs first and filters. For an
# invoice number 1,000 of 10,000,000 jobs carry, that walk read a tenth of the table (0.8–1.7 s),
# and for a text no job holds, all of it (17–22 s; docs/benchmarks.md, "the params search
# index"). So a search first counts its matches through the trigram indexes, stopping past
# FEW_MATCHES (a bitmap scan); with no more than that, the page is those matches, fetched by the
# same indexes and sorted; with more, the walk finds the newest page of a common text at once.
# 4,000: about where both plans took the same time at 10 M (the walk's time falls as matches
# grow denser, the fetch's grows with them).
FEW_MATCHES = 4_000


def _search_rows(session: Session, query: Any, job_filter: JobFilter) -> list[dict[str, Any]]:
    """The page's rows; a text search on PostgreSQL counts its matches first to choose the plan."""
    if not job_filter.text or session.get_bind().dialect.name != "postgresql":
        return [dict(r) for r in session.execute(query).mappings()]
    # Costs reckoned for thousands of rows would start parallel workers and JIT-compile these
    # statements: 150–300 ms around a few ms of work (no match at all: 0.7 ms of execution).
    with _settings(session, jit="off", max_parallel_workers_per_gather="0"):
        few = count_jobs(session, job_filter, cap=FEW_MATCHES) <= FEW_MATCHES
        with _settings(session, **({"enable_indexscan": "off"} if few else {})):
            return [dict(r) for r in session.execute(query).mappings()]


@contextmanager
def _settings(session: Session, **values: str) -> Iterator[None]:
    """Planner settings for the statements inside, put back as they were (transaction-local)."""
    before = {name: session.scalar(text("SELECT current_setting(:name)"), {"name": name}) for name in values}
    for name, value in values.items():
        session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
    try:
        yield
    finally:
        for name, value in before.items():
            session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


def count_jobs(session: Session, job_filter: JobFilter, cap: int) -> int:
    """How many jobs match, counting no further than ``cap + 1`` (bounded work)."""
    inner = select(PipelineJob.id).where(job_filter.where()).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


@dataclass(frozen=True)
class JobDetail:
    job: dict[str, Any]
    steps: list[dict[str, Any]]
    records: list[dict[str, Any]]
    ancestors: list[dict[str, Any]] = field(default_factory=list)  # oldest first, without the job itself
    reruns: list[dict[str, Any]] = field(default_factory=list)  # every descendant, oldest first


def _lineage_row(session: Session, job_id: int) -> dict[str, Any] | None:
    row = (
        session.execute(
            select(
                PipelineJob.id,
                PipelineJob.parent_job_id,
                PipelineJob.status,
                PipelineJob.created_at,
                PipelineJob.created_by,
            ).where(PipelineJob.id == job_id)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def job_detail(session: Session, job_id: int, *, link: RecordLink = stored_link) -> JobDetail | None:
    job_row = session.execute(
        select(PipelineJob, Tenant.name.label("tenant"), duration_s(session).label("duration_s"))
        .join(Tenant, Tenant.id == PipelineJob.tenant_id)
        .where(PipelineJob.id == job_id)
    ).first()
    if job_row is None:
        return None
    job_obj = job_row[0]
    job = {c.key: getattr(job_obj, c.key) for c in PipelineJob.__table__.columns}
    job["tenant"] = job_row.tenant
    job["duration_s"] = job_row.duration_s
    steps = [
        dict(r)
        for r in session.execute(
            select(
                JobStep.id,
                JobStep.attempt,
                JobStep.kind,
                JobStep.message,
                JobStep.system,
                JobStep.method,
                JobStep.path,
                JobStep.status_code,
                JobStep.latency_ms,
                JobStep.at,
            )
            .where(JobStep.job_id == job_id)
            .order_by(JobStep.id)
        ).mappings()
    ]
    orgs = dict(
        session.execute(
            select(Connection.system, Connection.external_org_id).where(Connection.tenant_id == job["tenant_id"])
        ).all()
    )
    records = []
    for r in session.execute(
        select(
            RelatedRecord.system,
            RelatedRecord.record_type,
            RelatedRecord.record_id,
            RelatedRecord.record_label.label("name"),
            RelatedRecord.action,
            RelatedRecord.url,
            RelatedRecord.at,
        )
        .where(RelatedRecord.job_id == job_id)
        .order_by(RelatedRecord.id)
    ).mappings():
        rec = dict(r)
        rec["link"] = link(rec["system"], rec["record_type"], rec["record_id"], orgs.get(rec["system"]), rec["url"])
        records.append(rec)
    ancestors: list[dict[str, Any]] = []
    parent = job["parent_job_id"]
    while parent is not None and len(ancestors) < LINEAGE_MAX:
        row = _lineage_row(session, parent)
        if row is None:
            break
        ancestors.insert(0, row)
        parent = row["parent_job_id"]
    reruns: list[dict[str, Any]] = []
    frontier = [job_id]
    while frontier and len(reruns) < LINEAGE_MAX:
        children = [
            dict(r)
            for r in session.execute(
                select(
                    PipelineJob.id,
                    PipelineJob.parent_job_id,
                    PipelineJob.status,
                    PipelineJob.created_at,
                    PipelineJob.created_by,
                )
                .where(PipelineJob.parent_job_id.in_(frontier))
                .order_by(PipelineJob.id)
                .limit(LINEAGE_MAX)
            ).mappings()
        ]
        reruns += children
        frontier = [c["id"] for c in children]
    return JobDetail(job, steps, records, ancestors, reruns[:LINEAGE_MAX])
