"""The dashboard's reads of trading-sweep jobs: the list (with progress) and one sweep's result.

A sweep is a ``pipeline_jobs`` row of the sweep's job type, which the caller passes in (the
name lives in the job-type catalogue, which ``db`` may not import); the runner keeps
``metrics.progress`` (0..1) up to date while it runs (``db.jobs.set_progress``) and the
finished job's ``result`` holds the summary, the top pairs and the blob keys of its CSVs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import PipelineJob, Tenant

LIST_LIMIT = 50


def sweep_jobs(
    session: Session,
    job_type: str,
    *,
    statuses: tuple[str, ...] = (),
    tenant_ids: tuple[int, ...] = (),
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """Jobs of ``job_type`` newest first (optionally of some statuses/tenants), with ``progress``
    (None before any)."""
    query = (
        select(
            PipelineJob.id,
            PipelineJob.tenant_id,
            Tenant.name.label("tenant"),
            PipelineJob.status,
            PipelineJob.params,
            PipelineJob.metrics,
            PipelineJob.error,
            PipelineJob.created_by,
            PipelineJob.created_at,
            PipelineJob.completed_at,
        )
        .join(Tenant, Tenant.id == PipelineJob.tenant_id)
        .where(PipelineJob.job_type == job_type)
        .order_by(PipelineJob.created_at.desc(), PipelineJob.id.desc())
        .limit(limit)
    )
    if statuses:
        query = query.where(PipelineJob.status.in_(statuses))
    if tenant_ids:
        query = query.where(PipelineJob.tenant_id.in_(tenant_ids))
    rows = []
    for row in session.execute(query).mappings():
        item = dict(row)
        metrics = item.pop("metrics") or {}
        progress = metrics.get("progress") if isinstance(metrics, dict) else None
        item["progress"] = float(progress) if progress is not None else None
        rows.append(item)
    return rows


def sweep_result(session: Session, job_type: str, job_id: int) -> dict[str, Any] | None:
    """One sweep: id, tenant, status, params and result; None if no job ``job_id`` of ``job_type``."""
    row = (
        session.execute(
            select(
                PipelineJob.id,
                PipelineJob.tenant_id,
                Tenant.name.label("tenant"),
                PipelineJob.status,
                PipelineJob.params,
                PipelineJob.result,
                PipelineJob.error,
                PipelineJob.completed_at,
            )
            .join(Tenant, Tenant.id == PipelineJob.tenant_id)
            .where(PipelineJob.id == job_id, PipelineJob.job_type == job_type)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
