"""hubspot-deal-won-to-asana and the Asana reconcile/poll jobs against the live sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from workflow_harness import Env, workflow_env

from sandbox import control
from sandbox.asana import store as asana_sandbox
from sandbox.hubspot import store as hubspot_sandbox
from sync import workflow_settings

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
JOB = "hubspot-deal-won-to-asana"
PROJECT = "1201000000000201"  # the sandbox's "Client onboarding" project


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    with workflow_env(db_url, tmp_path, ("hubspot", "asana")) as env:
        with env.factory() as session, session.begin():
            workflow_settings.save(
                session, env.tenant_id, JOB, options={"asana_project_gid": PROJECT, "due_in_days": 5}
            )
        yield env


def won(name: str = "Blue Fern website") -> str:
    with control.LOCK:
        deal = next(d for d in hubspot_sandbox.objects["deals"].values() if d["properties"]["dealname"] == name)
        deal["properties"]["dealstage"] = "closedwon"
        return str(deal["id"])


def onboarding_tasks(deal_id: str) -> list[dict[str, Any]]:
    return [t for t in asana_sandbox.tasks.values() if f"[zixly:hubspot-deal:{deal_id}]" in (t.get("notes") or "")]


def test_a_won_deal_gets_one_onboarding_task_linking_back(env: Env) -> None:
    deal_id = won()
    job = env.run(JOB, {"deal_id": deal_id})
    assert job.status == "COMPLETED", job.error
    [task] = onboarding_tasks(deal_id)
    assert task["name"] == "Onboard Blue Fern Studio: Blue Fern website"
    assert f"/record/0-3/{deal_id}" in task["notes"]
    assert "carla@bluefern.example" in task["notes"]
    assert task["due_on"] is not None
    assert ("asana", "task", task["gid"], "CREATE") in env.records(job.id)
    again = env.run(JOB, {"deal_id": deal_id})
    assert again.result is not None and again.result["created"] is False
    assert len(onboarding_tasks(deal_id)) == 1


def test_a_deal_not_won_is_skipped(env: Env) -> None:
    deal_id = next(
        d["id"] for d in hubspot_sandbox.objects["deals"].values() if d["properties"]["dealstage"] == "contractsent"
    )
    job = env.run(JOB, {"deal_id": deal_id})
    assert job.result == {"skipped": "stage contractsent", "deal": deal_id}


def test_without_an_asana_project_it_fails_saying_what_to_set(env: Env) -> None:
    with env.factory() as session, session.begin():
        workflow_settings.save(session, env.tenant_id, JOB, options={})
    job = env.run(JOB, {"deal_id": won()})
    assert job.status == "FAILED" and job.attempts == 1
    assert "Set the Asana project (asana_project_gid)" in (job.error or "")


def test_a_deleted_deal_fails_at_once_naming_it(env: Env) -> None:
    job = env.run(JOB, {"deal_id": "999999"})
    assert job.status == "FAILED" and job.attempts == 1
    assert "HubSpot deal 999999 does not exist" in (job.error or "")


def test_a_completed_task_marks_the_contact_by_webhook_job_and_by_the_poller(env: Env) -> None:
    deal_id = won()
    env.run(JOB, {"deal_id": deal_id})
    [task] = onboarding_tasks(deal_id)
    httpx.post(f"{env.base}/asana/_sandbox/tasks/{task['gid']}/complete", trust_env=False).raise_for_status()
    job = env.run("asana-task-reconcile", {"task_gid": task["gid"]})
    assert job.status == "COMPLETED", job.error
    assert job.result == {"task": task["gid"], "outcome": "updated"}
    carla = next(
        c for c in hubspot_sandbox.objects["contacts"].values() if c["properties"]["email"] == "carla@bluefern.example"
    )
    assert carla["properties"]["onboarding_completed_date"]
    # The poller sees the same task (webhooks are at-most-once) and finds nothing left to do.
    poll = env.run("asana-tasks-poll")
    assert poll.status == "COMPLETED", poll.error
    assert poll.result is not None and poll.result["outcomes"] == {"unchanged": 1}
