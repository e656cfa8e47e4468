"""xero-contacts-to-hubspot against the live sandbox: backfill, incremental runs, resuming."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from workflow_harness import Env, workflow_env

from db import cursors
from integrations.http import TransientError
from integrations.hubspot.client import HubSpotClient
from integrations.hubspot.models import UpsertResult
from sandbox.hubspot import store as hubspot_sandbox
from sandbox.xero import data as xero_data
from sync import workflow_settings
from sync.workflows.xero_contacts_to_hubspot import read_cursor

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
JOB = "xero-contacts-to-hubspot"
XERO_EMAILS = {
    "accounts@baysideclimbing.example",
    "noah.patel@blueridge.example",
    "olivia@harbourkayak.example",
    "finance@summitcamps.example",
    "ava@trailheadcafe.example",
    "treasurer@coastalsurf.example",
}


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    with workflow_env(db_url, tmp_path) as env:
        yield env


def hubspot_emails() -> set[str]:
    return {str(c["properties"].get("email")) for c in hubspot_sandbox.objects["contacts"].values()}


def cursor(env: Env) -> tuple[dt.datetime, str] | None:
    with env.factory() as session:
        return read_cursor(cursors.get(session, env.tenant_id, "xero", "contacts"))


def add_xero_contact(name: str, email: str) -> None:
    with xero_data.LOCK:
        org = xero_data.ORGS[xero_data.DEMO_TENANT_ID]
        xero_data.new_contact(org, {"Name": name, "EmailAddress": email}, dt.datetime.now(dt.UTC))


def test_the_first_run_backfills_every_contact_and_sets_the_cursor(env: Env) -> None:
    job = env.run(JOB)
    assert job.status == "COMPLETED", job.error
    assert hubspot_emails() >= XERO_EMAILS
    assert job.result is not None and job.result["created"] == 6
    assert cursor(env) is not None
    assert sum(1 for r in env.records(job.id) if r[0] == "hubspot" and r[3] == "CREATE") == 6


def test_later_runs_send_only_what_changed(env: Env) -> None:
    env.run(JOB)
    first = cursor(env)
    quiet = env.run(JOB)
    assert quiet.result is not None and quiet.result["created"] + quiet.result["updated"] == 0
    add_xero_contact("Riverbend Rafting", "hello@riverbend.example")
    changed = env.run(JOB)
    assert changed.result is not None and (changed.result["created"], changed.result["updated"]) == (1, 0)
    assert "hello@riverbend.example" in hubspot_emails()
    moved = cursor(env)
    assert first is not None and moved is not None and moved > first


def test_a_failed_page_keeps_the_cursor_at_the_last_good_page_and_the_retry_resumes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with env.factory() as session, session.begin():
        workflow_settings.save(session, env.tenant_id, JOB, options={"page_size": 2})
    original = HubSpotClient.upsert_contacts_by_email
    calls: list[int] = []

    def fail_the_second_batch(self: HubSpotClient, contacts: Sequence[Mapping[str, str]]) -> list[UpsertResult]:
        calls.append(len(contacts))
        if len(calls) == 2:
            raise TransientError("hubspot: 503 (test)", system="hubspot", status_code=503)
        return original(self, contacts)

    monkeypatch.setattr(HubSpotClient, "upsert_contacts_by_email", fail_the_second_batch)
    job = env.run(JOB)
    assert job.status == "COMPLETED", job.error
    assert job.attempts == 2
    # Attempt 1 upserted page 1 (2 contacts) and failed on page 2; attempt 2 read from the
    # cursor (Xero repeats the cursor's own contact, which is skipped) and upserted the other 4.
    assert calls[:2] == [2, 2]
    assert sum(calls[2:]) == 4
    assert hubspot_emails() >= XERO_EMAILS
    writes = env.writes("hubspot")
    assert all(n == 1 for key, n in writes.items() if key.startswith("contacts:"))


def test_a_disabled_sync_does_nothing(env: Env) -> None:
    with env.factory() as session, session.begin():
        workflow_settings.save(session, env.tenant_id, JOB, enabled=False, options={})
    job = env.run(JOB)
    assert job.result == {"skipped": "disabled"}
    assert cursor(env) is None
