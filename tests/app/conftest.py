"""AppTest fixtures: the dashboard against a seeded SQLite database, logged in by role."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from dashboard_seed import Seeded, seed
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from db.auth import Actor
from db.engine import make_engine, make_session_factory

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")  # AppTest resolves against this file


@pytest.fixture
def app_db(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Seeded]]:
    path = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        seeded = seed(s)
    engine.dispose()
    for name, value in {
        "ZIXLY_ENV": "test", "ZIXLY_DATABASE_URL": url, "ZIXLY_VAR_DIR": str(tmp_path / "var"),
        "ZIXLY_BLOB_URL": str(tmp_path / "blobs"),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url, seeded
    st.cache_resource.clear()


@pytest.fixture
def db_session(app_db: tuple[str, Seeded]) -> Iterator[Session]:
    engine = make_engine(app_db[0])
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


@pytest.fixture
def seeded(app_db: tuple[str, Seeded]) -> Seeded:
    return app_db[1]


USERS = {"ADMIN": (1, "admin@example.com"), "EDITOR": (2, "editor@example.com"), "VIEWER": (3, "viewer@example.com")}


def actor(role: str) -> Actor:
    user_id, email = USERS[role]
    return Actor(email=email, role=role, user_id=user_id)


@pytest.fixture
def app(app_db: tuple[str, Seeded]) -> Callable[..., AppTest]:
    """``app(role, page=None)``: an AppTest logged in as ``role`` showing ``page`` (e.g. "pages/jobs.py")."""

    def make(role: str | None = "ADMIN", page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
        at = AppTest.from_file(MAIN, default_timeout=30)
        if role is not None:
            at.session_state["actor"] = actor(role)
        if query:
            at.query_params.update(query)
        at.run()
        if page is not None:
            at.switch_page(page).run()
        return at

    return make
