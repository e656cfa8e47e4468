"""The dashboard's router: ``streamlit run app/main.py``. Builds the pages the logged-in
role may open and runs the chosen one; everything else lives in the pages and modules."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only app/ on sys.path; the project root holds db/, integrations/, settings.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

from app import auth, widgets
from app.logging_setup import configure_dashboard_logging

st.set_page_config(page_title="Zixly", page_icon="⚙", layout="wide")
configure_dashboard_logging()

actor = auth.current_actor()
if actor is None:
    page = st.navigation([st.Page(auth.login_page, title="Log in", url_path="login")], position="hidden")
else:
    sections = {
        "Watch": [
            st.Page("pages/overview.py", title="Overview", default=True),
            st.Page("pages/clients.py", title="Clients"),
            st.Page("pages/jobs.py", title="Jobs"),
            st.Page("pages/lookup.py", title="Record lookup"),
            st.Page("pages/alerts.py", title="Alerts"),
        ],
        "Steer": [
            st.Page("pages/approvals.py", title="Awaiting approval"),
            st.Page("pages/sweeps.py", title="Trading sweeps"),
            st.Page("pages/schedules.py", title="Schedules"),
            st.Page("pages/webhooks.py", title="Webhooks"),
            st.Page("pages/connections.py", title="Connections"),
        ],
    }
    if actor.can("ADMIN"):
        sections["Admin"] = [
            st.Page("pages/admin.py", title="Admin"),
            st.Page("pages/audit.py", title="Audit log"),
        ]
    page = st.navigation(sections)
    widgets.sidebar_user(actor)
page.run()
