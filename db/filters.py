"""The job filter shared by the dashboard's browser, CSV export and bulk rerun."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Text, and_, cast, or_

from db.models import PipelineJob


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
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            # CAST(params AS TEXT) is exactly the expression of the pg_trgm index
            # ix_pipeline_jobs_params_trgm (migration 0003_trgm); AS VARCHAR would miss it.
            conds.append(
                or_(
                    cast(PipelineJob.params, Text).ilike(pattern, escape="\\"),
                    PipelineJob.error.ilike(pattern, escape="\\"),
                )
            )
        return and_(*conds) if conds else and_(PipelineJob.id.is_not(None))
