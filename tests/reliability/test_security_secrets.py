"""Secrets stay secret in a full end-to-end run, and the OAuth flow enforces state and PKCE.

Real processes on PostgreSQL: the sandbox (``python -m sandbox``), the listener
(``python -m webhook``) and a runner (``python -m sync``), all logging JSON to files. The run
connects Xero, HubSpot and Asana through the listener's OAuth callback, sends signed
deliveries whose bodies carry distinctive markers, lets the runner work on them (calling the
sandbox with the stored tokens), and then counts, in every log line of every process, each
secret, token, signature and body marker: 0. And every column of every stored connection row
is searched for the access and refresh tokens: 0.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import (
    FERNET_KEY,
    SECRETS,
    count,
    free_port,
    listener_env,
    run_process,
    seed_listener_db,
    signed_headers,
)
from sqlalchemy import select, text, update

from db.engine import make_engine, make_session_factory
from db.models import Connection, OAuthState
from integrations.oauth import OAuthFlowError, finish_authorization, start_authorization
from integrations.tokens import FernetTokenStore
from settings import Settings

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]
SYSTEMS = ("xero", "hubspot", "asana")


def _settings(db_url: str, tmp: Path, listener_port: int, sandbox_port: int) -> Settings:
    return Settings(
        env="test", database_url=db_url, var_dir=tmp / "var", secret_key=FERNET_KEY,
        public_url=f"http://127.0.0.1:{listener_port}", sandbox_port=sandbox_port, _env_file=None,  # type: ignore[call-arg]
    )  # fmt: skip


def _consent(settings: Settings, db_url: str, tenant_id: int, system: str) -> str:
    """Start the flow (a state row) and follow the sandbox's consent: the callback URL."""
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session, session.begin():
        url = start_authorization(session, settings, tenant_id, system, "rel@zixly.test")
    engine.dispose()
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    consent = httpx.get(url, follow_redirects=False, trust_env=False)
    assert consent.status_code == 302, consent.text
    return consent.headers["Location"]


def test_no_secret_token_or_body_reaches_the_logs_and_tokens_are_encrypted_at_rest(pg_url: str, tmp_path: Path) -> None:
    tally = count("secrets_in_logs")
    api_tokens_issued, tenant_id, asana_id = seed_listener_db(pg_url)
    engine = make_engine(pg_url)
    with engine.begin() as conn:  # the OAuth flows create these connections afresh
        conn.execute(text("DELETE FROM connections WHERE system IN ('xero', 'hubspot')"))
    engine.dispose()
    listener_port, sandbox_port, runner_port = free_port(), free_port(), free_port()
    env = listener_env(pg_url, listener_port, tmp_path, ZIXLY_SANDBOX_PORT=str(sandbox_port),
                       ZIXLY_RUNNER_METRICS_PORT=str(runner_port), ZIXLY_RUNNER_POLL_S="0.2",
                       ZIXLY_LOG_LEVEL="DEBUG")  # fmt: skip
    # The sandbox signs Xero webhooks with the dev key and checks the dev client secrets.
    for name in [k for k in env if k.endswith(("_CLIENT_ID", "_CLIENT_SECRET"))]:
        del env[name]
    settings = _settings(pg_url, tmp_path, listener_port, sandbox_port)
    logs = {name: tmp_path / f"{name}.log" for name in ("sandbox", "listener", "runner")}
    base = f"http://127.0.0.1:{listener_port}"
    markers = [f"ZXMARK-{uuid.uuid4().hex}" for _ in range(4)]
    sent_signatures: list[str] = []
    with (
        run_process(["-m", "sandbox"], env, logs["sandbox"], f"http://127.0.0.1:{sandbox_port}/prices"),
        run_process(["-m", "webhook"], env, logs["listener"], base + "/health"),
        run_process(["-m", "sync"], env, logs["runner"], None),
    ):
        for system in SYSTEMS:
            callback = _consent(settings, pg_url, tenant_id, system)
            answer = httpx.get(callback, trust_env=False, timeout=30)
            assert answer.status_code == 200, (system, answer.text[:300])
        # Signed deliveries with a marker in each body (and one forged one).
        bodies = {
            "xero": {"events": [{"tenantId": "x", "eventCategory": "INVOICE", "eventType": "UPDATE",
                                 "resourceId": markers[0], "eventDateUtc": "2026-11-26T10:00:00"}]},
            "hubspot": [{"portalId": 1, "subscriptionType": "contact.creation", "objectId": 5, "eventId": 9,
                         "occurredAt": 1795000000000, "note": markers[1]}],
            "shopify": {"id": 77, "note": markers[2], "email": "secret.customer@example.com"},
            "asana": {"events": [{"resource": {"gid": "1", "resource_type": "task"}, "action": "changed",
                                  "created_at": "2026-11-26T10:00:00Z", "note": markers[3]}]},
        }  # fmt: skip
        paths = {"xero": "/webhook/xero", "hubspot": "/webhook/hubspot", "shopify": "/webhook/shopify",
                 "asana": f"/webhook/asana/{asana_id}"}  # fmt: skip
        for vendor, payload in bodies.items():
            body = json.dumps(payload).encode()
            headers = signed_headers(vendor, body, base, paths[vendor], event_id=markers[2])
            sent_signatures += [v for k, v in headers.items() if "sign" in k.lower() or "hmac" in k.lower()]
            httpx.post(base + paths[vendor], content=body, headers=headers, timeout=30)
            forged = headers | {k: "forged" + v[6:] for k, v in headers.items() if "sign" in k.lower()}
            httpx.post(base + paths[vendor], content=body, headers=forged, timeout=30)
        # The job API with a bearer token; then let the runner work for a moment.
        editor = {"Authorization": f"Bearer {api_tokens_issued['EDITOR']}"}
        httpx.post(base + "/webhook/jobs", json={"job_type": "noop", "tenant": tenant_id}, headers=editor, timeout=30)
        time.sleep(4)
    # -- the tokens, from the database ----------------------------------------------------------
    engine = make_engine(pg_url)
    store = FernetTokenStore(FERNET_KEY.encode())
    tokens: list[str] = []
    with make_session_factory(engine)() as session:
        rows = list(session.scalars(select(Connection).where(Connection.system.in_(SYSTEMS))))
        for row in rows:
            loaded = store.load(row)
            if loaded is not None:
                tokens += [t for t in (loaded.access_token, loaded.refresh_token) if t]
        raw_rows = session.execute(text("SELECT * FROM connections")).all()
        api_tokens = session.execute(text("SELECT * FROM api_tokens")).all()
    engine.dispose()
    assert {r.system for r in rows if r.token_ciphertext} == set(SYSTEMS)
    assert len(tokens) >= len(SYSTEMS)
    tally["tokens"] += len(tokens)
    at_rest = [t for t in tokens for r in raw_rows for cell in r if cell is not None and t in str(cell)]
    tally["tokens_in_stored_columns"] += len(at_rest)
    assert at_rest == []
    bearer_at_rest = [t for t in api_tokens_issued.values() for r in api_tokens for c in r if c and t in str(c)]
    assert api_tokens and bearer_at_rest == []  # only their SHA-256 (and a 10-character prefix)
    # -- the logs -------------------------------------------------------------------------------
    needles = {
        **{f"secret:{k}": v for k, v in SECRETS.items()},
        "fernet key": FERNET_KEY,
        **{f"token:{i}": t for i, t in enumerate(tokens)},
        **{f"body marker:{i}": m for i, m in enumerate(markers)},
        **{f"signature:{i}": s for i, s in enumerate(sent_signatures) if len(s) > 16},
        **{f"api token:{role}": tok for role, tok in api_tokens_issued.items()},
        "customer email": "secret.customer@example.com",
    }
    found = []
    lines = 0
    for name, path in logs.items():
        content = path.read_text(errors="replace")
        lines += content.count("\n")
        found += [f"{name}: {what}" for what, needle in needles.items() if needle in content]
    tally["log_lines"] += lines
    tally["needles"] += len(needles)
    tally["found"] += len(found)
    assert lines > 20  # the processes did log (JSON lines), so the search means something
    listener_log = logs["listener"].read_text()
    assert "oauth connected" in listener_log and "webhook signature rejected" in listener_log
    assert found == [], found


