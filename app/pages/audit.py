"""Audit log (ADMIN): who did what to which target, allowed or refused, newest first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, data

actor = auth.require_actor()
auth.require_page_role(actor, "ADMIN")
st.title("Audit log")
c1, c2, c3 = st.columns([2, 2, 1])
who = c1.text_input("Actor email", key="au_actor")
action = c2.text_input("Action (e.g. job.rerun)", key="au_action")
refused = c3.toggle("Refusals only", key="au_refused")
before = st.session_state.get("au_before")
rows = data.audit_log(data.url(), who.strip() or None, action.strip() or None, refused, before)
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="audit_table", column_config={
        "at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    })  # fmt: skip
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Newest", disabled=before is None, key="au_first"):
        st.session_state["au_before"] = None
        st.rerun()
    if b2.button("Older →", disabled=len(rows) < 200, key="au_next"):
        st.session_state["au_before"] = rows[-1]["id"]
        st.rerun()
else:
    st.info("No audit entries match.")
