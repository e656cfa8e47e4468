"""Real-HTTP harness for client tests: the sandbox app and a webhook receiver on free ports.

Both run in werkzeug servers on 127.0.0.1 in background threads; nothing is mocked between
the client and the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from flask import Flask, Response, request

from sandbox.app import create_sandbox_app
from settings import Settings
from tests.servers import serving

SECRETS = {
    "hubspot_client_secret": "hubspot-test-secret",
    "shopify_client_secret": "shopify-test-secret",
    "asana_client_secret": "asana-test-secret",
}


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every delivery; ``answer`` decides the response (default 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Response] = lambda r: Response("", status=200)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.route("/<path:path>", methods=["POST"])
        def catch(path: str) -> Response:
            item = Received(request.method, request.url, dict(request.headers), request.get_data())
            self.received.append(item)
            return self.answer(item)

        return app


@contextmanager
def live_sandbox(tmp_path: Path) -> Iterator[tuple[str, Receiver, Settings]]:
    """(sandbox base URL, receiver, settings) with public_url pointing at the receiver."""
    receiver = Receiver()
    with serving(receiver.app()) as receiver_url:
        receiver.url = receiver_url
        settings = Settings(env="test", var_dir=tmp_path, public_url=receiver_url, _env_file=None, **SECRETS)  # type: ignore[call-arg]
        with serving(create_sandbox_app(settings)) as base:
            yield base, receiver, settings


def reset(base: str) -> None:
    httpx.post(base + "/_sandbox/reset", trust_env=False).raise_for_status()


class Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class RecordingTransport(httpx.BaseTransport):
    """A real HTTP transport that keeps every (request, response) pair for contract checks."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self.inner.close()


class ShopifyToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["X-Shopify-Access-Token"] = self.token
        yield request
