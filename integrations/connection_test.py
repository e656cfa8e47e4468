"""The Connections page's "Test connection": one cheap authenticated call per vendor.

:func:`test_connection` calls the vendor through its client and :class:`ConnectionAuth`
(so an expiring token is refreshed exactly as a job would refresh it) and returns one line
for a human: who the token is connected as, or what went wrong.

Status bookkeeping follows :mod:`integrations.connection_auth`: a refused or revoked token
leaves the connection ``revoked``/``expired``/``error`` with ``last_error`` set, a working one
clears an earlier ``error``. Like the refresh, the change is committed in its own short
transaction (it is a fact about the vendor, not part of the caller's unit of work); the
caller's copy of the row is expired so it reads the new state.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
from sqlalchemy.orm import Session, sessionmaker

from db.models import Connection
from integrations.connection_auth import ConnectionAuth
from integrations.http import AuthError, IntegrationError, PermanentError
from integrations.registry import UnknownVendor, vendor
from integrations.vendor import make_client
from settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 15.0


def test_connection(
    session: Session,
    settings: Settings,
    connection: Connection,
    *,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Ask the vendor who we are with the connection's stored tokens; returns a one-line verdict.

    Never raises for a vendor failure: the failure is the verdict. ``transport`` is for tests.
    """
    system, connection_id, org = connection.system, connection.id, connection.external_org_id
    try:
        record = vendor(system)
    except UnknownVendor:
        return f"{system}: no connection test for this system"
    name = record.display_name
    if connection.status == "disconnected":
        return f"{name}: not connected"
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    auth = ConnectionAuth(factory, settings, connection_id)
    try:
        with make_client(
            record, settings, auth, org, timeout=PROBE_TIMEOUT_S, max_retries=0, transport=transport
        ) as client:
            verdict = record.probe(client, org)
    except AuthError as exc:
        message = f"{name}: authentication failed — {exc.message}"
        _record(factory, connection_id, failed=True, message=message)
    except PermanentError as exc:
        message = f"{name}: the vendor refused the test call — {exc.message}"
        _record(factory, connection_id, failed=True, message=message)
    except IntegrationError as exc:  # transient: timeouts, 5xx, 429 — the status stays
        message = f"{name}: unreachable right now — {exc.message}"
        _record(factory, connection_id, failed=False, message=message)
    else:
        message = f"{name}: {verdict}"
        _record(factory, connection_id, failed=False, message=None)
    session.expire(connection)
    return message


test_connection.__test__ = False  # type: ignore[attr-defined]  # a name pytest would otherwise collect


def _record(factory: sessionmaker[Session], connection_id: int, *, failed: bool, message: str | None) -> None:
    """Commit the verdict on the row (only when it changes something)."""
    with factory() as s, s.begin():
        row = s.get(Connection, connection_id)
        if row is None:
            return
        now = dt.datetime.now(dt.UTC)
        if failed:
            # ConnectionAuth may already have marked it revoked/expired (refresh refused): keep that.
            if row.status in ("connected", "expiring"):
                row.status = "error"
            row.last_error = (message or "")[:1000]
        elif message is not None:
            row.last_error = message[:1000]
        elif row.status == "error" or row.last_error:
            row.status = "connected" if row.status == "error" else row.status
            row.last_error = None
        else:
            return
        row.updated_at = now
