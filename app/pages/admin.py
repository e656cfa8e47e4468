"""Admin (ADMIN): tenants, users and roles, API tokens (shown once), per-tenant workflow settings, login lockouts,
alert channels."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import actions, alerts_admin, auth, data, widgets
from app.text import readable
from db import login_throttle
from db.models import ROLES

actor = auth.require_actor()
auth.require_page_role(actor, "ADMIN")
st.title("Admin")
if flash := st.session_state.pop("flash", None):
    st.success(flash)
tenants_tab, users_tab, tokens_tab, workflows_tab, lockouts_tab, alerts_tab = st.tabs(
    ["Tenants", "Users", "API tokens", "Workflow settings", "Login lockouts", "Alerts"]
)

with tenants_tab:
    tenants = data.tenants(data.url())
    if tenants:
        st.dataframe(readable(pd.DataFrame(tenants)), hide_index=True, key="ad_tenants_table")
    with st.form("ad_new_tenant"):
        st.markdown("**New tenant**")
        name = st.text_input("Name", key="ad_tenant_name")
        zone = st.text_input("Timezone", "UTC", key="ad_tenant_tz", help="IANA name, e.g. Australia/Sydney")
        if st.form_submit_button("Create tenant"):
            tid = widgets.run_action(actions.create_tenant, actor, name, zone.strip())
            if tid is not None:
                st.session_state["flash"] = f"Tenant #{tid} {name.strip()} created."
                st.rerun()
    if tenants:
        st.markdown("**Edit a tenant**")
        by_id = {t["id"]: t for t in tenants}
        tid = st.selectbox("Tenant", list(by_id), format_func=lambda i: by_id[i]["name"], key="ad_tenant_pick")
        t = by_id[tid]
        zone = st.text_input("Timezone", t["timezone"], key=f"ad_tz_{tid}")
        active = st.toggle("Active", t["active"], key=f"ad_active_{tid}")
        if st.button("Save tenant", key="ad_tenant_save") and (
            widgets.run_action(actions.update_tenant, actor, tid, timezone=zone.strip(), active=active) is not None
        ):
            st.session_state["flash"] = f"Tenant {t['name']} saved."
            st.rerun()

with users_tab:
    users = data.users(data.url())
    st.dataframe(readable(pd.DataFrame(users)), hide_index=True, key="ad_users_table")
    with st.form("ad_new_user"):
        st.markdown("**New user**")
        email = st.text_input("Email", key="ad_user_email")
        role = st.selectbox("Role", ROLES, index=2, key="ad_user_role")
        password = st.text_input("Initial password (12+ characters)", type="password", key="ad_user_pw")
        if st.form_submit_button("Create user"):
            uid = widgets.run_action(actions.add_user, actor, email, role, password)
            if uid is not None:
                st.session_state["flash"] = f"User {email.strip().lower()} created as {role}."
                st.rerun()
    if users:
        st.markdown("**Change a user's role or access**")
        by_uid = {u["id"]: u for u in users}
        uid = st.selectbox("User", list(by_uid), format_func=lambda i: by_uid[i]["email"], key="ad_user_pick")
        u = by_uid[uid]
        new_role = st.selectbox("Role", ROLES, index=ROLES.index(u["role"]), key=f"ad_role_{uid}")
        is_active = st.toggle("Active", u["active"], key=f"ad_uactive_{uid}")
        if st.button("Save user", key="ad_user_save") and (
            widgets.run_action(actions.update_user, actor, uid, role=new_role, active=is_active) is not None
        ):
            st.session_state["flash"] = f"{u['email']} is now {new_role}{'' if is_active else ' (inactive)'}."
            st.rerun()

with tokens_tab:
    if new_token := st.session_state.pop("new_token", None):
        st.warning("Copy this token now: it is shown once and never stored.")
        st.code(new_token, language=None)
    tokens = data.api_tokens(data.url())
    if tokens:
        st.dataframe(readable(pd.DataFrame(tokens)), hide_index=True, key="ad_tokens_table")
    users = data.users(data.url())
    by_uid = {u["id"]: u for u in users}
    with st.form("ad_new_token"):
        st.markdown("**New API token**")
        owner = st.selectbox("Owner", list(by_uid), format_func=lambda i: by_uid[i]["email"], key="ad_token_owner")
        token_name = st.text_input("Name", "api", key="ad_token_name")
        token_role = st.selectbox("Role (at most the owner's)", ROLES, index=2, key="ad_token_role")
        tenant_names = {t["id"]: t["name"] for t in data.tenants(data.url())}
        token_tenant = st.selectbox(
            "Tenant", [None, *tenant_names], key="ad_token_tenant",
            format_func=lambda i: "every tenant (staff)" if i is None else f"only {tenant_names[i]}",
            help="A token limited to one tenant reads and enqueues only that tenant's jobs",
        )  # fmt: skip
        if st.form_submit_button("Create token"):
            token = widgets.run_action(
                actions.create_token, actor, owner, token_name.strip() or "api", token_role, token_tenant
            )
            if token is not None:
                st.session_state["new_token"] = token
                st.rerun()
    live = [t for t in tokens if t["revoked_at"] is None]
    if live:
        tok = st.selectbox("Revoke a token", [t["id"] for t in live], key="ad_token_pick",
                           format_func=lambda i: next(f"{t['prefix']}… {t['name']} ({t['owner']})" for t in live
                                                      if t["id"] == i))  # fmt: skip
        if st.button("Revoke", key="ad_token_revoke") and (
            widgets.run_action(actions.revoke_token, actor, tok) is not None
        ):
            st.session_state["flash"] = "Token revoked."
            st.rerun()

with workflows_tab:
    wf_tenant = widgets.tenant_select("ad_wf_tenant")
    if wf_tenant is not None:
        rows = data.workflow_settings(data.url(), wf_tenant)
        if rows:
            st.dataframe(readable(pd.DataFrame(rows)), hide_index=True, key="ad_wf_table")
        current = {r["workflow"]: r for r in rows}
        workflow = st.selectbox("Workflow", sorted(set(data.job_types(data.url())) | set(current)),
                                key="ad_wf_pick", accept_new_options=True)  # fmt: skip
        if workflow:
            row = current.get(workflow, {"enabled": True, "options": {}})
            enabled = st.toggle("Enabled for this tenant", row["enabled"], key=f"ad_wf_on_{wf_tenant}_{workflow}")
            options = st.text_area("Options (JSON)", json.dumps(row["options"] or {}, indent=2),
                                   key=f"ad_wf_opts_{wf_tenant}_{workflow}")  # fmt: skip
            if st.button("Save workflow setting", key="ad_wf_save"):
                try:
                    parsed = actions.parse_params(options)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    done = widgets.run_action(actions.save_workflow_setting, actor, wf_tenant, workflow,
                                              enabled=enabled, options=parsed)  # fmt: skip
                    if done is not None:
                        st.session_state["flash"] = f"{workflow} saved."
                        st.rerun()

with lockouts_tab:
    with data.session() as s:
        locked = login_throttle.lockouts(s)
    if not locked:
        st.caption("No account or address is locked out.")
    else:
        st.dataframe(readable(pd.DataFrame(locked)), hide_index=True, key="ad_lockouts_table")
        key = st.selectbox("Unlock", [r["key"] for r in locked], key="ad_lockout_pick")
        if st.button("Unlock", key="ad_lockout_unlock") and widgets.run_action(actions.unlock_login, actor, key):
            st.session_state["flash"] = f"{key} unlocked."
            st.rerun()

with alerts_tab:
    alerts_admin.render(actor)
