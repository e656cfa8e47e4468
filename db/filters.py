"""The job filter shared by the dashboard's browser, CSV export and bulk rerun."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Text, and_, case, func, or_
from sqlalchemy.orm import InstrumentedAttribute

from db.models import PipelineJob
from db.models.base import TERMINAL, UNFINISHED
from db.search_text import json_may_hold


@dataclass(frozen=True)
class JobFilter:
    """What the job browser filters on. Empty fields filter nothing."""

    tenant_ids: tuple[int, ...] = ()
    job_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    text: str | None = None

    def where(self) -> ColumnElement[bool]:
        """The SQL condition. User text is always a bound parameter, never spliced."""
        conds: list[ColumnElement[bool]] = []
        if self.tenant_ids:
            conds.append(PipelineJob.tenant_id.in_(self.tenant_ids))
        if self.job_types:
            conds.append(PipelineJob.job_type.in_(self.job_types))
        if self.statuses:
            conds.append(PipelineJob.status.in_(self.statuses))
        if self.created_from is not None:
            conds.append(PipelineJob.created_at >= self.created_from)
        if self.created_to is not None:
            conds.append(PipelineJob.created_at < self.created_to)
        if self.text:
            # zixly_search_text(params) (db/search_text.py) is exactly the expression of the
            # pg_trgm index ix_pipeline_jobs_params_trgm (migration 0023). That index holds
            # finished jobs only (0022), so its status list is spelled out for the planner to
            # pick it, and the unfinished jobs (the queue: few) come from the status index.
            # (SQLite matches the stored JSON first: json_may_hold, db/search_text.py says why.)
            params = func.zixly_search_text(PipelineJob.params, type_=Text)
            first = json_may_hold(PipelineJob.params, self.text, _like(self.text))
            in_params = and_(first, _contains(params, self.text))
            conds.append(
                or_(
                    and_(PipelineJob.status.in_(TERMINAL), in_params),
                    and_(PipelineJob.status.in_(UNFINISHED), in_params),
                    _contains(PipelineJob.error, self.text),
                )
            )
        return and_(*conds) if conds else and_(PipelineJob.id.is_not(None))


# Runs of letters and digits holding a digit, long enough to make a trigram: invoice and
# order numbers, status codes.
_RARE_PART = re.compile(r"[0-9A-Za-z]*[0-9][0-9A-Za-z]*")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(column: ColumnElement[str] | InstrumentedAttribute[str | None], text: str) -> ColumnElement[bool]:
    """``column ILIKE '%text%'``, with the trigram index asked only for the text's rare parts.

    A trigram index scan costs per trigram of the pattern, and the common ones cost the most:
    in ``INV-00042`` the trigrams of ``INV-`` are in nearly every job's params, and at 2 M jobs
    the scan read 2,135 buffers for 200 matches, against 367 when it looks up ``00042`` alone
    (docs/benchmarks.md, "rare-string text search"). So where the text has parts with digits,
    the index is searched for those and the whole text is checked on each candidate row inside
    a CASE, which the index cannot take (else the planner would give it the whole pattern
    again) and which the planner counts as matching half the rows: a common text ("HubSpot
    answered 429") still looks common and keeps its newest-first index walk, where a plain
    second ILIKE looked rare and sent it to fetch every match. Same rows: each part lies in the text.
    """
    parts = [p for p in _RARE_PART.findall(text) if len(p) >= 3]
    if not parts or parts == [text]:
        return column.ilike(_like(text), escape="\\")
    whole = case((column.ilike(_like(text), escape="\\"), True), else_=False)
    return and_(*(column.ilike(_like(p), escape="\\") for p in parts), whole)
