"""CSV exports of jobs and of a job's related records, streamed with bounded memory.

Rows come through a server-side cursor (``stream_results`` + ``yield_per``) and leave as
encoded chunks, so a 1,000,000-row export never holds more than one chunk. The file is
UTF-8 with a BOM (Excel opens it right), and any text cell that a spreadsheet would read as
a formula is prefixed with an apostrophe (OWASP "CSV injection"): one starting with a tab,
carriage return or line feed, or whose first character after any white space is ``=``, ``+``,
``-``, ``@`` or their full-width forms ``＝ ＋ － ＠`` (spreadsheets trim the white space, and
some read the full-width signs as formulas).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from sqlalchemy import ColumnElement, Text, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from db.blobs import BlobStore
from db.filters import JobFilter
from db.models import Connection, PipelineJob, RelatedRecord, Tenant
from db.queries.jobs import RecordLink, stored_link

BOM = "\ufeff".encode()
CHUNK_ROWS = 5000
# One rule for Python and for PostgreSQL's regular expressions (both read \s as any white space).
FORMULA_PATTERN = "^([\t\r\n]|\\s*[=+\\-@\uff1d\uff0b\uff0d\uff20])"
_FORMULA = re.compile(FORMULA_PATTERN)
JOB_COLUMNS = (
    "id",
    "tenant",
    "job_type",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "duration_s",
    "attempts",
    "created_by",
    "parent_job_id",
    "error",
    "params",
)
RECORD_COLUMNS = ("job_id", "system", "record_type", "record_id", "action", "at", "link")

Progress = Callable[[int], None]


def neutralise(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet: text that looks like a formula gets a leading '."""
    if isinstance(value, str):
        return "'" + value if _FORMULA.match(value) else value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _encode(rows: Iterable[Iterable[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([neutralise(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


def export_filename(
    kind: str,
    tenants: Iterable[str],
    created_from: dt.datetime | None,
    created_to: dt.datetime | None,
    *,
    today: dt.date | None = None,
    job_types: Iterable[str] = (),
    statuses: Iterable[str] = (),
    text: str | None = None,
) -> str:
    """``zixly-jobs-<tenant>[-<types>][-<statuses>][-<search>]-<from>-<to>.csv``, named after the filter.

    Several tenants read ``n-tenants``, none ``all-tenants``; several job types ``n-types``.
    The range's end is the last day included (the filter's end is exclusive, at midnight).
    """
    names = list(tenants)
    who = _slug(names[0]) if len(names) == 1 else (f"{len(names)}-tenants" if names else "all-tenants")
    types, states = list(job_types), [s.lower() for s in statuses]
    parts = [who]
    if types:
        parts.append(_slug(types[0]) if len(types) == 1 else f"{len(types)}-types")
    if states:
        parts.append("-".join(states))
    if text and text.strip():
        parts.append("matching-" + _slug(text)[:24])
    start = created_from.strftime("%Y%m%d") if created_from else "start"
    last = (
        (created_to - dt.timedelta(days=1)) if created_to else dt.datetime.combine(today or dt.date.today(), dt.time())
    )
    return f"zixly-{kind}-{'-'.join(parts)}-{start}-{max(last, created_from or last).strftime('%Y%m%d')}.csv"


def jobs_csv(
    session: Session, job_filter: JobFilter, *, chunk_rows: int = CHUNK_ROWS, progress: Progress | None = None
) -> Iterator[bytes]:
    """The filtered jobs as CSV chunks (the first begins with the BOM and the header), newest first.

    On PostgreSQL the database formats the rows (``COPY (SELECT …) TO STDOUT`` as CSV, with
    the formula neutralising in SQL), many times faster than formatting them in Python, which
    the other databases do. Both give the same cells.
    """
    yield BOM + _encode([JOB_COLUMNS])
    if session.get_bind().dialect.name == "postgresql":
        chunks = _jobs_csv_copy(session, job_filter, chunk_rows)
    else:
        chunks = _jobs_csv_rows(session, job_filter, chunk_rows)
    done = 0
    for rows, chunk in chunks:
        done += rows
        yield chunk
        if progress is not None:
            progress(done)


def _jobs_csv_rows(session: Session, job_filter: JobFilter, chunk_rows: int) -> Iterator[tuple[int, bytes]]:
    """(rows, CSV bytes) per chunk, formatted in Python (the portable path)."""
    # Streaming options go with this one statement, not onto the session's connection, where
    # they would outlive the export (the next INSERT would run as a server-side cursor).
    query = (
        select(
            PipelineJob.id,
            Tenant.name,
            PipelineJob.job_type,
            PipelineJob.status,
            PipelineJob.created_at,
            PipelineJob.started_at,
            PipelineJob.completed_at,
            PipelineJob.attempts,
            PipelineJob.created_by,
            PipelineJob.parent_job_id,
            PipelineJob.error,
            cast(PipelineJob.params, Text),
        )
        .join(Tenant, Tenant.id == PipelineJob.tenant_id)
        .where(job_filter.where())
        .order_by(PipelineJob.created_at.desc(), PipelineJob.id.desc())
    )
    result = session.execute(query, execution_options={"stream_results": True, "yield_per": chunk_rows})
    for part in result.partitions(chunk_rows):
        rows = []
        for r in part:
            started, completed = r[5], r[6]
            seconds = round((completed - started).total_seconds(), 3) if started and completed else None
            rows.append((*r[:7], seconds, *r[7:]))  # duration from the timestamps: portable, cheap
        yield len(rows), _encode(rows)


# -- PostgreSQL: the database writes the CSV ------------------------------------------------------


def _safe(column: Any) -> ColumnElement[Any]:
    """``neutralise`` in SQL: text starting like a formula gets a leading apostrophe."""
    return case((column.op("~")(FORMULA_PATTERN), literal_column("''''").concat(column)), else_=column)


def _iso(column: Any) -> ColumnElement[Any]:
    """``datetime.isoformat()`` of a UTC timestamp, in SQL (no fraction when it is zero)."""
    stamp = func.to_char(func.timezone("UTC", column), literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US'"""))
    return func.replace(stamp, literal_column("'.000000'"), literal_column("''")).concat(literal_column("'+00:00'"))


def _seconds() -> ColumnElement[Any]:
    """``round(seconds, 3)`` printed as Python prints the float: ``3.05``, ``1.0``."""
    d = func.round(func.extract("epoch", PipelineJob.completed_at - PipelineJob.started_at), 3)
    return case(
        (d == func.trunc(d), cast(func.trunc(d), Text).concat(literal_column("'.0'"))),
        else_=func.rtrim(cast(d, Text), literal_column("'0'")),
    )


def _params() -> ColumnElement[Any]:
    """The params as JSON text; only a bare number (``-5``) can start like a formula.

    (Objects, arrays and strings start with ``{``, ``[``, ``"``: skipping the check for them
    saves rendering the JSON twice per row.)
    """
    params = cast(PipelineJob.params, Text)
    return case((func.jsonb_typeof(PipelineJob.params) == "number", _safe(params)), else_=params)


def _copy_sql(session: Session, job_filter: JobFilter) -> tuple[str, dict[str, Any]]:
    """``COPY (the export's SELECT, every cell formatted) TO STDOUT`` and its parameters.

    psycopg merges the parameters client-side (COPY takes no server-side ones), quoting them
    as literals: user text never becomes SQL.
    """
    query = (
        select(
            PipelineJob.id,
            _safe(Tenant.name),
            _safe(PipelineJob.job_type),
            _safe(PipelineJob.status),
            _iso(PipelineJob.created_at),
            _iso(PipelineJob.started_at),
            _iso(PipelineJob.completed_at),
            _seconds(),
            PipelineJob.attempts,
            _safe(PipelineJob.created_by),
            PipelineJob.parent_job_id,
            _safe(PipelineJob.error),
            _params(),
        )
        .join(Tenant, Tenant.id == PipelineJob.tenant_id)
        .where(job_filter.where())
        .order_by(PipelineJob.created_at.desc(), PipelineJob.id.desc())
    )
    compiled = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    params = dict(compiled.params)
    for value in params.values():  # what UTCDateTime's bind processor refuses
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
    return f"COPY ({compiled}) TO STDOUT (FORMAT csv)", params


def _jobs_csv_copy(session: Session, job_filter: JobFilter, chunk_rows: int) -> Iterator[tuple[int, bytes]]:
    """(rows, CSV bytes) per chunk from PostgreSQL's COPY, in the session's transaction."""
    sql, params = _copy_sql(session, job_filter)
    dbapi = session.connection().connection.driver_connection
    assert dbapi is not None
    buf: list[bytes] = []
    with dbapi.cursor() as cursor, cursor.copy(sql, params) as copy:
        # One COPY message is one row ending in "\n"; the file's rows end in "\r\n" like the
        # csv module's (a newline inside a quoted cell stays as it is, as it does there).
        for row in copy:
            buf.append(bytes(row[:-1]))
            if len(buf) == chunk_rows:
                yield len(buf), b"\r\n".join(buf) + b"\r\n"
                buf = []
    if buf:
        yield len(buf), b"\r\n".join(buf) + b"\r\n"


def related_records_csv(session: Session, job_id: int, *, link: RecordLink = stored_link) -> Iterator[bytes]:
    """One job's external records, with deep links into the vendors' UIs."""
    tenant_id = session.scalar(select(PipelineJob.tenant_id).where(PipelineJob.id == job_id))
    orgs = dict(
        session.execute(
            select(Connection.system, Connection.external_org_id).where(Connection.tenant_id == tenant_id)
        ).all()
    )
    yield BOM + _encode([RECORD_COLUMNS])
    rows = session.execute(
        select(
            RelatedRecord.job_id,
            RelatedRecord.system,
            RelatedRecord.record_type,
            RelatedRecord.record_id,
            RelatedRecord.action,
            RelatedRecord.at,
            RelatedRecord.url,
        )
        .where(RelatedRecord.job_id == job_id)
        .order_by(RelatedRecord.id)
    ).all()
    yield _encode((*r[:6], link(r.system, r.record_type, r.record_id, orgs.get(r.system), r.url)) for r in rows)


def write_all(chunks: Iterable[bytes], out: IO[bytes]) -> int:
    """Write ``chunks`` to ``out``; returns the bytes written."""
    size = 0
    for chunk in chunks:
        out.write(chunk)
        size += len(chunk)
    return size


def jobs_csv_to_blob(
    session: Session, store: BlobStore, job_filter: JobFilter, filename: str, *, progress: Progress | None = None
) -> str:
    """Write a (large) export to the blob store; returns its key.

    The CSV goes through a temporary file that spills to disk past 8 MB, so memory stays
    bounded whatever the export's size; the key is unguessable.
    """
    key = f"exports/{dt.date.today():%Y%m%d}/{secrets.token_hex(8)}-{filename}"
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as tmp:
        write_all(jobs_csv(session, job_filter, progress=progress), tmp)
        tmp.seek(0)
        store.put(key, tmp, content_type="text/csv; charset=utf-8")
    return key
