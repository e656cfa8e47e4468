"""Record lookup: every job that read or wrote an external record, newest first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, data, widgets

auth.require_actor()
st.title("Record lookup")
st.caption("Any external id or number: a Xero invoice number (INV-0042), a HubSpot contact id, a Shopify order name.")
widgets.keep("lk_query", "lk_tenants")
c1, c2 = st.columns([2, 1])
query = c1.text_input("External id or number", key="lk_query", placeholder="INV-0042")
with c2:
    tenant_ids = widgets.tenant_filter("lk_tenants")
if query.strip():
    rows = data.lookup_record(data.url(), query.strip(), tenant_ids)
    if not rows:
        st.info(f"No job read or wrote {query.strip()!r}.")
    else:
        st.write(f"{len(rows)} jobs touched **{query.strip()}**, newest first.")
        df = pd.DataFrame(rows)
        df["job"] = [f"/jobs?job={j}" for j in df["job_id"]]
        st.dataframe(
            df[["at", "tenant", "system", "record_type", "record_id", "action", "job_type", "status", "job", "link"]],
            hide_index=True, key="lookup_table",
            column_config={
                "job": st.column_config.LinkColumn("Job", display_text=r"/jobs\?job=(\d+)"),
                "link": st.column_config.LinkColumn("In vendor", display_text="open ↗"),
                "at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            },
        )  # fmt: skip
        for r in rows[:20]:
            st.page_link("pages/jobs.py", label=f"Job #{r['job_id']} · {r['job_type']} · {r['status']}",
                         query_params={"job": str(r["job_id"])})  # fmt: skip
