"""The Jobs page's parts: the browser table, one job's detail and actions, and the export panel."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from app import actions, auth, data, pause_panel, widgets
from app.checked import run_checked_action
from app.text import NOTHING, vendor_name, when
from db import jobs
from db.auth import Actor
from db.blobs import make_blob_store
from db.export import export_filename
from db.filters import JobFilter

EXPORT_INLINE_MAX = 50_000  # rows served straight to the browser; more go to the blob store
FINAL = ("COMPLETED", "FAILED", "CANCELLED")
BROWSER_COLUMNS = {
    "id": st.column_config.NumberColumn("Job", format="%d"),
    "created_at": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "duration": st.column_config.TextColumn("Duration"),
    "tenant": st.column_config.TextColumn("Tenant"),
    "job_type": st.column_config.TextColumn("Job type"),
    "status": st.column_config.TextColumn("Status"),
    "attempts": st.column_config.NumberColumn("Attempts", format="%d"),
    "created_by": st.column_config.TextColumn("Created by"),
    "error": st.column_config.TextColumn("Error"),
}


def browser_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    # pandas turns a running job's None into NaN, which is not None: test for a real number.
    df["duration"] = [widgets.seconds(v) if v is not None and not pd.isna(v) else "" for v in df["duration_s"]]
    df["created_by"] = [v if isinstance(v, str) and v else NOTHING for v in df["created_by"]]
    df["error"] = [v if isinstance(v, str) else "" for v in df["error"]]
    return df[["id", "tenant", "job_type", "status", "created_at", "duration", "attempts", "created_by", "error"]]


def cancel_message(job_id: int, status: str) -> str:
    """What a cancel did, in words that match it (a running job only stops at its next checkpoint)."""
    return {
        "CANCELLED": f"Job #{job_id} is cancelled.",
        "RUNNING": f"Job #{job_id} is running — it will stop at its next checkpoint.",
        "QUEUED": f"Job #{job_id} is still queued.",
        "PAUSED": f"Job #{job_id} is still held (its client is paused).",
        "COMPLETED": f"Job #{job_id} had already completed; nothing was cancelled.",
        "FAILED": f"Job #{job_id} had already failed; nothing was cancelled.",
    }.get(status, f"Job #{job_id} is {status.lower()}.")


def steps_frame(steps: list[dict[str, Any]]) -> pd.DataFrame:
    """The step log with empty cells blank (an info step has no system, path or status)."""
    df = pd.DataFrame(steps).drop(columns=["id"])
    # isinstance, not truthiness: pandas may hold a missing value as NaN, which is truthy.
    for column in ("method", "path"):
        df[column] = [v if isinstance(v, str) else "" for v in df[column]]
    df["system"] = [vendor_name(v) if isinstance(v, str) and v else "" for v in df["system"]]
    df["status_code"] = [str(int(v)) if isinstance(v, int | float) and v == v else "" for v in df["status_code"]]
    df["latency_ms"] = [f"{v:.0f} ms" if isinstance(v, int | float) and v == v else "" for v in df["latency_ms"]]
    return df


def _open(job_id: int) -> None:
    st.query_params["job"] = str(job_id)
    st.rerun()


def detail(actor: Actor, job_id: int) -> None:
    if st.button("← All jobs", key="job_back"):
        del st.query_params["job"]
        st.rerun()
    if flash := st.session_state.pop("flash", None):
        st.success(flash)
    d = data.job_detail(data.url(), job_id)
    if d is None:
        st.error(f"There is no job #{job_id}.")
        return
    job = d.job
    running = job["status"] not in FINAL

    drawn = data.job_state(data.url(), job_id)

    @st.fragment(run_every=2 if running else 10)
    def status() -> None:
        auth.recheck()
        # Queued or running, the status refreshes every 2 s; afterwards a cheap probe every 10 s notices a
        # rerun, a cancel or a retry made elsewhere (another tab, a colleague) and redraws the page.
        now = data.job_detail(data.url(), job_id) if running else d
        j = now.job if now else job
        st.title(f"Job #{job_id} · {j['status']}")
        st.caption(f"{j['job_type']} · {j['tenant']} · created {j['created_at']:%Y-%m-%d %H:%M:%S} UTC by "
                   f"{j['created_by'] or '—'} · attempts {j['attempts']}/{j['max_attempts']} · "
                   f"duration {widgets.seconds(j['duration_s'])}")  # fmt: skip
        if running and now is not None and now.job["status"] in FINAL:
            st.rerun()  # finished: redraw the whole page with the result
        if not running and data.job_state(data.url(), job_id) != drawn:
            data.job_detail.clear()
            st.rerun()

    status()
    _actions(actor, job)
    if job["status"] == "WAITING":
        approval_panel(actor, job_id)
    if job["status"] == "PAUSED":
        pause_panel.held_note(job)
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Params")
        st.json(job["params"] or {})
    with c2:
        st.subheader("Result")
        st.json(job["result"] or {}) if job["result"] else st.caption("—")
        if job["error"]:
            st.subheader("Error")
            st.code(job["error"], language=None)
        if job["metrics"]:
            st.json(job["metrics"], expanded=False)
    st.subheader("Steps")
    if d.steps:
        st.dataframe(steps_frame(d.steps), hide_index=True, column_config={
            "attempt": st.column_config.NumberColumn("Attempt", format="%d"),
            "kind": st.column_config.TextColumn("Kind"),
            "message": st.column_config.TextColumn("What happened"),
            "system": st.column_config.TextColumn("Vendor"),
            "method": st.column_config.TextColumn("Method"),
            "path": st.column_config.TextColumn("Path"),
            "status_code": st.column_config.TextColumn("Status"),
            "latency_ms": st.column_config.TextColumn("Latency"),
            "at": st.column_config.DatetimeColumn("At (UTC)", format="HH:mm:ss.SSS"),
        })  # fmt: skip
    else:
        st.caption("No steps recorded.")
    st.subheader("Related records")
    if d.records:
        records = pd.DataFrame(d.records).drop(columns=["url"])
        records["system"] = [vendor_name(v) for v in records["system"]]
        records["name"] = [v if isinstance(v, str) and v else NOTHING for v in records["name"]]
        records["link"] = [v if isinstance(v, str) else "" for v in records["link"]]
        records["at"] = [when(v, fmt="%Y-%m-%d %H:%M:%S") for v in records["at"]]
        st.dataframe(records, hide_index=True, column_config={
            "system": st.column_config.TextColumn("Vendor"),
            "record_type": st.column_config.TextColumn("Record"),
            "record_id": st.column_config.TextColumn("Id at the vendor"),
            "name": st.column_config.TextColumn("Known as"),
            "action": st.column_config.TextColumn("What the job did"),
            "at": st.column_config.TextColumn("At (UTC)"),
            "link": st.column_config.LinkColumn("Open in vendor", display_text="open"),
        })  # fmt: skip
        if actor.can("EDITOR") and st.button("Prepare records CSV", key="records_csv"):
            body = widgets.run_action(actions.export_related_records, actor, job_id)
            if body is not None:
                st.download_button("Download records CSV", body, f"zixly-job-{job_id}-records.csv", "text/csv",
                                   key="records_download")  # fmt: skip
    else:
        st.caption("No external records.")
    _lineage(d.ancestors, job_id, d.reruns)


def _actions(actor: Actor, job: dict[str, Any]) -> None:
    job_id = job["id"]
    editor = actor.can("EDITOR")
    hint = None if editor else "EDITOR role needed"
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Rerun", type="primary", disabled=not editor, help=hint, key="job_rerun"):
        new_id = _rerun(actor, job_id)
        if new_id is not None:
            st.session_state["flash"] = f"Rerun queued as job #{new_id} (rerun of #{job_id})."
            _open(new_id)
    if b2.button("Cancel", disabled=not editor or job["status"] in FINAL, help=hint, key="job_cancel"):
        result = widgets.run_action(actions.cancel, actor, job_id)
        if result is not None:
            st.session_state["flash"] = cancel_message(job_id, result)
            st.rerun()
    if editor:
        with st.expander("Rerun with edited params"):
            text = st.text_area("Params (JSON)", json.dumps(job["params"] or {}, indent=2), height=200,
                                key=f"edit_params_{job_id}")  # fmt: skip
            if st.button("Validate and rerun", key="job_rerun_edited"):
                try:
                    params = actions.parse_params(text)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    new_id = _rerun(actor, job_id, params)
                    if new_id is not None:
                        st.session_state["flash"] = f"Rerun with edited params queued as job #{new_id}."
                        _open(new_id)


def approval_panel(actor: Actor, job_id: int, *, key: str = "job") -> None:
    """What a job waiting for approval would write, and (EDITOR or above) Approve / Reject with a comment."""
    with data.session() as s:
        open_ = [w for w in jobs.waits.waits_of(s, job_id) if w.reason == "approval" and w.outcome is None]
    if not open_:
        return
    wait = open_[0]
    detail = dict(wait.detail or {})
    st.warning(f"Awaiting approval: {detail.pop('summary', '')} (until {wait.deadline_at:%Y-%m-%d %H:%M} UTC)")
    st.caption("What would be written")
    st.json(detail, expanded=True)
    editor = actor.can("EDITOR")
    comment = st.text_input("Comment (required to reject)", key=f"{key}_approval_comment_{job_id}",
                            disabled=not editor)  # fmt: skip
    a, r, _ = st.columns([1, 1, 4])
    hint = None if editor else "EDITOR role needed"
    for column, approved, label in ((a, True, "Approve"), (r, False, "Reject")):
        if column.button(label, key=f"{key}_{label.lower()}_{job_id}", disabled=not editor, help=hint,
                         type="primary" if approved else "secondary"):  # fmt: skip
            outcome = widgets.run_action(actions.decide_approval, actor, job_id, approved=approved, comment=comment)
            if outcome is not None:
                st.session_state["flash"] = f"Job #{job_id}: {outcome}."
                st.rerun()


def _rerun(actor: Actor, job_id: int, params: dict[str, Any] | None = None) -> int | None:
    """The rerun action; params the catalogue refuses are shown per field, and nothing is queued."""
    return run_checked_action(actions.rerun, actor, job_id, params)


def _lineage(ancestors: list[dict[str, Any]], job_id: int, reruns: list[dict[str, Any]]) -> None:
    if not ancestors and not reruns:
        return
    st.subheader("Rerun lineage")
    # Buttons that set the URL's job, not page links: a page link to the page already open drew the
    # other job while the URL (which the next click reads) still named this one.
    for row in ancestors:
        label = f"#{row['id']} · {row['status']} · {row['created_at']:%Y-%m-%d %H:%M}"
        if st.button(label, key=f"lineage_{row['id']}", type="tertiary"):
            _open(int(row["id"]))
    st.markdown(f"**#{job_id} (this job)**")
    for row in reruns:
        label = f"↳ #{row['id']} · {row['status']} · rerun of #{row['parent_job_id']}"
        if st.button(label, key=f"lineage_{row['id']}", type="tertiary"):
            _open(int(row["id"]))


def export_panel(actor: Actor, job_filter: JobFilter) -> None:
    names = widgets.tenant_names()
    filename = export_filename("jobs", [names.get(t, str(t)) for t in job_filter.tenant_ids],
                               job_filter.created_from, job_filter.created_to, job_types=job_filter.job_types,
                               statuses=job_filter.statuses, text=job_filter.text)  # fmt: skip
    st.caption(f"CSV of every job matching the filters (UTF-8, opens in Excel): `{filename}`")
    if not st.button("Prepare CSV export", disabled=not actor.can("EDITOR"), key="export_start"):
        return
    rows = data.count_jobs(data.url(), job_filter, EXPORT_INLINE_MAX)
    bar = st.progress(0.0, text="Exporting…")
    if rows <= EXPORT_INLINE_MAX:

        def tick(done: int) -> None:
            bar.progress(min(done / max(rows, 1), 1.0), text=f"{done:,} of {rows:,} rows")

        def build(s: Any) -> bytes:
            return b"".join(_with_progress(actions.export_jobs(s, actor, job_filter), tick))

        body = widgets.run_action(build)
        if body is not None:
            bar.progress(1.0, text=f"{rows:,} rows")
            st.download_button("Download CSV", body, filename, "text/csv", key="export_download", type="primary")
        return
    store = make_blob_store(data.settings())
    key = widgets.run_action(
        actions.export_jobs_to_blob, actor, store, job_filter, filename,
        lambda done: bar.progress(0.99, text=f"{done:,} rows written"),
    )  # fmt: skip
    if key is not None:
        bar.progress(1.0, text="Done")
        st.success(f"Large export saved to the blob store as `{key}`.")
        st.markdown(f"[Download]({store.url(key)}) (link valid for an hour)")


def _with_progress(chunks: Any, tick: Any) -> Any:
    done = 0
    for i, chunk in enumerate(chunks):
        if i:  # the first chunk is the header
            done += chunk.count(b"\r\n")
            tick(done)
        yield chunk
