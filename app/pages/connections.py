"""Connections: per tenant, each registered vendor — status, organisation, scopes, expiry, last error;
Connect (OAuth), Test connection, Disconnect (ADMIN); and what depends on each."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app import actions, auth, data, quota_actions, widgets
from app.text import plain
from integrations.forecast import live_forecasts
from integrations.quota_view import connection_quotas, line
from integrations.registry import UnknownVendor, vendor
from integrations.tokens import token_store

WATCH_S = 5

actor = auth.require_actor()
admin = actor.can("ADMIN")
hint = None if admin else "ADMIN role needed"
st.title("Connections")
widgets.keep("cn_tenant")
tenant_id = widgets.tenant_select("cn_tenant")
if tenant_id is None:
    st.stop()
# Live: a connection finished in another tab (OAuth consent) or by a colleague redraws this page. A tiny
# probe (≤ four rows) runs every few seconds; the page's own queries run again only when it changed.
shown: int = tenant_id
probe = (shown, data.connection_states(data.url(), shown))
if st.session_state.get("cn_probe") != probe:
    data.connections.clear()
    st.session_state["cn_probe"] = probe


@st.fragment(run_every=WATCH_S)
def watch() -> None:
    auth.recheck()
    if (shown, data.connection_states(data.url(), shown)) != st.session_state.get("cn_probe"):
        st.rerun()


watch()
if flash := st.session_state.pop("flash", None):
    st.success(flash)
now = dt.datetime.now(dt.UTC)
with data.session() as s:
    forecasts = {f.connection_id: f for f in live_forecasts(s, token_store(data.settings()), tenant_id)}
    quotas = {q.connection_id: q for q in connection_quotas(s, (tenant_id,), now)}
editor = actor.can("EDITOR")
for c in data.connections(data.url(), tenant_id):
    system = c["system"]
    try:
        record = vendor(system)
    except UnknownVendor:  # a connection row of a vendor this build no longer has
        continue
    name = record.display_name
    with st.container(border=True):
        head, status = st.columns([3, 1])
        head.subheader(name)
        status.markdown(f"**{c['status']}**")
        if c["org_name"] or c["external_org_id"]:
            st.caption(plain(f"{c['org_name'] or ''} ({c['external_org_id'] or '—'})"))
        if c["scopes"]:
            st.caption(f"Scopes: {c['scopes']}")
        if c["expires_at"]:
            left = (c["expires_at"] - now).total_seconds()
            st.caption(f"Access token {'expires in ' + widgets.seconds(left) if left > 0 else 'expired'} "
                       "(refreshed automatically while the grant lasts)")  # fmt: skip
        if c["last_error"]:
            st.error(c["last_error"])
        if (hook := c["webhook"]) is not None:
            where = f"on {hook['resource_gid']}" + (f", webhook {hook['webhook_gid']}" if hook["webhook_gid"] else "")
            text = f"Webhook ({where}): {hook['label']}"
            (st.error if hook["state"] == "failed" else st.caption)(text)
        if (f := forecasts.get(c["connection_id"])) is not None:
            refreshed = f"{f.last_refresh_at:%Y-%m-%d %H:%M} UTC" if f.last_refresh_at else "never"
            dies = f"{f.dies_at:%Y-%m-%d %H:%M} UTC" if f.dies_at else "not expected (lives until revoked)"
            warn = f.dies_at is not None and f.dies_at - now <= dt.timedelta(
                days=data.settings().alert_expiry_warn_days
            )
            (st.warning if warn else st.caption)(f"Refresh token dies if unused: {dies}; last refreshed: {refreshed}")
        if (q := quotas.get(c["connection_id"])) is not None and q.usages:
            with st.expander(f"Vendor limits — {line(q.usages, now)}"):
                for u in q.usages:
                    own = q.own.get(u.limit.name)
                    st.caption(f"{u.limit.name}: {u.limit.describe()} ({u.limit.source})"
                               + (f"; this tenant's own: {own:,}" if own is not None else "")
                               + ("" if u.limit.concurrent else f"; spent {u.used:,} / {u.allowed:,}"))  # fmt: skip
                own_limits = [u.limit.name for u in q.usages if not u.limit.app_wide]
                with st.form(f"cn_quota_{system}"):
                    which = st.selectbox("Limit", own_limits, key=f"cn_quota_limit_{system}")
                    # Empty until typed: a click never sets a number nobody chose, and going back to
                    # the vendor's limit is a button of its own.
                    calls = st.number_input("This tenant's own limit", min_value=1, step=1, value=None,
                                            placeholder="a whole number", key=f"cn_quota_calls_{system}")  # fmt: skip
                    help_text = None if editor else "EDITOR role needed"
                    set_col, clear_col = st.columns(2)
                    set_clicked = set_col.form_submit_button("Set limit", disabled=not editor, help=help_text)
                    clear_clicked = clear_col.form_submit_button(
                        "Use the vendor's limit", disabled=not editor, help=help_text
                    )
                    done = None
                    if set_clicked and calls is None:
                        st.error("Type the limit to set; the vendor's limits are listed above.")
                    elif set_clicked and calls is not None:
                        done = widgets.run_action(quota_actions.set_connection_limit, actor, q.connection_id, which,
                                                  int(calls))  # fmt: skip
                    elif clear_clicked:
                        done = widgets.run_action(quota_actions.set_connection_limit, actor, q.connection_id, which,
                                                  None)  # fmt: skip
                    if done is not None:
                        st.session_state["flash"] = done
                        st.rerun()
        uses = ", ".join(c["workflows"] + c["schedules"]) or "no workflow or schedule"
        st.caption(f"Used by (what stops if it dies): {plain(uses)}")
        b1, b2, b3 = st.columns(3)
        # The vendor's connect input, e.g. Shopify's shop domain: a reconnect reuses the stored one.
        needed = record.connect_input
        typed = c["external_org_id"] if needed is not None else None
        if needed is not None and not typed:
            typed = st.text_input(needed.label, key=f"cn_input_{system}", placeholder=needed.placeholder) or None
        if b1.button("Connect" if c["connection_id"] is None or c["status"] == "disconnected" else "Reconnect",
                     key=f"cn_connect_{system}", disabled=not admin, help=hint):  # fmt: skip
            url = widgets.run_action(actions.connect, data.settings(), actor, tenant_id, system, typed)
            if url is not None:
                st.link_button(f"Continue to {name} to approve ↗", url, type="primary")
        live = c["connection_id"] is not None and c["status"] != "disconnected"
        if b2.button("Test connection", key=f"cn_test_{system}", disabled=not (admin and live), help=hint):
            verdict = widgets.run_action(actions.test_connection, data.settings(), actor, tenant_id, system)
            if verdict is not None:
                st.info(verdict)
        if b3.button("Disconnect", key=f"cn_disconnect_{system}", disabled=not (admin and live), help=hint):
            st.session_state["cn_confirm"] = system
        if st.session_state.get("cn_confirm") == system:
            st.warning(f"Disconnect {name}? Workflows using it stop until it is reconnected.")
            if st.button(f"Yes, disconnect {name}", key=f"cn_confirm_{system}", type="primary"):
                st.session_state.pop("cn_confirm")
                if widgets.run_action(actions.disconnect, data.settings(), actor, tenant_id, system) is not None:
                    st.session_state["flash"] = f"{name} disconnected."
                    st.rerun()
