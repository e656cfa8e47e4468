"""Who may do what: the role matrix of every dashboard action and of the job API, security
headers on every listener answer, the tenant rate limit, and the dashboard's idle timeout.
"""

from __future__ import annotations

import datetime as dt
import inspect
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveListener, count, live_listener_at
from dashboard_seed import Seeded, seed
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import actions, bulk_actions
from db import jobs
from db.auth import Actor, Forbidden, create_api_token
from db.blobs import LocalBlobStore
from db.engine import make_engine, make_session_factory
from db.filters import JobFilter
from db.models import ApiToken, AuditEntry, PipelineJob, User
from settings import Settings
from webhook import SECURITY_HEADERS

pytestmark = pytest.mark.reliability

ROLES = ("VIEWER", "EDITOR", "ADMIN")
RANK = {r: i for i, r in enumerate(ROLES)}
Call = Callable[[Session, Actor, Seeded, dict[str, Any]], Any]


# action name -> (the audited action, the least role, the call, whether it talks to a vendor)
def _decide(session: Session, actor: Actor, job_id: int) -> None:
    """Approve a queued job's write: open an approval on it first, as a waiting workflow would."""
    job = session.get(PipelineJob, job_id)
    assert job is not None
    tenant_id = job.tenant_id
    seq = len(jobs.waits.waits_of(session, job_id)) + 1
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    jobs.waits.open_wait(session, job_id=job_id, tenant_id=tenant_id, seq=seq, reason="approval", deadline=deadline)
    actions.decide_approval(session, actor, job_id, approved=True, comment="ok")


MATRIX: dict[str, tuple[str, str, Call, bool]] = {
    "decide_approval": ("job.approve", "EDITOR", lambda s, a, d, x: _decide(s, a, x["queued"]), False),
    "rerun": ("job.rerun", "EDITOR", lambda s, a, d, x: actions.rerun(s, a, d.invoice_job), False),
    "cancel": ("job.cancel", "EDITOR", lambda s, a, d, x: actions.cancel(s, a, x["queued"]), False),
    "bulk_rerun": ("job.bulk_rerun", "EDITOR", lambda s, a, d, x: bulk_actions.bulk_rerun(
        s, a, JobFilter(), confirmed_count=bulk_actions.plan_rerun(s, JobFilter()).count), False),
    "bulk_cancel": ("job.bulk_cancel", "EDITOR", lambda s, a, d, x: bulk_actions.bulk_cancel(
        s, a, JobFilter(), confirmed_count=bulk_actions.cancel_count(s, JobFilter())), False),
    "export_jobs": ("jobs.export", "EDITOR", lambda s, a, d, x: b"".join(actions.export_jobs(s, a, JobFilter())),
                    False),
    "export_jobs_to_blob": ("jobs.export", "EDITOR", lambda s, a, d, x: actions.export_jobs_to_blob(
        s, a, x["store"], JobFilter(), "jobs.csv"), False),
    "export_related_records": ("records.export", "EDITOR",
                               lambda s, a, d, x: actions.export_related_records(s, a, d.invoice_job), False),
    "replay_delivery": ("delivery.replay", "EDITOR", lambda s, a, d, x: actions.replay_delivery(s, a, d.delivery_id),
                        False),
    "create_schedule": ("schedule.create", "EDITOR", lambda s, a, d, x: actions.create_schedule(
        s, a, tenant_id=d.acme, job_type="noop", cron="0 * * * *", timezone="UTC", params={}), False),
    "update_schedule": ("schedule.update", "EDITOR",
                        lambda s, a, d, x: actions.update_schedule(s, a, d.schedule_id, enabled=False), False),
    "run_schedule_now": ("schedule.run_now", "EDITOR", lambda s, a, d, x: actions.run_schedule_now(s, a, d.schedule_id),
                         False),
    "create_tenant": ("tenant.create", "ADMIN", lambda s, a, d, x: actions.create_tenant(s, a, "Evil Co", "UTC"),
                      False),
    "update_tenant": ("tenant.update", "ADMIN", lambda s, a, d, x: actions.update_tenant(s, a, d.bolt, active=False),
                      False),
    "add_user": ("user.create", "ADMIN", lambda s, a, d, x: actions.add_user(
        s, a, "new@example.com", "ADMIN", "a long enough password"), False),
    "update_user": ("user.update", "ADMIN", lambda s, a, d, x: actions.update_user(s, a, x["viewer_id"], role="EDITOR"),
                    False),
    "create_token": ("token.create", "ADMIN", lambda s, a, d, x: actions.create_token(s, a, x["viewer_id"], "t"),
                     False),
    "revoke_token": ("token.revoke", "ADMIN", lambda s, a, d, x: actions.revoke_token(s, a, x["token_id"]), False),
    "save_workflow_setting": ("workflow.update", "ADMIN", lambda s, a, d, x: actions.save_workflow_setting(
        s, a, d.acme, "xero-invoice-paid", enabled=False, options={}), False),
    "connect": ("connection.connect", "ADMIN", lambda s, a, d, x: actions.connect(
        s, x["settings"], a, d.bolt, "hubspot"), False),
    "disconnect": ("connection.disconnect", "ADMIN", lambda s, a, d, x: actions.disconnect(
        s, x["settings"], a, d.acme, "xero"), True),
    "test_connection": ("connection.test", "ADMIN", lambda s, a, d, x: actions.test_connection(
        s, x["settings"], a, d.acme, "xero"), True),
}  # fmt: skip


