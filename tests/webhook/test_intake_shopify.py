"""Shopify deliveries through the endpoint: verified, stored, enqueued, deduplicated."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from listener_helpers import SHOPIFY_SECRET, order_body, shopify_headers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import PipelineJob, WebhookDelivery, WorkflowSetting


def _counts(session: Session) -> tuple[int, int]:
    session.rollback()  # end the read snapshot: see what the app committed
    jobs = session.scalar(select(func.count()).select_from(PipelineJob))
    deliveries = session.scalar(select(func.count()).select_from(WebhookDelivery))
    return int(jobs or 0), int(deliveries or 0)


def test_a_paid_order_is_stored_and_enqueued_before_the_answer(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    body = order_body(4242)
    response = client.post("/webhook/shopify", data=body, headers=shopify_headers(body))
    assert response.status_code == 202
    conforms(response)
    [job_id] = response.json["job_ids"]
    job = session.get(PipelineJob, job_id)
    assert job is not None
    assert (job.tenant_id, job.job_type, job.status) == (tenants["acme"], "shopify-order-to-xero", "QUEUED")
    assert job.params["order_id"] == "4242"
    assert job.params["shop"] == "acme.myshopify.com"
    assert job.concurrency_key == "shopify:order:4242"
    assert job.created_by == "webhook:shopify"
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.body == body  # kept raw, byte for byte
    assert (delivery.tenant_id, delivery.outcome, delivery.job_ids) == (tenants["acme"], "accepted", [job_id])
    assert delivery.headers["x-shopify-topic"] == "orders/paid"


def test_a_duplicate_delivery_returns_the_original_jobs_and_creates_nothing(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    body = order_body(7)
    first = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, event_id="same"))
    before = _counts(session)
    again = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, event_id="same"))
    assert again.status_code == 200
    conforms(again)
    assert again.json == {"job_ids": first.json["job_ids"], "duplicate": True}
    assert _counts(session) == before == (1, 1)


def test_a_captured_delivery_replayed_with_fresh_ids_or_another_shop_makes_no_new_job(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    body = order_body(8)  # signed once, captured, replayed with whatever headers the attacker likes
    first = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, event_id="e-1"))
    assert first.status_code == 202
    for event_id, shop in (("fresh-1", "acme.myshopify.com"), ("fresh-2", "globex.myshopify.com")):
        headers = shopify_headers(body, event_id=event_id, shop=shop) | {"X-Shopify-Webhook-Id": event_id}
        replay = client.post("/webhook/shopify", data=body, headers=headers)
        assert (replay.status_code, replay.json["duplicate"]) == (200, True)
    assert _counts(session) == (1, 1)


def test_a_tampered_body_is_401_and_leaves_nothing(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    body = order_body(1)
    headers = shopify_headers(body)
    response = client.post("/webhook/shopify", data=body.replace(b"12.50", b"0.01"), headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert _counts(session) == (0, 0)


def test_a_wrong_key_or_a_missing_signature_is_401(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    body = order_body(1)
    wrong = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, secret="not-" + SHOPIFY_SECRET))
    headers = shopify_headers(body)
    del headers["X-Shopify-Hmac-Sha256"]
    missing = client.post("/webhook/shopify", data=body, headers=headers)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert _counts(session) == (0, 0)


def test_an_unknown_shop_is_recorded_as_unmatched_and_acknowledged(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    body = order_body(9)
    response = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, shop="stranger.myshopify.com"))
    assert response.status_code == 202
    assert response.json == {"job_ids": []}
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.tenant_id, delivery.outcome) == (None, "unmatched")


def test_a_disabled_workflow_enqueues_nothing_but_the_delivery_is_kept(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    session.add(WorkflowSetting(tenant_id=tenants["acme"], workflow="shopify-order-to-xero", enabled=False))
    session.commit()
    body = order_body(10)
    response = client.post("/webhook/shopify", data=body, headers=shopify_headers(body))
    assert response.status_code == 202
    assert response.json == {"job_ids": []}
    assert _counts(session) == (0, 1)


def test_a_topic_without_a_workflow_is_stored_without_jobs(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    body = order_body(11)
    response = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, topic="orders/create"))
    assert response.status_code == 202
    assert response.json == {"job_ids": []}
    assert _counts(session) == (0, 1)


def test_a_captured_body_under_a_made_up_topic_is_refused_and_stores_nothing(
    client: FlaskClient, session: Session, tenants: dict[str, int]
) -> None:
    # Shopify signs the body, not the topic header: a made-up topic must not store another copy.
    body = order_body(12)
    for topic in ("zz/xxxx", "orders/paid2"):
        response = client.post("/webhook/shopify", data=body, headers=shopify_headers(body, topic=topic))
        assert response.status_code == 400
        assert "topic" in response.json["detail"]
    assert _counts(session) == (0, 0)


def test_bad_input_is_a_problem_document_and_stores_nothing(
    client: FlaskClient, session: Session, tenants: dict[str, int], conforms: Callable[[Any], None]
) -> None:
    broken = b'{"id": 1,'
    malformed = client.post("/webhook/shopify", data=broken, headers=shopify_headers(broken))
    assert malformed.status_code == 400
    conforms(malformed)
    body = order_body(1)
    headers = shopify_headers(body) | {"Content-Type": "text/plain"}
    wrong_type = client.post("/webhook/shopify", data=body, headers=headers)
    assert wrong_type.status_code == 415
    conforms(wrong_type)
    not_an_object = b"[1, 2]"
    wrong_shape = client.post("/webhook/shopify", data=not_an_object, headers=shopify_headers(not_an_object))
    assert wrong_shape.status_code == 400
    for response in (malformed, wrong_type, wrong_shape):
        assert response.mimetype == "application/problem+json"
    assert _counts(session) == (0, 0)


def test_a_body_over_the_limit_is_413_without_reading_it(client: FlaskClient, tenants: dict[str, int]) -> None:
    big = b'{"pad": "' + b"x" * (1_048_576 + 10) + b'"}'
    declared = client.post("/webhook/shopify", data=big, headers=shopify_headers(big))
    assert declared.status_code == 413
    assert declared.mimetype == "application/problem+json"

    class Counting(io.BytesIO):
        consumed = 0

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            self.consumed += len(data)
            return data

    stream = Counting(b"x" * (10 * 1_048_576))
    chunked = client.post(
        "/webhook/shopify",
        input_stream=stream,
        headers=shopify_headers(b""),
        # No Content-Length, as with Transfer-Encoding: chunked.
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert chunked.status_code == 413
    assert stream.consumed <= 1_048_576 + 65536  # refused after the limit, not after 10 MiB


def test_deliveries_for_unknown_shops_past_the_global_budget_are_acknowledged_but_not_stored(
    session: Session, session_factory: Any, tenants: dict[str, int], tmp_path: Any, settings: Any
) -> None:
    from listener_helpers import listener_settings

    from webhook import create_app
    from webhook.metrics import WEBHOOK_DELIVERIES

    config = listener_settings(settings.database_url, tmp_path, webhook_unmatched_per_minute=2)
    client = create_app(config, session_factory=session_factory).test_client()
    dropped = WEBHOOK_DELIVERIES.labels(source="shopify", outcome="unmatched_dropped")
    before = dropped._value.get()
    answers = []
    for n in range(4):
        body = order_body(9000 + n)
        answers.append(
            client.post("/webhook/shopify", data=body, headers=shopify_headers(body, shop="nobody.myshopify.com"))
        )
    assert [a.status_code for a in answers] == [202] * 4  # every one acknowledged: the vendor stops retrying
    assert _counts(session) == (0, 2)  # two stored as unmatched, two past the budget
    assert dropped._value.get() - before == 2
    # Known shops are not held back by the flood.
    body = order_body(9100)
    assert client.post("/webhook/shopify", data=body, headers=shopify_headers(body)).status_code == 202
    assert _counts(session) == (1, 3)
