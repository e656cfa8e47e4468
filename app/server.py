"""The dashboard's server: ``streamlit run app/server.py`` serves app/main.py (Streamlit's own
Starlette server) plus the login page and the gate that keeps a login across reloads, tabs and
shared links (``app/login_routes.py``). ``streamlit run app/main.py`` still works, without them:
every page load then asks for a login."""

import sys
from pathlib import Path

# `streamlit run` puts only app/ on sys.path; the project root holds db/, settings.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager
from streamlit.starlette import App

from app.login_routes import ROUTES, LoginGate

# app/pages/ sits beside main.py, so until some session has called st.navigation Streamlit takes this
# for an old-style multipage app and runs the page a deep link names (e.g. /jobs) instead of main.py:
# the first visitor after a start would get the page without the router (no sidebar, no log out).
# The router always calls st.navigation, which clears this same flag; clear it before the first session.
PagesManager.uses_pages_directory = False

app = App("main.py", routes=ROUTES, middleware=[Middleware(LoginGate)])
