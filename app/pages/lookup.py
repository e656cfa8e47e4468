"""Record lookup: every job that read or wrote an external record, found by what people know."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, data, widgets
from app.text import plural

auth.require_actor()
st.title("Record lookup")
st.caption(
    "Find the jobs that touched a record by what you know: a Xero invoice number (INV-0042) or InvoiceID, "
    "a Shopify order name (#1001) or id, a HubSpot deal id or name, a contact's email, an Asana task gid."
)
widgets.keep("lk_query", "lk_tenants")
c1, c2 = st.columns([2, 1])
query = c1.text_input("Invoice number, order name, deal, email or id", key="lk_query", placeholder="INV-0042")
with c2:
    tenant_ids = widgets.tenant_filter("lk_tenants")
wanted = query.strip()
if wanted:
    rows = data.lookup_jobs(data.url(), wanted, tenant_ids)
    if not rows:
        st.info(f"No job read or wrote {wanted!r}.")
    else:
        st.write(f"{plural(len(rows), 'job')} touched **{wanted}**, newest first.")
        df = pd.DataFrame(rows)
        df["job"] = [f"/jobs?job={j}" for j in df["job_id"]]
        df["link"] = df["link"].fillna("")
        st.dataframe(
            df[["at", "job", "tenant", "job_type", "status", "record", "did", "link"]],
            hide_index=True, key="lookup_table",
            column_config={
                "job": st.column_config.LinkColumn("Job", display_text=r"/jobs\?job=(\d+)"),
                "tenant": st.column_config.TextColumn("Tenant"),
                "job_type": st.column_config.TextColumn("Job type"),
                "status": st.column_config.TextColumn("Status"),
                "record": st.column_config.TextColumn("Record"),
                "did": st.column_config.TextColumn("What the job did"),
                "link": st.column_config.LinkColumn("In the vendor", display_text="open"),
                "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            },
        )  # fmt: skip
        for r in rows[:20]:
            st.page_link("pages/jobs.py", label=f"Job #{r['job_id']} · {r['job_type']} · {r['status']} · {r['did']}",
                         query_params={"job": str(r["job_id"])})  # fmt: skip
