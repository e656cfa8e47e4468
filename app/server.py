"""The dashboard's server: ``streamlit run app/server.py`` serves app/main.py (Streamlit's own
Starlette server) plus the login page and the gate that keeps a login across reloads, tabs and
shared links (``app/login_routes.py``). ``streamlit run app/main.py`` still works, without them:
every page load then asks for a login."""

import sys
from pathlib import Path

# `streamlit run` puts only app/ on sys.path; the project root holds db/, settings.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.middleware import Middleware
from streamlit.starlette import App

from app.login_routes import ROUTES, LoginGate

app = App("main.py", routes=ROUTES, middleware=[Middleware(LoginGate)])
