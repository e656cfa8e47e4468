"""Log lines are JSON, carry the job's or request's context, and never show a secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from logconfig import bind, configure_logging, job_context, request_context, route_to_root, unbind
from settings import Settings

XERO_SECRET = "xero-client-secret-4f9a1c"
DB_PASSWORD = "pg-pass-77ab"
log = logging.getLogger("zixly.test.logconfig")


def _settings(**overrides: Any) -> Settings:
    return Settings(
        env="test",
        _env_file=None,
        xero_client_secret=XERO_SECRET,
        database_url=f"postgresql+psycopg://zixly:{DB_PASSWORD}@db:5432/zixly",
        **overrides,
    )


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging(_settings(), "runner", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_inside_a_job_carries_its_id_tenant_and_type(output: io.StringIO):
    with job_context(job_id=17, tenant="acme", job_type="xero-invoice-paid"):
        log.info("fetched invoice %s", "INV-001")
        logging.getLogger("some.library").warning("a library line")
    log.info("between jobs")
    inside, library, outside = _lines(output)
    assert inside["message"] == "fetched invoice INV-001"
    assert (inside["job_id"], inside["tenant"], inside["job_type"]) == (17, "acme", "xero-invoice-paid")
    assert (library["job_id"], library["level"]) == (17, "WARNING")
    assert not {"job_id", "tenant", "job_type"} & set(outside)
    assert inside["process"] == "runner" and inside["logger"] == "zixly.test.logconfig" and "time" in inside


def test_listener_lines_carry_a_request_id(output: io.StringIO):
    with request_context() as generated:
        log.info("delivery received")
    with request_context("req-from-header"):
        log.info("delivery received")
    token = bind(request_id="from-a-flask-hook")
    log.info("before_request style")
    unbind(token)
    first, second, third = _lines(output)
    assert first["request_id"] == generated and len(generated) == 32
    assert second["request_id"] == "req-from-header"
    assert third["request_id"] == "from-a-flask-hook"


def test_concurrent_jobs_keep_their_own_context(output: io.StringIO):
    barrier = threading.Barrier(2)

    def run(job_id: int) -> None:
        with job_context(job_id=job_id, tenant=f"t{job_id}", job_type="sync"):
            barrier.wait()
            log.info("working")

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted((line["job_id"], line["tenant"]) for line in _lines(output)) == [(1, "t1"), (2, "t2")]


def test_a_secret_value_passed_in_a_log_call_is_redacted(output: io.StringIO):
    with job_context(job_id=3, tenant="acme", job_type="xero-sync"):
        log.info("refreshing with %s", XERO_SECRET)
        log.info("connecting", extra={"dsn": f"postgresql://zixly:{DB_PASSWORD}@db/zixly", "note": XERO_SECRET})
        try:
            raise RuntimeError(f"token endpoint refused {XERO_SECRET}")
        except RuntimeError:
            log.exception("refresh failed")
    text = output.getvalue()
    assert XERO_SECRET not in text and DB_PASSWORD not in text
    assert text.count("[REDACTED]") >= 4
    assert all(line["job_id"] == 3 for line in _lines(output))


def test_secret_looking_fields_and_text_are_masked(output: io.StringIO):
    log.info(
        'calling api with Authorization: Bearer abc123.def and body {"refresh_token": "rt-999"} and password=hunter2',
        extra={"access_token": "at-555", "client_secret": "cs-666", "signature_ok": True, "rows": 12},
    )
    (line,) = _lines(output)
    for leaked in ("abc123.def", "rt-999", "hunter2", "at-555", "cs-666"):
        assert leaked not in json.dumps(line)
    assert line["access_token"] == line["client_secret"] == "[REDACTED]"
    assert line["signature_ok"] is True and line["rows"] == 12


def test_plain_text_logs_are_redacted_too():
    stream = io.StringIO()
    handler = configure_logging(_settings(log_json=False), "webhook", stream=stream)
    try:
        with request_context("r-1"):
            log.warning("bad secret %s", XERO_SECRET)
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue()
    assert XERO_SECRET not in line
    assert "webhook" in line and "request_id=r-1" in line and "[REDACTED]" in line


def test_configuring_twice_keeps_one_handler():
    root = logging.getLogger()
    first = configure_logging(_settings(), "runner", stream=io.StringIO())
    second = configure_logging(_settings(), "runner", stream=io.StringIO())
    try:
        assert first not in root.handlers
        assert [h for h in root.handlers if h.get_name() == "zixly"] == [second]
    finally:
        root.removeHandler(second)


def test_a_library_with_its_own_handler_is_routed_through_ours(output: io.StringIO):
    """gunicorn and streamlit install their own plain handlers; routed, their lines are ours."""
    own = io.StringIO()
    library = logging.getLogger("selfish.lib.server")
    library.addHandler(logging.StreamHandler(own))
    library.propagate = False
    route_to_root("selfish")
    library.warning("client_secret=%s", XERO_SECRET)
    (line,) = _lines(output)
    assert line["logger"] == "selfish.lib.server" and line["process"] == "runner"
    assert XERO_SECRET not in output.getvalue() and own.getvalue() == ""
