"""The dashboard's logging: :mod:`logconfig`'s one JSON handler, set up once per server process.

``streamlit run`` executes ``app/main.py`` on every rerun of every session, so the setup is a
cached resource: it runs with the first session. Streamlit's own loggers come with their own
plain-text handlers; they are routed through ours so every line is JSON and redacted.
"""

from __future__ import annotations

import logging

import streamlit as st

from logconfig import configure_logging, route_to_root
from settings import load_settings

log = logging.getLogger("zixly.dashboard")


@st.cache_resource(show_spinner=False)
def configure_dashboard_logging() -> bool:
    settings = load_settings()
    configure_logging(settings, "dashboard")
    route_to_root("streamlit", "uvicorn", "websockets")
    log.info("dashboard logging configured")
    return True
