"""Webhooks: recent deliveries with signature and dedup verdicts, their jobs, and replay (EDITOR)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import actions, auth, data, widgets
from app.text import NOTHING, readable, vendor_name, when
from integrations import registry

actor = auth.require_actor()
st.title("Webhooks")
widgets.keep("wh_tenants", "wh_source")
c1, c2 = st.columns([2, 1])
with c1:
    tenant_ids = widgets.tenant_filter("wh_tenants")
source = c2.selectbox("Source", ["all", *registry.systems()], key="wh_source",
                      format_func=lambda s: "All sources" if s == "all" else vendor_name(s))  # fmt: skip
rows = data.deliveries(data.url(), tenant_ids, None if source == "all" else source, None)
if flash := st.session_state.pop("flash", None):
    st.success(flash)
if not rows:
    st.info("No deliveries yet.")
    st.stop()
df = pd.DataFrame(rows)
df["signature"] = ["valid" if ok else "INVALID" for ok in df["signature_ok"]]  # words: no glyph to go missing
df["jobs"] = [", ".join(f"#{j}" for j in ids or []) or NOTHING for ids in df["job_ids"]]
df["source"] = [vendor_name(s) for s in df["source"]]
df["received_at"] = [when(v, fmt="%Y-%m-%d %H:%M:%S") for v in df["received_at"]]
st.dataframe(
    readable(df[["id", "received_at", "source", "event_type", "tenant", "signature", "outcome", "delivery_id",
                 "jobs"]]),
    hide_index=True, key="deliveries_table",
    column_config={"received_at": st.column_config.TextColumn("Received (UTC)")},
)  # fmt: skip
st.subheader("A delivery")
by_id = {r["id"]: r for r in rows}


def _label(i: int) -> str:
    r = by_id[i]
    return f"#{i} {vendor_name(r['source'])} {r['event_type'] or ''} · {r['outcome']}"


pick = st.selectbox("Delivery", list(by_id), key="wh_pick", format_func=_label)
chosen = by_id[pick]
for job_id in chosen["job_ids"] or []:
    st.page_link("pages/jobs.py", label=f"Job #{job_id}", query_params={"job": str(job_id)})
st.caption("Replay runs this delivery's jobs again on today's workflow code, as reruns linked to the originals.")
if st.button("Replay", disabled=not actor.can("EDITOR") or not chosen["job_ids"], key="wh_replay"):
    ids = widgets.run_action(actions.replay_delivery, actor, pick)
    if ids is not None:
        st.session_state["flash"] = f"Replayed delivery #{pick} as jobs " + ", ".join(f"#{i}" for i in ids) + "."
        st.rerun()
