"""Connect a tenant to the sandbox's vendors through the real OAuth flow (development only).

The sandbox's OAuth servers keep their grants in memory, so tokens stored by an earlier run
mean nothing to a freshly started sandbox. This walks the same path a person clicking
"Connect" in the dashboard takes: a state row (:func:`start_authorization`), the vendor's
consent URL (the sandbox approves at once and redirects), and the redirect delivered to the
listener's ``/oauth/<vendor>/callback``, which exchanges the code and stores the encrypted
tokens. Without a listener (``via_listener=False``) the callback's work is done in-process.

``python -m demo connect [--tenant NAME] [--wait SECONDS]`` connects every
vendor the tenant (default: the demo tenant) has a connection row for.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from db.models import Connection, Tenant
from demo.seed import DEMO_TENANT
from integrations.oauth import finish_authorization, start_authorization
from settings import Settings

log = logging.getLogger("zixly.demo.connect")

ORDER = ("xero", "hubspot", "shopify", "asana")


class ConnectError(RuntimeError):
    """The sandbox or the listener did not complete the flow."""


def connect(
    settings: Settings,
    factory: sessionmaker[Session],
    tenant_id: int,
    system: str,
    *,
    shop: str | None = None,
    via_listener: bool = True,
    timeout_s: float = 10.0,
) -> None:
    """Run the authorization-code flow for one vendor against the sandbox."""
    if settings.env == "production":
        raise ConnectError("sandbox connect is for development and tests only")
    with factory() as session, session.begin():
        url = start_authorization(session, settings, tenant_id, system, "sandbox:connect", shop=shop)
    with httpx.Client(trust_env=False, timeout=timeout_s, follow_redirects=False) as http:
        consent = http.get(url)
        if consent.status_code != 302:
            raise ConnectError(f"{system}: the sandbox answered {consent.status_code} to the consent request")
        callback = consent.headers["Location"]
        if via_listener:
            answer = http.get(callback)
            if answer.status_code != 200:
                raise ConnectError(f"{system}: the listener answered {answer.status_code}: {answer.text[:200]}")
            return
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    with factory() as session, session.begin():
        finish_authorization(session, settings, system, query)


def connect_tenant(
    settings: Settings, factory: sessionmaker[Session], tenant_id: int, *, via_listener: bool = True
) -> dict[str, str]:
    """Connect every vendor the tenant has a connection row for; ``{system: "connected" | error}``."""
    with factory() as session:
        rows = session.execute(
            select(Connection.system, Connection.external_org_id).where(Connection.tenant_id == tenant_id)
        ).all()
    outcome: dict[str, str] = {}
    for system, org in sorted(rows, key=lambda r: ORDER.index(r[0]) if r[0] in ORDER else 99):
        try:
            connect(settings, factory, tenant_id, system, shop=org if system == "shopify" else None,
                    via_listener=via_listener)  # fmt: skip
            outcome[system] = "connected"
        except Exception as exc:  # report each vendor; one failing must not stop the others
            outcome[system] = f"{type(exc).__name__}: {exc}"
    return outcome


def tenant_id_by_name(factory: sessionmaker[Session], name: str) -> int | None:
    with factory() as session:
        return session.scalar(select(Tenant.id).where(Tenant.name == name))


def connect_named_tenant(settings: Settings, name: str = DEMO_TENANT, *, wait_s: float = 0.0) -> dict[str, str]:
    """Wait (up to ``wait_s``) for the tenant, the sandbox and the listener, then connect it."""
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            tenant_id = tenant_id_by_name(factory, name)
            outcome = connect_tenant(settings, factory, tenant_id) if tenant_id is not None else {"tenant": "missing"}
            if all(v == "connected" for v in outcome.values()) or time.monotonic() >= deadline:
                return outcome
            time.sleep(1.0)
    finally:
        engine.dispose()
