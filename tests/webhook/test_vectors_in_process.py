"""Every vendor test vector (tests/fixtures) through the listener's endpoints, in process (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from listener_helpers import VECTORS, listener_settings, pending_handshake
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from vectors import EXPECTED, VECTOR_HUBSPOT_PATH, Sent, deliver, secrets_from_vectors

from db.models import Connection, PipelineJob, WebhookDelivery
from webhook import create_app


def test_the_vector_file_is_fully_covered() -> None:
    assert {v["id"] for v in VECTORS} == set(EXPECTED)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_through_the_endpoint(
    vector: dict[str, Any],
    settings: Any,
    tmp_path: Path,
    session: Session,
    session_factory: sessionmaker[Session],
    tenants: dict[str, int],
) -> None:
    config = listener_settings(settings.database_url, tmp_path, **secrets_from_vectors(VECTORS))
    v3 = next(v for v in VECTORS if v["scheme"] == "v3")
    pinned = int(v3["timestamp"]) / 1000 + 1  # HubSpot's v3 vector is old: pin the clock to it
    app = create_app(config, session_factory=session_factory, clock=lambda: pinned)
    # Serve the HubSpot view at the URL the v2/v3 vectors were signed for.
    app.add_url_rule(VECTOR_HUBSPOT_PATH, view_func=app.view_functions["vendors.hubspot_webhook"], methods=["POST"])
    client = app.test_client()
    asana_id = session.scalar(select(Connection.id).where(Connection.system == "asana"))
    assert asana_id is not None
    if vector["vendor"] == "asana":
        url = f"/webhook/asana/{asana_id}/{pending_handshake(session, asana_id)}"
        assert client.post(url, headers={"X-Hook-Secret": vector["secret"]}).status_code == 200

    def send(method: str, path: str, body: bytes, headers: dict[str, str], params: dict[str, str] | None) -> Sent:
        r = client.open(path, method=method, data=body, headers=headers, query_string=params)
        return Sent(r.status_code, dict(r.headers), r.get_data())

    sent = deliver(vector, send, asana_connection_id=asana_id, in_process=True)
    assert sent.status == EXPECTED[vector["id"]][0], sent.body
    session.rollback()
    deliveries = session.scalars(select(WebhookDelivery)).all()
    # Stored exactly when accepted and carrying events (ITR and heartbeats carry none).
    stored = sent.status in (200, 202) and vector["id"] not in ("xero-itr-derived", "asana-heartbeat-derived")
    assert bool(deliveries) == stored
    if vector["id"] == "asana-task-changed-derived":
        job = session.scalars(select(PipelineJob)).one()
        assert (job.job_type, job.params["task_gid"]) == ("asana-task-reconcile", "12345")