def test_the_matrix_covers_every_role_checked_action() -> None:
    checked = {
        name for module in (actions, bulk_actions) for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__ and "require_role(" in inspect.getsource(fn)
    }  # fmt: skip
    assert checked == set(MATRIX)


@pytest.fixture
def seeded_db(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Session, Seeded, dict[str, Any]]]:
    path = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with make_session_factory(engine)() as session:
        seeded = seed(session)
        viewer = session.scalar(select(User).where(User.role == "VIEWER"))
        assert viewer is not None
        create_api_token(session, viewer, name="to-revoke")
        session.commit()
        extra = {
            "queued": session.scalar(select(PipelineJob.id).where(PipelineJob.status == "QUEUED")),
            "viewer_id": viewer.id,
            "token_id": session.scalar(select(ApiToken.id)),
            "store": LocalBlobStore(tmp_path / "blobs"),
            "settings": Settings(env="test", database_url=f"sqlite:///{path}", var_dir=tmp_path / "var",
                                 sandbox_port=1, _env_file=None),  # type: ignore[call-arg]
            "users": {u.role: u.id for u in session.scalars(select(User))},
        }  # fmt: skip
        yield session, seeded, extra
    engine.dispose()


@pytest.mark.parametrize("role", ROLES)
def test_every_action_allows_exactly_the_roles_it_should_and_audits_refusals(
    seeded_db: tuple[Session, Seeded, dict[str, Any]], role: str
) -> None:
    session, seeded, extra = seeded_db
    actor = Actor(email=f"{role.lower()}@example.com", role=role, user_id=extra["users"][role])
    tally = count("role_matrix")
    for name, (audited, minimum, call, talks_to_vendor) in MATRIX.items():
        allowed = RANK[role] >= RANK[minimum]
        last_id = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
        tally["cells"] += 1
        if not allowed:
            with pytest.raises(Forbidden):
                call(session, actor, seeded, extra)
            session.rollback()
            new = list(session.scalars(select(AuditEntry).where(AuditEntry.id > last_id)))
            assert [(e.action, e.allowed, e.actor) for e in new] == [(audited, False, actor.email)], name
            tally["refused_and_audited"] += 1
            continue
        try:
            call(session, actor, seeded, extra)
        except Forbidden:
            tally["wrongly_refused"] += 1
            raise
        except (OSError, RuntimeError, ValueError, NotImplementedError, httpx.HTTPError) as exc:
            # Only the two actions that call the vendor may fail here (no sandbox runs): past the role check.
            assert talks_to_vendor, f"{role} {name}: {type(exc).__name__}: {exc}"
            session.rollback()
            tally["allowed_reached_vendor"] += 1
        else:
            tally["allowed_succeeded"] += 1
        new = list(session.scalars(select(AuditEntry).where(AuditEntry.id > last_id)))
        assert not any(e.allowed is False for e in new), name
        if not talks_to_vendor:
            assert any(e.action == audited and e.allowed for e in new), name
    assert tally["wrongly_refused"] == 0


# -- the listener -----------------------------------------------------------------------------------


