"""A live sandbox plus a migrated database and a tenant, for OAuth tests over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from sandbox_live import Receiver, serving
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from db.models import Connection, Tenant
from integrations.connection_auth import ConnectionAuth
from integrations.oauth import finish_authorization, start_authorization
from sandbox.app import create_sandbox_app
from settings import Settings


class Env:
    def __init__(self, base: str, settings: Settings, factory: sessionmaker[Session], tenant_id: int) -> None:
        self.base = base
        self.settings = settings
        self.factory = factory
        self.tenant_id = tenant_id

    def control(self, path: str, **body: object) -> dict[str, object]:
        response = httpx.post(f"{self.base}/_sandbox/{path}", json=body, trust_env=False)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    def consent(self, system: str = "xero", shop: str | None = None) -> dict[str, str]:
        """Start the flow and follow the vendor's consent page to the callback's query."""
        with self.factory() as session, session.begin():
            url = start_authorization(session, self.settings, self.tenant_id, system, "alice@agency.example", shop)
        consent = httpx.get(url, follow_redirects=False, trust_env=False)
        assert consent.status_code == 302, consent.text
        callback = urlsplit(consent.headers["Location"])
        assert callback.path == f"/oauth/{system}/callback"
        return {k: v[0] for k, v in parse_qs(callback.query).items()}

    def connect(self, system: str = "xero", shop: str | None = None) -> Connection:
        """The whole consent dance, as the dashboard and the callback route do it."""
        query = self.consent(system, shop)
        with self.factory() as session, session.begin():
            return finish_authorization(session, self.settings, system, query)

    def api(self, connection_id: int, prefix: str = "/xero") -> httpx.Client:
        auth = ConnectionAuth(self.factory, self.settings, connection_id)
        return httpx.Client(base_url=self.base + prefix, auth=auth, trust_env=False)

    def row(self, connection_id: int) -> Connection:
        with self.factory() as session:
            row = session.get(Connection, connection_id)
            assert row is not None
            return row


@contextmanager
def oauth_env(db_url: str, tmp_path: Path) -> Iterator[Env]:
    receiver = Receiver()
    with serving(receiver.app()) as receiver_url:
        app_settings = Settings(env="test", var_dir=tmp_path, public_url=receiver_url, _env_file=None)  # type: ignore[call-arg]
        with serving(create_sandbox_app(app_settings)) as base:
            httpx.post(base + "/_sandbox/reset", trust_env=False).raise_for_status()
            settings = Settings(
                env="test",
                var_dir=tmp_path,
                database_url=db_url,
                public_url=receiver_url,
                sandbox_port=int(base.rsplit(":", 1)[1]),
                _env_file=None,  # type: ignore[call-arg]
            )
            engine = make_engine(settings)
            factory = make_session_factory(engine)
            with factory() as session, session.begin():
                tenant = Tenant(name="Acme Outdoor Co")
                session.add(tenant)
                session.flush()
                tenant_id = tenant.id
            try:
                yield Env(base, settings, factory, tenant_id)
            finally:
                engine.dispose()
