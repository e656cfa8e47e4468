"""Real ``python -m sync`` processes send the alerts: three runners on PostgreSQL, one outage of
500 failed jobs across five tenants, a Slack channel pointed at the sandbox's Slack emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from db import jobs
from db.alerts import channels
from db.engine import make_engine
from db.models import AlertDelivery, PipelineJob, Tenant
from sandbox.app import create_sandbox_app
from settings import Settings
from tests.servers import serving
from tests.sync.test_runner_processes import Runners, wait_for

pytestmark = pytest.mark.e2e
SLACK_SCHEMA = json.loads((Path(__file__).parents[1] / "fixtures" / "alerts" / "slack_message.schema.json").read_text())
ALERT_ENV = {"ZIXLY_ALERT_CHECK_S": "0.3", "ZIXLY_ALERT_GROUP_WAIT_S": "2", "ZIXLY_ALERT_INTERVAL_S": "3",
             "ZIXLY_ALERT_RESOLVE_AFTER_S": "1"}  # fmt: skip


@pytest.fixture
def slack_url(tmp_path: Path) -> Iterator[str]:
    sandbox = create_sandbox_app(Settings(env="test", var_dir=tmp_path / "sbx", _env_file=None))  # type: ignore[call-arg]
    with serving(sandbox) as url:
        yield url


def test_three_runners_send_each_alert_once_and_the_outage_ends_with_a_resolved_message(
    pg_url: str, tmp_path: Path, slack_url: str
) -> None:
    engine = make_engine(pg_url)
    db = sessionmaker(engine, expire_on_commit=False)
    runners = Runners(pg_url, tmp_path)
    try:
        with db() as s:
            tenants = [Tenant(name=f"Client {i}") for i in range(5)]
            s.add_all(tenants)
            s.flush()
            settings = Settings(env="test", database_url=pg_url, var_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
            channels.create_channel(s, settings.cipher(), name="ops", kind="slack", events=["job_failed"],
                                    config={"url": slack_url + "/slack/services/T0/B0/demo"})  # fmt: skip
            for i in range(500):
                jobs.enqueue(
                    s, tenant_id=tenants[i % 5].id, job_type="noop", params={"fail_times": 1, "permanent": True}
                )
            s.commit()
        for _ in range(3):
            runners.start(**ALERT_ENV)

        def received() -> list[dict[str, object]]:
            return list(httpx.get(slack_url + "/slack/messages").json())

        def all_failed() -> bool:
            with db() as s:
                return s.scalar(select(PipelineJob.id).where(PipelineJob.status != "FAILED").limit(1)) is None

        wait_for(all_failed, 240, "the 500 jobs to fail")
        wait_for(lambda: len(received()) >= 1, 30, "the first alert")
        with db() as s:  # the outage ends: a job of the type succeeds
            jobs.enqueue(s, tenant_id=tenants[0].id, job_type="noop", params={})
            s.commit()
        wait_for(lambda: "Resolved" in str(received()[-1]["message"]), 60, "the resolved message")
        time.sleep(2)  # three check intervals more: nothing else may arrive
        messages = [m["message"] for m in received()]
        with db() as s:
            sent = s.scalars(select(AlertDelivery).where(AlertDelivery.status == "sent")).all()
        assert len(messages) == len(sent)  # each delivery sent once, whichever runner claimed it
        for message in messages:
            jsonschema.validate(message, SLACK_SCHEMA)
        firing = [m for m in messages if "Resolved" not in m["text"]]  # type: ignore[operator]
        assert firing and "Jobs failed" in firing[0]["text"]  # type: ignore[operator]
        assert "Resolved" in messages[-1]["text"]  # type: ignore[operator]
        assert [d.payload["count"] for d in sorted(sent, key=lambda d: d.seq)][-1] == 500
        print(f"500 failures of one outage made {len(messages)} Slack messages: {[m['text'] for m in messages]}")
    finally:
        runners.close()
        engine.dispose()
