"""Overview: KPI tiles and charts for a tenant selection and time range, with live refresh."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app import auth, data, widgets
from app.text import plural

REFRESH = {"Off": None, "10 s": 10, "30 s": 30, "1 min": 60}
# Axis and legend titles in words, not the query's column names.
AXES = {"bucket": "Time (UTC)", "jobs": "Jobs", "status": "Status", "job_type": "Job type",
        "seconds": "Duration (seconds)", "percentile": "Percentile", "tenant": "Tenant"}  # fmt: skip
# Durations are rolled up per hour in buckets (db/rollups.py), so percentiles are close, not exact.
PERCENTILE_HELP = "Approximate: durations are counted to two significant digits (within 5 %)."
DEFAULT_REFRESH = "30 s"  # live by default; the cached reads make a refresh cheap (bench/dashboard.py)

auth.require_actor()
st.title("Overview")
widgets.keep("ov_tenants", "ov_range", "ov_refresh")
c1, c2, c3 = st.columns([3, 2, 1])
with c1:
    tenant_ids = widgets.tenant_filter("ov_tenants")
with c2:
    range_label = st.selectbox("Time range", list(widgets.RANGES), index=1, key="ov_range")
with c3:
    refresh = st.selectbox("Live refresh", list(REFRESH), index=list(REFRESH).index(DEFAULT_REFRESH), key="ov_refresh")
every = REFRESH[refresh]


@st.fragment(run_every=every)
def live() -> None:
    auth.recheck()
    # The filters live outside the fragment, so a refresh re-reads them and keeps them.
    since, until = widgets.window(range_label, granularity_s=every or 60)
    k = data.kpis(data.url(), tenant_ids, since, until)
    row1 = st.columns(4)
    row1[0].metric(f"Jobs ({range_label.lower()})", f"{k.jobs:,}")
    row1[1].metric("Success rate", widgets.percent(k.success_rate), help="completed ÷ (completed + failed)")
    row1[2].metric("p95 duration", widgets.seconds(k.p95_s), help=PERCENTILE_HELP)
    row1[3].metric("Failed, needing attention", f"{k.needs_attention:,}", help="failed and not rerun yet")
    row2 = st.columns(4)
    row2[0].metric("Queue depth", f"{k.queue_depth:,}")
    row2[1].metric("Oldest queued job", widgets.seconds(k.oldest_queued_age_s))
    row2[2].metric("Live runners", k.live_runners)
    row2[3].metric("Busy slots", f"{k.busy_slots} / {k.total_slots}")
    if k.needs_attention:
        # The link carries the tenants chosen here, so the Jobs page lists the jobs this tile counts.
        link = {"status": "FAILED"} | ({"tenant": ",".join(map(str, tenant_ids))} if tenant_ids else {})
        st.page_link("pages/jobs.py", label=f"Open the {plural(k.needs_attention, 'failed job')}", query_params=link)
    series = data.charts(data.url(), tenant_ids, since, until)
    left, right = st.columns(2)
    with left:
        st.subheader("Jobs over time")
        if series["over_time"]:
            df = pd.DataFrame(series["over_time"])
            fig = px.bar(df, x="bucket", y="jobs", color="status", color_discrete_map=widgets.STATUS_COLOURS,
                         labels=AXES)  # fmt: skip
            st.plotly_chart(fig, key="chart_over_time")
        else:
            st.caption("No jobs in this range.")
    with right:
        st.subheader("Duration percentiles by job type")
        if series["durations"]:
            df = pd.DataFrame(series["durations"]).melt(
                id_vars=["job_type", "jobs"], value_vars=["p50", "p95", "p99"], var_name="percentile",
                value_name="seconds",
            )  # fmt: skip
            st.plotly_chart(px.bar(df, x="job_type", y="seconds", color="percentile", barmode="group", labels=AXES),
                            key="chart_durations")  # fmt: skip
            st.caption(PERCENTILE_HELP)
        else:
            st.caption("No completed jobs in this range.")
    st.subheader("Volume by tenant")
    if series["by_tenant"]:
        df = pd.DataFrame(series["by_tenant"])
        fig = px.bar(df, x="jobs", y="tenant", color="status", orientation="h",
                     color_discrete_map=widgets.STATUS_COLOURS, labels=AXES)  # fmt: skip
        st.plotly_chart(fig, key="chart_by_tenant")
    st.caption(f"Updated {until:%H:%M:%S} UTC" + (f" · refreshing every {refresh}" if every else ""))


live()
