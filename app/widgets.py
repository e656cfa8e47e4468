"""Widgets shared by the pages: filters, formatting, and running an action with feedback."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from app import auth, data
from db.auth import Actor, Forbidden, audit
from db.engine import is_busy
from db.filters import JobFilter
from db.models import JOB_STATUSES

T = TypeVar("T")
log = logging.getLogger("zixly.dashboard")

RANGES = {"Last hour": dt.timedelta(hours=1), "Last 24 hours": dt.timedelta(hours=24),
          "Last 7 days": dt.timedelta(days=7), "Last 30 days": dt.timedelta(days=30)}  # fmt: skip
STATUS_COLOURS = {"COMPLETED": "#2e7d32", "FAILED": "#c62828", "RUNNING": "#1565c0", "QUEUED": "#f9a825",
                  "CANCELLED": "#757575", "PAUSED": "#6a1b9a"}  # fmt: skip


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


# The job filter's URL parameters: a filtered list is a link that can be shared, bookmarked or reloaded.
FILTER_PARAMS = ("tenant", "types", "status", "from", "to", "q")


def _url_filter() -> dict[str, str]:
    return {name: str(st.query_params[name]) for name in FILTER_PARAMS if st.query_params.get(name)}


def filter_params() -> dict[str, str]:
    """The job filter this URL carries: links between jobs keep it, so "← All jobs" returns to the list."""
    return _url_filter()


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:  # a hand-edited link may carry anything
        return None


def _widgets_from_url(k: dict[str, str], url: dict[str, str]) -> None:
    """Preset the filter widgets from a link, keeping only values the widgets offer."""
    tenants = tenant_names()
    st.session_state[k["tenants"]] = [int(t) for t in _csv(url.get("tenant")) if t.isdigit() and int(t) in tenants]
    types = data.job_types(data.url())
    st.session_state[k["types"]] = [t for t in _csv(url.get("types")) if t in types]
    st.session_state[k["statuses"]] = [s for s in _csv(url.get("status")) if s in JOB_STATUSES]
    start, end = _date(url.get("from")), _date(url.get("to"))
    st.session_state[k["dates"]] = tuple(d for d in (start, end or start) if d is not None)
    st.session_state[k["text"]] = url.get("q", "")


def _url_from(
    tenant_ids: tuple[int, ...], types: list[str], statuses: list[str], dates: Any, text: str
) -> dict[str, str]:
    url = {"tenant": ",".join(map(str, tenant_ids)), "types": ",".join(sorted(types)),
           "status": ",".join(s for s in JOB_STATUSES if s in statuses), "q": text.strip()}  # fmt: skip
    if isinstance(dates, tuple | list) and dates:
        url["from"] = dates[0].isoformat()
        url["to"] = (dates[1] if len(dates) > 1 else dates[0]).isoformat()
    return {name: value for name, value in url.items() if value}


def job_filter(prefix: str = "jf") -> JobFilter:
    """The job browser's filter widgets, mirrored in the URL (``?tenant=1,2&status=FAILED&types=…&from=…&to=…&q=…``).

    A link that carries filters (Overview, Clients, a shared URL) sets the widgets; a bare ``/jobs``
    (the sidebar) keeps this tab's last filters; every change of a widget rewrites the URL.
    """
    k = {n: f"{prefix}_{n}" for n in ("tenants", "types", "statuses", "dates", "text")}
    url_key = f"{prefix}_url"
    from_link, last = _url_filter(), st.session_state.get(url_key)
    forgotten = k["statuses"] not in st.session_state  # back from another page: Streamlit dropped the widgets
    if from_link and (from_link != last or forgotten):
        _widgets_from_url(k, from_link)
    elif not from_link and last and forgotten:
        _widgets_from_url(k, last)  # a bare /jobs (the sidebar) keeps this tab's filter
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
        text = st.text_input(
            "Search params and errors", key=k["text"], placeholder="e.g. INV-0042 or 429",
            help="A value in the job's params (an order or invoice number, an email, a shop) or text of its "
            "error. Key names and digests (32 or more hexadecimal digits) are not searched.",
        )  # fmt: skip
    url = _url_from(tenant_ids, types, statuses, dates, text)
    st.session_state[url_key] = url
    for name in FILTER_PARAMS:  # only what changed: each write is a message to the browser
        if url.get(name) != st.query_params.get(name):
            if name in url:
                st.query_params[name] = url[name]
            else:
                del st.query_params[name]
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


BUSY_RETRIES = 3  # a whole action again when SQLite was busy (its transaction rolled back: nothing done)


def run_action(
    fn: Callable[..., T], *args: Any, success: str | Callable[[T], str] | None = None, **kwargs: Any
) -> T | None:
    """Run an ``app.actions`` function in a fresh session; show its outcome; None if it failed.

    A refusal or a bad input reads as the action's own sentence. A busy SQLite database is retried
    (the action's transaction rolled back); anything else that goes wrong is logged, audited as a
    failure of the action, and told to the user with what to do, instead of a traceback. Other
    exceptions (``InvalidParams`` for :mod:`app.checked`) reach the caller.
    """
    for attempt in range(BUSY_RETRIES + 1):
        try:
            with data.session() as s:
                result = fn(s, *args, **kwargs)
            break
        except Forbidden as exc:
            st.error(f"Not allowed: {exc}")
            return None
        except (ValueError, LookupError, RuntimeError, NotImplementedError) as exc:
            st.error(str(exc))
            return None
        except (SQLAlchemyError, OSError) as exc:  # the database or the network: not the action's rules
            if is_busy(exc) and attempt < BUSY_RETRIES:
                time.sleep(0.25 * (attempt + 1))
                continue
            log.exception("dashboard action %s failed", fn.__name__)
            _audit_failure(fn, args, exc)
            st.error(failure_message(fn, exc))
            return None
    data.invalidate()
    if success is not None:
        st.success(success(result) if callable(success) else success)
    return result


def failure_message(fn: Callable[..., Any], exc: BaseException) -> str:
    what = fn.__name__.replace("_", " ").capitalize()
    if is_busy(exc):
        return (f"{what} did not go through: the database stayed busy (another process was writing). "
                "Nothing was changed; try again in a moment.")  # fmt: skip
    if isinstance(exc, SQLAlchemyError):
        answer = str(getattr(exc, "orig", exc))[:200]
        return (f"{what} failed: the database answered “{answer}”. Try again; if it keeps failing, "
                "check that the database is up (the dashboard log has the details).")  # fmt: skip
    return (f"{what} failed: {type(exc).__name__}: {str(exc)[:200] or 'no message'}. "
            "Try again; if it keeps failing, the dashboard log has the details.")  # fmt: skip


def _audit_failure(fn: Callable[..., Any], args: tuple[Any, ...], exc: BaseException) -> None:
    """The audit log records a failed action too (in a session of its own: the action's rolled back)."""
    actor = next((a for a in args if isinstance(a, Actor)), None)
    if actor is None:
        return
    for attempt in range(BUSY_RETRIES + 1):
        try:
            with data.session() as s:
                audit(s, actor, fn.__name__.replace("_", "."), details={"failed": f"{type(exc).__name__}: {exc}"[:500]})
                s.commit()
            return
        except Exception as again:
            if not (is_busy(again) and attempt < BUSY_RETRIES):
                log.exception("could not audit the failure of %s", fn.__name__)
                return
            time.sleep(0.25 * (attempt + 1))
