"""Record lookup: the jobs that read or wrote an external record, found by what people know.

A record is matched by the vendor's id (a Xero InvoiceID, a Shopify order id, a HubSpot deal
id) or by its label, the name the workflow recorded with it (INV-0050, #1001, a deal's name,
a contact's email). Both are index lookups: ``record_id`` exactly in its common spellings,
``lower(record_label)`` case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from db.models import Connection, PipelineJob, RelatedRecord, Tenant
from db.queries.jobs import RecordLink, stored_link

LOOKUP_LIMIT = 500


def _id_variants(query: str) -> list[str]:
    q = query.strip()
    bare = q.lstrip("#")
    return sorted({q, q.upper(), q.lower(), bare, bare.upper(), "#" + bare})


def lookup_record(
    session: Session,
    query: str,
    tenant_ids: tuple[int, ...] = (),
    limit: int = LOOKUP_LIMIT,
    *,
    link: RecordLink = stored_link,
) -> list[dict[str, Any]]:
    """Every touch of the external record ``query`` (one row per record a job noted), newest first.

    Matches the record id exactly, trying common spellings (any case, with or without a
    leading ``#``), or the record's label in any case (``inv-0050``, ``1001`` for ``#1001``).
    """
    if not query.strip():
        return []
    variants = _id_variants(query)
    cond: ColumnElement[bool] = or_(
        RelatedRecord.record_id.in_(variants),
        func.lower(RelatedRecord.record_label).in_(sorted({v.lower() for v in variants})),
    )
    if tenant_ids:
        cond = and_(cond, RelatedRecord.tenant_id.in_(tenant_ids))
    rows = session.execute(
        select(
            RelatedRecord.job_id,
            Tenant.name.label("tenant"),
            RelatedRecord.tenant_id,
            RelatedRecord.system,
            RelatedRecord.record_type,
            RelatedRecord.record_id,
            RelatedRecord.record_label,
            RelatedRecord.action,
            RelatedRecord.url,
            RelatedRecord.at,
            PipelineJob.job_type,
            PipelineJob.status,
            PipelineJob.created_at,
        )
        .join(PipelineJob, PipelineJob.id == RelatedRecord.job_id)
        .join(Tenant, Tenant.id == RelatedRecord.tenant_id)
        .where(cond)
        .order_by(RelatedRecord.at.desc(), RelatedRecord.id.desc())
        .limit(limit)
    ).mappings()
    out = [dict(r) for r in rows]
    orgs: dict[tuple[int, str], str | None] = {}
    if out:
        tenants = {r["tenant_id"] for r in out}
        for tid, system, org in session.execute(
            select(Connection.tenant_id, Connection.system, Connection.external_org_id).where(
                Connection.tenant_id.in_(tenants)
            )
        ):
            orgs[(tid, system)] = org
    for r in out:
        r["link"] = link(
            r["system"], r["record_type"], r["record_id"], orgs.get((r["tenant_id"], r["system"])), r.pop("url")
        )
    return out


def lookup_jobs(
    session: Session,
    query: str,
    tenant_ids: tuple[int, ...] = (),
    limit: int = LOOKUP_LIMIT,
    *,
    link: RecordLink = stored_link,
    system_name: Callable[[str], str] = str,
) -> list[dict[str, Any]]:
    """The jobs that touched the record ``query``, each once (newest touch first), with what it did.

    ``did`` reads like "read, updated"; ``record`` names the record as found ("xero invoice
    INV-0050"; several when one job touched it in two systems); ``link`` opens the first at the vendor.
    """
    jobs: dict[int, dict[str, Any]] = {}
    for touch in lookup_record(session, query, tenant_ids, limit, link=link):
        job = jobs.get(touch["job_id"])
        if job is None:
            job = jobs[touch["job_id"]] = {
                "job_id": touch["job_id"], "tenant": touch["tenant"], "job_type": touch["job_type"],
                "status": touch["status"], "at": touch["at"], "system": touch["system"],
                "record": "",
                "record_id": touch["record_id"], "actions": [], "link": touch["link"],
            }  # fmt: skip
        if touch["action"] not in job["actions"]:
            job["actions"].append(touch["action"])
        named = f"{system_name(touch['system'])} {touch['record_type']} {touch['record_label'] or touch['record_id']}"
        if named not in job["record"]:
            job["record"] = f"{job['record']}; {named}" if job["record"] else named
    for job in jobs.values():
        order = {"READ": 0, "CREATE": 1, "UPDATE": 2}
        job["did"] = ", ".join(_PAST[a] for a in sorted(job.pop("actions"), key=lambda a: order.get(a, 9)))
    return list(jobs.values())


_PAST = {"READ": "read", "CREATE": "created", "UPDATE": "updated"}
