"""POST /webhook/jobs and GET /webhook/jobs/<id>: bearer tokens, roles, 422s naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.auth import create_api_token, create_user
from db.jobs import append_step
from db.models import AuditEntry, PipelineJob, User

SWEEP = {"ticker": "BTC-USD", "fast_range": [5, 20], "slow_range": [30, 60], "step": 5}


@pytest.fixture
def tokens(session: Session) -> dict[str, str]:
    out = {}
    for role in ("ADMIN", "EDITOR", "VIEWER"):
        user = create_user(session, f"{role.lower()}@zixly.test", role, "pw-" + role)
        out[role] = create_api_token(session, user)
    session.commit()
    return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_editor_triggers_a_trading_sweep_and_reads_its_status(
    client: FlaskClient,
    session: Session,
    tenants: dict[str, int],
    tokens: dict[str, str],
    conforms: Callable[[Any], None],
) -> None:
    payload = {"job_type": "trading-sweep", "tenant": "acme", "params": SWEEP, "priority": 5}
    response = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["EDITOR"]))
    assert response.status_code == 202, response.json
    conforms(response)
    [job_id] = response.json["job_ids"]
    job = session.get(PipelineJob, job_id)
    assert job is not None
    assert (job.tenant_id, job.job_type, job.priority, job.created_by) == (
        tenants["acme"],
        "trading-sweep",
        5,
        "editor@zixly.test",
    )
    assert job.params["ticker"] == "BTC-USD"
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "job.enqueue")).one().allowed

    append_step(session, job_id, "started", kind="info")
    session.commit()
    status = client.get(f"/webhook/jobs/{job_id}", headers=_auth(tokens["VIEWER"]))
    assert status.status_code == 200
    conforms(status)
    body = status.json
    assert (body["id"], body["status"], body["attempts"], body["job_type"]) == (job_id, "QUEUED", 0, "trading-sweep")
    assert body["steps"]["total"] == 1
    assert body["steps"]["last"]["message"] == "started"
    assert body["created_at"] and body["error"] is None


def test_tokens_are_required_and_viewers_cannot_trigger(
    client: FlaskClient,
    session: Session,
    tenants: dict[str, int],
    tokens: dict[str, str],
    conforms: Callable[[Any], None],
) -> None:
    payload = {"job_type": "trading-sweep", "tenant": "acme", "params": SWEEP}
    missing = client.post("/webhook/jobs", json=payload)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    conforms(missing)
    assert client.post("/webhook/jobs", json=payload, headers=_auth("zx_not-a-token")).status_code == 401
    viewer = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["VIEWER"]))
    assert viewer.status_code == 403
    conforms(viewer)
    assert client.get("/webhook/jobs/1").status_code == 401
    session.rollback()
    assert session.scalars(select(PipelineJob)).first() is None
    refusal = session.scalars(select(AuditEntry).where(AuditEntry.allowed.is_(False))).one()
    assert refusal.actor == "viewer@zixly.test"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"tenant": "acme", "params": SWEEP}, "job_type"),
        ({"job_type": "no-such-job", "tenant": "acme"}, "job_type"),
        ({"job_type": "trading-sweep", "tenant": "nobody", "params": SWEEP}, "tenant"),
        ({"job_type": "trading-sweep", "tenant": "acme", "params": SWEEP, "extra": 1}, "extra"),
        ({"job_type": "trading-sweep", "tenant": "acme", "params": SWEEP, "priority": "high"}, "priority"),
        ({"job_type": "trading-sweep", "tenant": "acme", "params": {**SWEEP, "ticker": "NOPE"}}, "params.ticker"),
        ({"job_type": "trading-sweep", "tenant": "acme", "params": {**SWEEP, "step": 0}}, "params.step"),
        (
            {"job_type": "trading-sweep", "tenant": "acme", "params": {**SWEEP, "slow_range": [1, 2]}},
            "params.slow_range",
        ),
    ],
)
def test_schema_violations_are_422_naming_the_field(
    client: FlaskClient,
    session: Session,
    tenants: dict[str, int],
    tokens: dict[str, str],
    payload: dict[str, Any],
    field: str,
    conforms: Callable[[Any], None],
) -> None:
    response = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["EDITOR"]))
    assert response.status_code == 422, response.json
    conforms(response)
    assert response.json["errors"][0]["field"] == field
    assert response.json["detail"].startswith(field)
    session.rollback()
    assert session.scalars(select(PipelineJob)).first() is None


def test_bad_json_and_content_type_on_the_job_api(
    client: FlaskClient, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    headers = _auth(tokens["EDITOR"])
    bad = client.post("/webhook/jobs", data=b"{nope", headers=headers | {"Content-Type": "application/json"})
    assert bad.status_code == 400
    form = client.post(
        "/webhook/jobs", data=b"a=1", headers=headers | {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415
    assert client.get("/webhook/jobs/424242", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30000 + b"]" * 30000,  # json.loads itself overflows the stack
        b'{"job_type": "noop", "tenant": "acme", "params": ' + b'{"a":' * 900 + b"1" + b"}" * 900 + b"}",
    ],
    ids=["beyond-the-parser", "within-the-parser"],
)
def test_deeply_nested_json_is_a_400_problem_not_a_500(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str], body: bytes
) -> None:
    headers = _auth(tokens["EDITOR"]) | {"Content-Type": "application/json"}
    response = client.post("/webhook/jobs", data=body, headers=headers)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 400
    assert session.scalars(select(PipelineJob)).first() is None


def test_an_idempotency_key_makes_triggering_repeat_safe(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    payload = {"job_type": "trading-sweep", "tenant": tenants["acme"], "params": SWEEP}
    headers = _auth(tokens["ADMIN"]) | {"Idempotency-Key": "sweep-2026-11-26"}
    first = client.post("/webhook/jobs", json=payload, headers=headers)
    again = client.post("/webhook/jobs", json=payload, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json == {"job_ids": first.json["job_ids"], "duplicate": True}


def test_an_idempotency_key_reused_for_another_request_is_422_naming_what_differs(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    payload = {"job_type": "trading-sweep", "tenant": tenants["acme"], "params": SWEEP}
    key = {"Idempotency-Key": "nightly-sweep"}
    first = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["ADMIN"]) | key)
    assert first.status_code == 202
    other_params = payload | {"params": SWEEP | {"step": 10}}
    other_type = {"job_type": "noop", "tenant": tenants["acme"], "params": {}}
    cases = [
        (other_params, "ADMIN", ["params"]),
        (other_type, "ADMIN", ["job_type", "params"]),
        (payload, "EDITOR", ["Authorization"]),
    ]
    for body, role, fields in cases:
        response = client.post("/webhook/jobs", json=body, headers=_auth(tokens[role]) | key)
        assert response.status_code == 422, response.json
        assert [e["field"] for e in response.json["errors"]] == fields
        assert f"job {first.json['job_ids'][0]}" in response.json["detail"]
    assert len(session.scalars(select(PipelineJob)).all()) == 1
    # The original request still returns its job.
    again = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["ADMIN"]) | key)
    assert (again.status_code, again.json["job_ids"]) == (200, first.json["job_ids"])


def test_a_callers_key_never_meets_the_keys_zixly_makes(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    """A schedule claims each fire with the key ``schedule:<id>:<fire time>``: a token that sent
    that key first made the schedule take its job for the fire, and the sync never ran."""
    import datetime as dt

    from db.models import Schedule
    from db.schedules import fire_due

    fire = dt.datetime(2026, 12, 7, 8, 45, tzinfo=dt.UTC)
    schedule = Schedule(tenant_id=tenants["acme"], job_type="noop", cron="*/15 * * * *", timezone="UTC", params={})
    schedule.next_run_at = fire
    session.add(schedule)
    session.commit()
    key = {"Idempotency-Key": f"schedule:{schedule.id}:{fire.isoformat()}"}
    payload = {"job_type": "noop", "tenant": tenants["acme"], "params": {}}
    planted = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["EDITOR"]) | key)
    assert planted.status_code == 202
    [(_, fired)] = fire_due(session, now=fire)
    session.commit()
    assert fired != planted.json["job_ids"][0]
    job = session.get(PipelineJob, fired)
    assert job is not None and job.created_by == f"schedule:{schedule.id}"
    again = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["EDITOR"]) | key)
    assert (again.status_code, again.json["job_ids"]) == (200, planted.json["job_ids"])  # still the caller's own


def test_a_key_longer_than_251_characters_is_422(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    payload = {"job_type": "noop", "tenant": tenants["acme"], "params": {}}
    longest = client.post(
        "/webhook/jobs", json=payload, headers=_auth(tokens["EDITOR"]) | {"Idempotency-Key": "k" * 251}
    )
    assert longest.status_code == 202
    over = client.post("/webhook/jobs", json=payload, headers=_auth(tokens["EDITOR"]) | {"Idempotency-Key": "k" * 252})
    assert over.status_code == 422 and over.json["errors"] == [
        {"field": "Idempotency-Key", "message": "at most 251 characters"}
    ]


def test_out_of_range_ids_and_unstorable_text_are_4xx_not_5xx(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    headers = _auth(tokens["EDITOR"])
    assert client.get("/webhook/jobs/256920262445909016576", headers=headers).status_code == 404
    assert client.post("/webhook/asana/13257222588", json={"events": []}).status_code == 404
    huge = client.post("/webhook/jobs", json={"job_type": "noop", "tenant": 2**70}, headers=headers)
    assert (huge.status_code, huge.json["errors"][0]["field"]) == (422, "tenant")
    nul = client.post("/webhook/jobs", json={"job_type": "noop", "tenant": "ac\u0000me"}, headers=headers)
    assert (nul.status_code, nul.json["errors"][0]["field"]) == (422, "tenant")
    payload = b'{"job_type": "noop", "tenant": "acme", "params": {"note": "\\ud800"}}'
    bad = client.post("/webhook/jobs", data=payload, headers=headers | {"Content-Type": "application/json"})
    assert (bad.status_code, bad.json["errors"][0]["field"]) == (422, "params.note")


def test_a_tenant_scoped_token_reads_and_enqueues_only_its_tenants_jobs(
    client: FlaskClient, session: Session, tenants: dict[str, int], tokens: dict[str, str]
) -> None:
    owner = session.scalars(select(User).where(User.email == "editor@zixly.test")).one()
    acme_only = create_api_token(session, owner, name="acme integration", tenant_id=tenants["acme"])
    session.commit()
    staff = _auth(tokens["ADMIN"])
    theirs = client.post("/webhook/jobs", json={"job_type": "noop", "tenant": tenants["globex"]}, headers=staff)
    assert theirs.status_code == 202

    mine = client.post("/webhook/jobs", json={"job_type": "noop", "tenant": "acme"}, headers=_auth(acme_only))
    assert mine.status_code == 202
    assert client.get(f"/webhook/jobs/{mine.json['job_ids'][0]}", headers=_auth(acme_only)).status_code == 200
    # Another tenant's jobs are as if they did not exist: not readable, not enqueueable.
    other_id = theirs.json["job_ids"][0]
    hidden = client.get(f"/webhook/jobs/{other_id}", headers=_auth(acme_only))
    assert (hidden.status_code, hidden.json["detail"]) == (404, f"no job {other_id}")
    refused = client.post("/webhook/jobs", json={"job_type": "noop", "tenant": "globex"}, headers=_auth(acme_only))
    assert (refused.status_code, refused.json["errors"][0]["field"]) == (422, "tenant")
    assert len(session.scalars(select(PipelineJob)).all()) == 2
    # Staff tokens still see every tenant.
    assert client.get(f"/webhook/jobs/{other_id}", headers=staff).status_code == 200
