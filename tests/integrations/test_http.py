"""The shared HTTP policy: retries, typed errors, call recording (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from integrations.http import (
    USER_AGENT,
    ApiClient,
    AuthError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
    parse_retry_after,
)
from integrations.metrics import integration_api_latency_seconds


class DemoClient(ApiClient):
    system = "demo"


Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | type[Exception]) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, type):
            raise item("boom", request=request)  # type: ignore[call-arg]
        return item

    return seen, handler


def make(handler: Handler, **kwargs: object) -> tuple[DemoClient, list[float], list[tuple[object, ...]]]:
    sleeps: list[float] = []
    calls: list[tuple[object, ...]] = []

    def recorder(system: str, method: str, path: str, status: int | None, latency_ms: float) -> None:
        calls.append((system, method, path, status))
        assert latency_ms >= 0

    client = DemoClient(
        "https://vendor.test/api",
        transport=httpx.MockTransport(handler),
        recorder=recorder,
        sleep=sleeps.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, sleeps, calls


def test_it_formats_the_path_and_records_the_template_not_the_id() -> None:
    seen, handler = scripted(httpx.Response(200, json={"ok": True}))
    client, _, calls = make(handler)
    response = client.request("GET", "/things/{thing_id}", path_params={"thing_id": "a b/c"})
    assert response.json() == {"ok": True}
    assert seen[0].url.raw_path == b"/api/things/a%20b%2Fc"
    assert seen[0].headers["User-Agent"] == USER_AGENT
    assert calls == [("demo", "GET", "/things/{thing_id}", 200)]
    sample = integration_api_latency_seconds.labels(system="demo", endpoint="/things/{thing_id}")
    assert sample._sum.get() > 0  # the histogram saw the template label


def test_it_retries_a_429_honouring_retry_after() -> None:
    _, handler = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json={}),
    )
    client, sleeps, calls = make(handler)
    client.request("POST", "/things")  # 429 means "not processed": safe even for a POST
    assert sleeps == [7.0]
    assert [c[3] for c in calls] == [429, 200]


def test_it_retries_5xx_on_reads_then_gives_up_with_a_transient_error() -> None:
    _, handler = scripted(*[httpx.Response(503)] * 3)
    client, sleeps, calls = make(handler, max_retries=2)
    with pytest.raises(TransientError) as info:
        client.request("GET", "/things")
    assert info.value.status_code == 503 and not info.value.permanent
    assert len(sleeps) == 2 and len(calls) == 3


def test_it_does_not_repeat_a_write_without_an_idempotency_key() -> None:
    _, handler = scripted(httpx.Response(500), httpx.Response(200))
    client, sleeps, _ = make(handler)
    with pytest.raises(TransientError):
        client.request("POST", "/things", json={"a": 1})
    assert sleeps == []


def test_it_repeats_a_write_that_carries_an_idempotency_key() -> None:
    seen, handler = scripted(httpx.Response(500), httpx.Response(200))
    client, _, _ = make(handler)
    client.request("PUT", "/things", json={"a": 1}, headers={"Idempotency-Key": "k1"})
    assert [r.headers["Idempotency-Key"] for r in seen] == ["k1", "k1"]


def test_it_retries_timeouts_on_reads_and_records_them_without_status() -> None:
    _, handler = scripted(httpx.ReadTimeout, httpx.Response(200))
    client, sleeps, calls = make(handler)
    client.request("GET", "/slow")
    assert [c[3] for c in calls] == [None, 200]
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, PermanentError), (401, AuthError), (403, PermanentError), (404, NotFound), (409, TransientError)],
)
def test_it_maps_statuses_to_typed_errors(status: int, error: type[Exception]) -> None:
    _, handler = scripted(*[httpx.Response(status, text="nope")] * 5)
    client, _, _ = make(handler, max_retries=0)
    with pytest.raises(error):
        client.request("GET", "/things/{id}", path_params={"id": 42})


def test_a_permanent_error_is_never_retried() -> None:
    _, handler = scripted(httpx.Response(400), httpx.Response(200))
    client, sleeps, calls = make(handler)
    with pytest.raises(PermanentError) as info:
        client.request("GET", "/things")
    assert info.value.permanent and sleeps == [] and len(calls) == 1


def test_a_rate_limit_error_carries_retry_after_when_retries_run_out() -> None:
    _, handler = scripted(httpx.Response(429, headers={"Retry-After": "30"}))
    client, _, _ = make(handler, max_retries=0)
    with pytest.raises(RateLimited) as info:
        client.request("GET", "/things")
    assert info.value.retry_after == 30.0


def test_it_stops_retrying_when_the_wait_would_pass_the_deadline() -> None:
    import time

    _, handler = scripted(httpx.Response(429, headers={"Retry-After": "60"}), httpx.Response(200))
    client, sleeps, _ = make(handler, deadline=time.monotonic() + 5)
    with pytest.raises(RateLimited):
        client.request("GET", "/things")
    assert sleeps == []


def test_vendor_overrides_change_only_what_differs() -> None:
    class Picky(DemoClient):
        def retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
            return float(response.headers.get("X-Wait", "0")) or None

    _, handler = scripted(httpx.Response(503, headers={"X-Wait": "2"}), httpx.Response(200))
    sleeps: list[float] = []
    client = Picky("https://v.test", transport=httpx.MockTransport(handler), sleep=sleeps.append)
    client.request("GET", "/x")
    assert sleeps == [2.0]


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
