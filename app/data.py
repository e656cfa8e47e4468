"""The dashboard's data access: one engine per database, cached reads over ``db.queries``.

Every cached read takes the database URL first, so two databases never share entries, and
returns plain rows. Time ranges are rounded to the minute by the caller so entries are
reused between reruns. Actions clear the cache (:func:`invalidate`) so staff see their change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import jobtypes
from app.text import vendor_name
from db import queries
from db.engine import make_engine, make_session_factory
from db.filters import JobFilter
from integrations import registry
from integrations.links import record_url
from settings import Settings, load_settings

TTL_S = 30  # live data: short
LIST_TTL_S = 300  # tenants, job types, users: change rarely (and actions clear the cache)


def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine() -> Engine:
    return _engine(settings().database_url)


def url() -> str:
    return settings().database_url


@contextmanager
def session() -> Iterator[Session]:
    with make_session_factory(engine())() as s:
        yield s


def invalidate() -> None:
    """Forget cached reads after a change."""
    st.cache_data.clear()


def _read(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with session() as s:
        return fn(s, *args, **kwargs)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def kpis(db: str, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> queries.Kpis:
    return _read(queries.kpis, tenant_ids, since, until)  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def charts(db: str, tenant_ids: tuple[int, ...], since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    with session() as s:
        return {
            "over_time": queries.jobs_over_time(s, tenant_ids, since, until),
            "durations": queries.duration_percentiles(s, tenant_ids, since, until),
            "by_tenant": queries.volume_by_tenant(s, tenant_ids, since, until),
        }


@st.cache_data(ttl=TTL_S, show_spinner=False)
def health_board(db: str, tenant_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    return _read(queries.health_board, tenant_ids, systems=registry.systems())  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def jobs_page(db: str, job_filter: JobFilter, after: queries.Cursor | None, page_size: int) -> queries.JobPage:
    return _read(queries.browse_jobs, job_filter, after, page_size)  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def count_jobs(db: str, job_filter: JobFilter, cap: int) -> int:
    return _read(queries.count_jobs, job_filter, cap)  # type: ignore[no-any-return]


@st.cache_data(ttl=5, show_spinner=False)
def job_detail(db: str, job_id: int) -> queries.JobDetail | None:
    return _read(queries.job_detail, job_id, link=record_url)  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def lookup_jobs(db: str, query: str, tenant_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    return _read(queries.lookup_jobs, query, tenant_ids, link=record_url, system_name=vendor_name)  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def connections(db: str, tenant_id: int) -> list[dict[str, Any]]:
    return _read(  # type: ignore[no-any-return]
        queries.connections,
        tenant_id,
        systems=registry.systems(),
        workflows=jobtypes.WORKFLOW_USES,
        uses=jobtypes.USES,
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def schedules(db: str, tenant_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    return _read(queries.schedules, tenant_ids)  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def deliveries(db: str, tenant_ids: tuple[int, ...], source: str | None, before_id: int | None) -> list[dict[str, Any]]:
    return _read(queries.deliveries, tenant_ids, source, before_id)  # type: ignore[no-any-return]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def audit_log(
    db: str, actor: str | None, action: str | None, refused_only: bool, before_id: int | None
) -> list[dict[str, Any]]:
    return _read(  # type: ignore[no-any-return]
        queries.audit_log, actor=actor, action=action, refused_only=refused_only, before_id=before_id
    )


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def tenants(db: str, active_only: bool = False) -> list[dict[str, Any]]:
    return _read(queries.tenants, active_only=active_only)  # type: ignore[no-any-return]


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def job_types(db: str) -> list[str]:
    return _read(queries.job_types)  # type: ignore[no-any-return]


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def users(db: str) -> list[dict[str, Any]]:
    return _read(queries.users)  # type: ignore[no-any-return]


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def api_tokens(db: str) -> list[dict[str, Any]]:
    return _read(queries.api_tokens)  # type: ignore[no-any-return]


@st.cache_data(ttl=LIST_TTL_S, show_spinner=False)
def workflow_settings(db: str, tenant_id: int) -> list[dict[str, Any]]:
    return _read(queries.workflow_settings, tenant_id)  # type: ignore[no-any-return]


# Live probes: a short TTL shared by every open tab, so N viewers cost one query per period.
LIVE_TTL_S = 3


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def connection_states(db: str, tenant_id: int) -> tuple[tuple[Any, ...], ...]:
    return _read(queries.connection_states, tenant_id)  # type: ignore[no-any-return]


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def job_state(db: str, job_id: int) -> tuple[Any, ...] | None:
    return _read(queries.job_state, job_id)  # type: ignore[no-any-return]


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def newest_jobs(db: str, job_filter: JobFilter, page_size: int) -> queries.JobPage:
    """The first page of the job browser, fresher than :func:`jobs_page` (the live list polls it)."""
    return _read(queries.browse_jobs, job_filter, None, page_size)  # type: ignore[no-any-return]