# -- OAuth state and PKCE (in process, against the sandbox app) ------------------------------------


@pytest.fixture
def oauth_run(pg_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    sandbox_port, listener_port = free_port(), free_port()
    env = listener_env(pg_url, listener_port, tmp_path, ZIXLY_SANDBOX_PORT=str(sandbox_port))
    _, tenant_id, _ = seed_listener_db(pg_url)
    settings = _settings(pg_url, tmp_path, listener_port, sandbox_port)
    with run_process(["-m", "sandbox"], env, tmp_path / "sandbox.log",
                     f"http://127.0.0.1:{sandbox_port}/prices"):  # fmt: skip
        engine = make_engine(pg_url)
        yield settings, make_session_factory(engine), tenant_id
        engine.dispose()


def _query(callback: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


def _finish(factory, settings: Settings, query: dict[str, str]) -> str | None:  # type: ignore[no-untyped-def]
    with factory() as session:
        try:
            finish_authorization(session, settings, "xero", query)
        except OAuthFlowError as exc:
            session.commit()  # as the listener does: the state is spent even when refused
            return str(exc)
        session.commit()
        return None


def test_unknown_expired_and_reused_states_are_refused(oauth_run) -> None:  # type: ignore[no-untyped-def]
    settings, factory, tenant_id = oauth_run
    tally = count("oauth")
    good = _query(_consent(settings, settings.database_url, tenant_id, "xero"))
    refusals = {
        "unknown state": _finish(factory, settings, good | {"state": "not-a-state"}),
        "no state": _finish(factory, settings, {k: v for k, v in good.items() if k != "state"}),
    }
    assert _finish(factory, settings, good) is None  # the genuine one works once …
    refusals["reused state"] = _finish(factory, settings, good)  # … and only once
    late = _query(_consent(settings, settings.database_url, tenant_id, "xero"))
    with factory() as session, session.begin():
        session.execute(update(OAuthState).where(OAuthState.state == late["state"])
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))  # fmt: skip
    refusals["expired state"] = _finish(factory, settings, late)
    tally["refusals_expected"] += len(refusals)
    tally["accepted_bad_state"] += sum(1 for r in refusals.values() if r is None)
    assert all(refusals.values()), refusals


def test_the_token_request_carries_the_pkce_verifier(oauth_run) -> None:  # type: ignore[no-untyped-def]
    """The sandbox checks code_verifier against the challenge: a wrong stored verifier is refused."""
    settings, factory, tenant_id = oauth_run
    good = _query(_consent(settings, settings.database_url, tenant_id, "xero"))
    with factory() as session, session.begin():
        session.execute(update(OAuthState).where(OAuthState.state == good["state"])
                        .values(code_verifier="x" * 64))  # fmt: skip
    refused = _finish(factory, settings, good)
    assert refused is not None and "refused" in refused
    ok = _query(_consent(settings, settings.database_url, tenant_id, "xero"))
    assert _finish(factory, settings, ok) is None
