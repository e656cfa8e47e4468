"""Widgets shared by the pages: filters, formatting, and running an action with feedback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from app import auth, data
from db.auth import Actor, Forbidden
from db.filters import JobFilter
from db.models import JOB_STATUSES

T = TypeVar("T")

RANGES = {"Last hour": dt.timedelta(hours=1), "Last 24 hours": dt.timedelta(hours=24),
          "Last 7 days": dt.timedelta(days=7), "Last 30 days": dt.timedelta(days=30)}  # fmt: skip
STATUS_COLOURS = {"COMPLETED": "#2e7d32", "FAILED": "#c62828", "RUNNING": "#1565c0", "QUEUED": "#f9a825",
                  "CANCELLED": "#757575"}  # fmt: skip


def keep(*keys: str) -> None:
    """Keep widget values across page switches (Streamlit forgets widgets a page does not draw)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def sidebar_user(actor: Actor) -> None:
    with st.sidebar:
        st.caption(f"{actor.email} · {actor.role}")
        if st.button("Log out", key="logout"):
            auth.logout()
            st.rerun()


def tenant_names() -> dict[int, str]:
    return {t["id"]: t["name"] for t in data.tenants(data.url())}


def tenant_filter(key: str, label: str = "Tenants") -> tuple[int, ...]:
    names = tenant_names()
    chosen = st.multiselect(label, list(names), format_func=lambda i: names.get(i, str(i)), key=key,
                            placeholder="All tenants")  # fmt: skip
    return tuple(sorted(chosen))


def tenant_select(key: str, label: str = "Tenant") -> int | None:
    names = tenant_names()
    if not names:
        st.info("No tenants yet: an admin creates them on the Admin page.")
        return None
    return st.selectbox(label, list(names), format_func=lambda i: names[i], key=key)


def window(label: str, *, granularity_s: int = 60) -> tuple[dt.datetime, dt.datetime]:
    """The window named ``label``, its end rounded up to ``granularity_s`` so cached reads are reused."""
    now = dt.datetime.now(dt.UTC)
    end_ts = (int(now.timestamp()) // granularity_s + 1) * granularity_s
    until = dt.datetime.fromtimestamp(end_ts, dt.UTC)
    return until - RANGES[label], until


def _csv_param(name: str) -> list[str]:
    value = st.query_params.get(name)
    return [v for v in value.split(",") if v] if value else []


def job_filter(prefix: str = "jf") -> JobFilter:
    """The job browser's filter widgets; links (e.g. from Clients) preset them via the URL."""
    k = {n: f"{prefix}_{n}" for n in ("tenants", "types", "statuses", "dates", "text")}
    if st.query_params.get("tenant") or st.query_params.get("status") or st.query_params.get("types"):
        # A hand-edited link may carry anything: keep only whole numbers.
        st.session_state[k["tenants"]] = [int(t) for t in _csv_param("tenant") if t.strip().isdigit()]
        st.session_state[k["statuses"]] = [s for s in _csv_param("status") if s in JOB_STATUSES]
        st.session_state[k["types"]] = _csv_param("types")
        for name in ("tenant", "status", "types"):
            del st.query_params[name]
    keep(*k.values())
    c1, c2, c3 = st.columns(3)
    with c1:
        tenant_ids = tenant_filter(k["tenants"])
    with c2:
        types = st.multiselect("Job types", data.job_types(data.url()), key=k["types"], placeholder="All job types")
    with c3:
        statuses = st.multiselect("Status", JOB_STATUSES, key=k["statuses"], placeholder="Any status")
    c4, c5 = st.columns([1, 2])
    with c4:
        if k["dates"] not in st.session_state:
            st.session_state[k["dates"]] = ()  # a range picker with nothing chosen
        dates = st.date_input("Created between", key=k["dates"])
    with c5:
        text = st.text_input("Search params and errors", key=k["text"], placeholder="e.g. INV-0042 or 429")
    created_from = created_to = None
    if isinstance(dates, tuple | list) and len(dates) >= 1:
        created_from = dt.datetime.combine(dates[0], dt.time(), dt.UTC)
        last = dates[1] if len(dates) > 1 else dates[0]
        created_to = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    return JobFilter(
        tenant_ids=tenant_ids, job_types=tuple(sorted(types)), statuses=tuple(s for s in JOB_STATUSES if s in statuses),
        created_from=created_from, created_to=created_to, text=text.strip() or None,
    )  # fmt: skip


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    if value < 172800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def run_action(
    fn: Callable[..., T], *args: Any, success: str | Callable[[T], str] | None = None, **kwargs: Any
) -> T | None:
    """Run an ``app.actions`` function in a fresh session; show its outcome; None if it failed."""
    try:
        with data.session() as s:
            result = fn(s, *args, **kwargs)
    except Forbidden as exc:
        st.error(f"Not allowed: {exc}")
        return None
    except (ValueError, LookupError, RuntimeError, NotImplementedError) as exc:
        st.error(str(exc))
        return None
    data.invalidate()
    if success is not None:
        st.success(success(result) if callable(success) else success)
    return result
