"""Awaiting approval: jobs that wait for a person to approve what they are about to write."""

from __future__ import annotations

import streamlit as st

from app import actions, auth, data, job_view

actor = auth.require_actor()
st.title("Awaiting approval")
if flash := st.session_state.pop("flash", None):
    st.success(flash)
with data.session() as s:
    waiting = actions.awaiting_approval(s, actor)
if not waiting:
    st.info("No job is waiting for an approval.")
    st.stop()
st.caption(f"{len(waiting)} jobs wait; EDITOR or above approves or rejects (with a comment). Oldest first.")
for approval in waiting:
    with st.container(border=True):
        st.markdown(f"**{approval.summary}**")
        st.caption(f"{approval.tenant} · {approval.job_type} · asked {approval.created_at:%Y-%m-%d %H:%M} UTC · "
                   f"expires {approval.deadline_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        st.page_link("pages/jobs.py", label=f"Open job #{approval.job_id}", query_params={"job": str(approval.job_id)})
        job_view.approval_panel(actor, approval.job_id, key="list")
