"""Schedules: list, create, edit the cron (next three fire times in the tenant's zone), enable, Run now."""

from __future__ import annotations

import json
import zoneinfo
from typing import Any

import pandas as pd
import streamlit as st

import jobtypes
from app import actions, auth, data, widgets
from app.checked import run_checked_action
from app.text import readable, when

SCHEDULABLE = [entry.name for entry in sorted(jobtypes.CATALOGUE, key=lambda e: e.name) if entry.trigger is None]

actor = auth.require_actor()
editor = actor.can("EDITOR")
st.title("Schedules")
widgets.keep("sc_tenants")
tenant_ids = widgets.tenant_filter("sc_tenants")
rows = data.schedules(data.url(), tenant_ids)
tz_of = {t["id"]: t["timezone"] for t in data.tenants(data.url())}
if flash := st.session_state.pop("flash", None):
    st.success(flash)


def preview(cron: str, timezone: str) -> bool:
    """Show the next three fire times in ``timezone``; False (and the reason) when the cron is invalid."""
    try:
        fires = actions.check_cron(cron, timezone)
    except ValueError as exc:
        st.error(str(exc))
        return False
    zone = zoneinfo.ZoneInfo(timezone)
    st.caption("Next: " + " · ".join(f.astimezone(zone).strftime("%a %d %b %H:%M %Z") for f in fires))
    return True


if rows:
    df = pd.DataFrame(rows)
    # Fire times in each schedule's own timezone (the tenant's), as the cron reads them.
    local = "%a %d %b %Y %H:%M %Z"
    df["next_run_at"] = [when(v, z, local) for v, z in zip(df["next_run_at"], df["timezone"], strict=True)]
    df["last_fired_at"] = [when(v, z, local) for v, z in zip(df["last_fired_at"], df["timezone"], strict=True)]
    df["enabled"] = ["yes" if v else "no" for v in df["enabled"]]
    st.dataframe(
        readable(df[["id", "tenant", "job_type", "cron", "timezone", "enabled", "next_run_at", "last_fired_at",
                     "last_status"]]),
        hide_index=True, key="schedules_table",
        column_config={
            "job_type": st.column_config.TextColumn("Job type"),
            "timezone": st.column_config.TextColumn("Timezone"),
            "next_run_at": st.column_config.TextColumn("Next run (its timezone)"),
            "last_fired_at": st.column_config.TextColumn("Last fired (its timezone)"),
            "last_status": st.column_config.TextColumn("Last job"),
        },
    )  # fmt: skip
    st.caption("Times are in each schedule's timezone, which is its tenant's.")
else:
    st.info("No schedules yet.")

if rows:
    st.subheader("Edit a schedule")
    by_id = {r["id"]: r for r in rows}
    sid = st.selectbox("Schedule", list(by_id), key="sc_pick",
                       format_func=lambda i: f"#{i} {by_id[i]['tenant']} · {by_id[i]['job_type']}")  # fmt: skip
    s: dict[str, Any] = by_id[sid]
    c1, c2 = st.columns(2)
    cron = c1.text_input("Cron (minute hour day month weekday)", s["cron"], key=f"sc_cron_{sid}")
    enabled = c2.toggle("Enabled", s["enabled"], key=f"sc_enabled_{sid}")
    params_text = st.text_area("Params (JSON)", json.dumps(s["params"] or {}), key=f"sc_params_{sid}")
    valid = preview(cron, s["timezone"])
    b1, b2, _ = st.columns([1, 1, 3])
    if b1.button("Save", disabled=not (editor and valid), key="sc_save"):
        try:
            params = actions.parse_params(params_text)
        except ValueError as exc:
            st.error(str(exc))
        else:
            if run_checked_action(actions.update_schedule, actor, sid, cron=cron.strip(), timezone=s["timezone"],
                                  enabled=enabled, params=params) is not None:  # fmt: skip
                st.session_state["flash"] = f"Schedule #{sid} saved."
                st.rerun()
    if b2.button("Run now", disabled=not editor, key="sc_run"):
        job_id = widgets.run_action(actions.run_schedule_now, actor, sid)
        if job_id is not None:
            st.session_state["flash"] = f"Schedule #{sid} queued job #{job_id}."
            st.rerun()

st.subheader("New schedule")
with st.container(border=True):
    tenant_id = widgets.tenant_select("sc_new_tenant")
    c1, c2 = st.columns(2)
    # Job types a vendor event starts need that event's record id; a schedule has none to give.
    job_type = c1.selectbox("Job type", SCHEDULABLE, key="sc_new_type")
    new_cron = c2.text_input("Cron", "0 * * * *", key="sc_new_cron")
    new_params = st.text_area("Params (JSON)", "{}", key="sc_new_params")
    zone = tz_of.get(tenant_id or 0, "UTC")
    st.caption(f"Fire times are in the tenant's timezone ({zone}).")
    ok = preview(new_cron, zone)
    if st.button("Create schedule", disabled=not (editor and ok and tenant_id and job_type), key="sc_create"):
        try:
            params = actions.parse_params(new_params)
        except ValueError as exc:
            st.error(str(exc))
        else:
            new_id = run_checked_action(actions.create_schedule, actor, tenant_id=tenant_id, job_type=job_type,
                                        cron=new_cron, timezone=zone, params=params)  # fmt: skip
            if new_id is not None:
                st.session_state["flash"] = f"Schedule #{new_id} created."
                st.rerun()