def test_the_job_api_refuses_a_viewer_and_accepts_an_editor(live_listener: LiveListener) -> None:
    body = {"job_type": "noop", "tenant": live_listener.tenant_id}
    for role, expected in (("VIEWER", 403), ("EDITOR", 202), ("ADMIN", 202)):
        headers = {"Authorization": f"Bearer {live_listener.tokens[role]}"}
        response = httpx.post(live_listener.base + "/webhook/jobs", json=body, headers=headers, timeout=30)
        assert response.status_code == expected, (role, response.text)
    response = httpx.post(live_listener.base + "/webhook/jobs", json=body, timeout=30)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    engine = make_engine(live_listener.db_url)
    with engine.connect() as conn:
        refused = conn.execute(select(AuditEntry.actor).where(AuditEntry.allowed.is_(False))).scalars().all()
    engine.dispose()
    assert refused == ["viewer@rel.test"]


def test_every_listener_answer_carries_the_security_headers(live_listener: LiveListener) -> None:
    base, tally = live_listener.base, count("security_headers")
    editor = {"Authorization": f"Bearer {live_listener.tokens['EDITOR']}"}
    requests_ = [
        ("GET", "/health", {}, None), ("GET", "/metrics", {}, None), ("GET", "/openapi.json", {}, None),
        ("GET", "/nowhere", {}, None), ("DELETE", "/health", {}, None), ("GET", "/webhook/jobs/1", editor, None),
        ("GET", "/webhook/jobs/999999", editor, None), ("GET", "/webhook/jobs/1", {}, None),
        ("POST", "/webhook/jobs", editor, b"not json"), ("POST", "/webhook/jobs", editor, b"x" * 70000),
        ("POST", "/webhook/xero", {"Content-Type": "application/json"}, b"{}"),
        ("POST", "/webhook/shopify", {"Content-Type": "text/plain"}, b"{}"),
        ("POST", "/webhook/asana/999", {}, b"{}"), ("GET", "/oauth/xero/callback?state=x&code=y", {}, None),
        ("GET", "/oauth/nope/callback", {}, None),
    ]  # fmt: skip
    missing = []
    for method, path, headers, body in requests_:
        response = httpx.request(method, base + path, headers=headers, content=body, timeout=30)
        tally["responses"] += 1
        absent = [h for h, v in SECURITY_HEADERS.items() if response.headers.get(h) != v]
        if absent:
            missing.append((method, path, response.status_code, absent))
    tally["missing"] += len(missing)
    assert missing == []
    assert tally["responses"] >= len(requests_)


def test_the_rate_limit_answers_429_with_retry_after(pg_url: str, tmp_path: Path) -> None:
    with live_listener_at(pg_url, tmp_path, ZIXLY_WEBHOOK_RATE_LIMIT_PER_MINUTE="3") as listener:
        headers = {"Authorization": f"Bearer {listener.tokens['EDITOR']}"}
        statuses, last = [], None
        for i in range(6):
            last = httpx.post(listener.base + "/webhook/jobs", json={"job_type": "noop", "tenant": listener.tenant_id},
                              headers=headers | {"Idempotency-Key": f"k{i}"}, timeout=30)  # fmt: skip
            statuses.append(last.status_code)
        assert statuses == [202, 202, 202, 429, 429, 429]
        assert last is not None and last.headers["content-type"] == "application/problem+json"
        assert 1 <= int(last.headers["Retry-After"]) <= 60
        assert listener.rows("pipeline_jobs") == 3


# -- the dashboard's idle timeout ---------------------------------------------------------------------


def test_an_idle_dashboard_session_is_logged_out(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    path = tmp_path / "zixly.db"
    shutil.copy(sqlite_template, path)
    for name, value in {"ZIXLY_ENV": "test", "ZIXLY_DATABASE_URL": f"sqlite:///{path}",
                        "ZIXLY_VAR_DIR": str(tmp_path / "var"), "ZIXLY_SESSION_TIMEOUT_MIN": "30"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    main = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
    outcomes = {}
    for idle_min in (29, 31):
        at = AppTest.from_file(main, default_timeout=30)
        at.session_state["actor"] = Actor(email="admin@example.com", role="ADMIN", user_id=1)
        at.session_state["last_seen"] = time.time() - idle_min * 60
        at.run()
        outcomes[idle_min] = ("actor" in at.session_state, [i.value for i in at.info])
    st.cache_resource.clear()
    assert outcomes[29][0] is True
    assert outcomes[31][0] is False
    assert any("timed out" in str(v) for v in outcomes[31][1])
