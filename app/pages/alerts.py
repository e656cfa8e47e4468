"""Alerts: what is open now, failures grouped across clients by fingerprint (rerun or cancel a whole
group, EDITOR), and every alert delivery with its outcome — a broken channel shows here."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from app import alert_actions, auth, data, widgets
from app.actions import StaleConfirmation
from db.alerts import error_groups, outbox

actor = auth.require_actor()
editor = actor.can("EDITOR")
st.title("Alerts")
if flash := st.session_state.pop("flash", None):
    st.success(flash)
open_tab, groups_tab, deliveries_tab = st.tabs(["Open", "Error groups", "Deliveries"])

with open_tab:
    with data.session() as s:
        opened = error_groups.open_alerts(s)
    if opened:
        st.dataframe(pd.DataFrame(opened), hide_index=True, key="al_open_table")
    else:
        st.caption("Nothing is alerting.")

with groups_tab:
    label = st.selectbox("Failures in", list(widgets.RANGES), index=2, key="al_range")
    since, _until = widgets.window(label)
    with data.session() as s:
        groups = error_groups.error_groups(s, since=since)
    if not groups:
        st.caption("No failed jobs in this window.")
    else:
        table = pd.DataFrame(groups).drop(columns=["sample_error"])
        sample = st.column_config.NumberColumn("sample job", format="%d")
        st.dataframe(table, hide_index=True, key="al_groups_table", column_config={"sample_job": sample})
        by_id = {g["group"]: g for g in groups}
        gid = st.selectbox("Group", list(by_id), key="al_group_pick",
                           format_func=lambda i: f"#{i} {by_id[i]['job_type']}: {by_id[i]['error'][:80]}")  # fmt: skip
        g = by_id[gid]
        st.markdown(f"**{g['count']} failures** in {g['tenants']} tenants ({g['tenant_names']}), "
                    f"first {g['first_seen']:%Y-%m-%d %H:%M}, last {g['last_seen']:%Y-%m-%d %H:%M} UTC.")  # fmt: skip
        st.caption(f"Sample job #{g['sample_job']} ([open](/jobs?job={g['sample_job']})):")
        st.code(g["sample_error"] or "", language=None)
        with data.session() as s:
            still_failed = len(error_groups.failed_job_ids(s, gid))
            unfinished = len(error_groups.unfinished_job_ids(s, gid))
        hint = None if editor else "EDITOR role needed"
        c1, c2 = st.columns(2)
        if c1.button(f"Rerun all {still_failed} failed jobs", key="al_group_rerun",
                     disabled=not (editor and still_failed), help=hint):  # fmt: skip
            try:
                new = widgets.run_action(alert_actions.rerun_group, actor, gid, confirmed_count=still_failed)
            except StaleConfirmation as exc:
                st.warning(str(exc))
            else:
                if new is not None:
                    st.session_state["flash"] = f"{len(new)} jobs queued again."
                    st.rerun()
        if c2.button(f"Cancel {unfinished} queued or running", key="al_group_cancel",
                     disabled=not (editor and unfinished), help=hint):  # fmt: skip
            n = widgets.run_action(alert_actions.cancel_group, actor, gid)
            if n is not None:
                st.session_state["flash"] = f"{n} jobs cancelled."
                st.rerun()

with deliveries_tab:
    with data.session() as s:
        health = outbox.channel_health(s)
        recent = outbox.recent(s)
    if health:
        st.markdown("**Channels**")
        st.dataframe(pd.DataFrame(health), hide_index=True, key="al_health_table")
        broken = [h for h in health if h["failed"]]
        for h in broken:
            st.error(f"{h['channel']} ({h['kind']}): {h['failed']} deliveries failed; last: {h['last_error']}")
    if recent:
        st.markdown("**Latest deliveries**")
        st.dataframe(pd.DataFrame(recent), hide_index=True, key="al_deliveries_table")
    else:
        st.caption(f"No alert deliveries yet (checked {dt.datetime.now(dt.UTC):%H:%M:%S} UTC).")
