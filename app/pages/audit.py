"""Audit log (ADMIN): who did what to which target, allowed or refused, newest first."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import auth, data
from app.text import NOTHING, readable, when

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
    table = pd.DataFrame(rows)
    table["at"] = [when(v, fmt="%Y-%m-%d %H:%M:%S") for v in table["at"]]
    table["allowed"] = ["allowed" if ok else "REFUSED" for ok in table["allowed"]]
    table["details"] = [json.dumps(d, default=str) if d else NOTHING for d in table["details"]]
    st.dataframe(readable(table), hide_index=True, key="audit_table", column_config={
        "at": st.column_config.TextColumn("At (UTC)"),
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
