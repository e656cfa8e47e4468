"""The Admin page's Alerts tab: channels (Slack, email, signed webhook), global or per tenant, with
the events each wants; enable, disable, delete and "Send test" (ADMIN; every change audited)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import alert_actions, data, widgets
from db.alerts import channels
from db.auth import Actor
from db.models import ALERT_CHANNEL_KINDS, ALERT_EVENTS

KIND_LABELS = {"slack": "Slack (incoming webhook)", "email": "Email (SMTP)", "webhook": "Webhook (Standard Webhooks)"}


def render(actor: Actor) -> None:
    if new_secret := st.session_state.pop("al_new_secret", None):
        st.warning("Copy the signing secret now: it is shown once (it is stored encrypted).")
        st.code(new_secret, language=None)
    with data.session() as s:
        rows = channels.list_channels(s)
    if rows:
        st.dataframe(pd.DataFrame(rows).drop(columns=["tenant_id"]), hide_index=True, key="al_channels_table")
    else:
        st.caption("No alert channels yet: add one below.")
    names = widgets.tenant_names()
    with st.form("al_new_channel"):
        st.markdown("**New alert channel**")
        name = st.text_input("Name", key="al_name", placeholder="Ops Slack")
        kind = st.selectbox("Kind", ALERT_CHANNEL_KINDS, format_func=KIND_LABELS.__getitem__, key="al_kind")
        tenant = st.selectbox("Scope", [None, *names], key="al_tenant",
                              format_func=lambda i: "every tenant" if i is None else f"only {names[i]}")  # fmt: skip
        events = st.multiselect("Events", ALERT_EVENTS, default=list(ALERT_EVENTS), key="al_events",
                                help="Each event's resolved message goes to the same channels")  # fmt: skip
        url = st.text_input("URL (Slack or webhook)", key="al_url", placeholder="https://hooks.slack.com/services/…")
        to = st.text_input("Email addresses (comma-separated)", key="al_to")
        secret = st.text_input("Webhook signing secret (whsec_…; empty: generate one)", key="al_secret",
                               type="password")  # fmt: skip
        if st.form_submit_button("Add channel"):
            made = widgets.run_action(
                alert_actions.create_channel, data.settings(), actor, name=name, kind=kind, events=events,
                tenant_id=tenant, url=url, to=to, secret=secret,
            )  # fmt: skip
            if made is not None:
                if kind == "webhook" and not secret.strip():
                    st.session_state["al_new_secret"] = made[1]
                st.session_state["flash"] = f"Alert channel {name.strip()} added."
                st.rerun()
    if not rows:
        return
    by_id = {r["id"]: r for r in rows}
    label = {i: f"{r['name']} ({r['kind']}, {r['scope']})" for i, r in by_id.items()}
    pick = st.selectbox("Channel", list(by_id), key="al_pick", format_func=label.__getitem__)
    chosen = by_id[pick]
    b1, b2, b3 = st.columns(3)
    if b1.button("Send test", key="al_test"):
        delivery = widgets.run_action(alert_actions.send_test, actor, pick)
        if delivery is not None:
            st.session_state["flash"] = (
                f"Test message #{delivery} queued: a runner sends it within seconds (see Alerts → Deliveries)."
            )
            st.rerun()
    if b2.button("Disable" if chosen["enabled"] else "Enable", key="al_toggle") and (
        widgets.run_action(alert_actions.set_channel_enabled, actor, pick, not chosen["enabled"]) is not None
    ):
        st.rerun()
    if b3.button("Delete", key="al_delete") and (
        widgets.run_action(alert_actions.delete_channel, actor, pick) is not None
    ):
        st.session_state["flash"] = f"Alert channel {chosen['name']} deleted."
        st.rerun()
