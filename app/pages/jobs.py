"""Jobs: the filtered, keyset-paginated browser, bulk rerun and CSV export; ?job=<id> shows one job."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app import auth, bulk_view, data, job_view, widgets
from app.text import plural
from db.queries.jobs import PAGE_SIZE

LIVE_S = 10

actor = auth.require_actor()
if wanted_job := st.query_params.get("job"):
    if wanted_job.isdigit():
        job_view.detail(actor, int(wanted_job))
    else:  # a hand-edited link
        st.error(f"“{wanted_job}” is not a job number.")
        if st.button("← All jobs", key="job_back_bad"):
            del st.query_params["job"]
            st.rerun()
    st.stop()

st.title("Jobs")
job_filter = widgets.job_filter()
if st.session_state.get("jobs_filter") != job_filter:  # a new filter starts at the first page
    st.session_state["jobs_filter"] = job_filter
    st.session_state["jobs_cursors"] = [None]
cursors = st.session_state["jobs_cursors"]
widgets.keep("jobs_live")
live = st.toggle(
    "Live", value=True, key="jobs_live", help=f"The first page shows new jobs as they arrive (every {LIVE_S} s)"
)
first_page = len(cursors) == 1


@st.fragment(run_every=LIVE_S if live and first_page else None)
def listing() -> None:
    auth.recheck()
    # Live, the first page re-reads through a short shared cache: N open tabs cost one query per period.
    if live and first_page:
        page = data.newest_jobs(data.url(), job_filter, PAGE_SIZE)
    else:
        page = data.jobs_page(data.url(), job_filter, cursors[-1], PAGE_SIZE)
    st.session_state["jobs_next_cursor"] = page.next_cursor
    if page.rows:
        # A table's selection outlives the job page it opened: a new table each time, or "← All jobs"
        # would find the row still selected and open that job again.
        generation = st.session_state.setdefault("jobs_table_generation", 0)
        event = st.dataframe(
            job_view.browser_frame(page.rows), hide_index=True, on_select="rerun", selection_mode="single-row",
            key=f"jobs_table_{generation}", column_config=job_view.BROWSER_COLUMNS,
        )  # fmt: skip
        chosen = event.selection.rows if event is not None else []
        if chosen:
            st.session_state["jobs_table_generation"] = generation + 1
            st.query_params["job"] = str(page.rows[chosen[0]]["id"])  # the filters stay in the URL
            st.rerun()
    else:
        st.info("No jobs match these filters.")
    more = " · more after this page" if page.next_cursor else ""
    updated = f" · live, updated {dt.datetime.now(dt.UTC):%H:%M:%S} UTC" if live and first_page else ""
    st.caption(f"Page {len(cursors)} · {plural(len(page.rows), 'job')}{more}{updated}")


listing()
nav = st.columns([1, 1, 3, 2])
if nav[0].button("← Newer", disabled=first_page, key="jobs_prev"):
    cursors.pop()
    st.rerun()
if nav[1].button("Older →", disabled=st.session_state.get("jobs_next_cursor") is None, key="jobs_next"):
    cursors.append(st.session_state["jobs_next_cursor"])
    st.rerun()
with nav[3].form("open_job", border=False):
    wanted = st.number_input("Open job #", min_value=1, step=1, value=None, key="jobs_open_id")
    if st.form_submit_button("Go to job") and wanted:
        st.query_params["job"] = str(int(wanted))
        st.rerun()

st.divider()
left, right = st.columns(2)
with left:
    bulk_view.panel(actor, job_filter)
with right:
    st.subheader("Export")
    job_view.export_panel(actor, job_filter)
if flash := st.session_state.pop("flash", None):
    st.success(flash)
