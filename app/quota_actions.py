"""Setting a connection's own vendor limit (the quota governor's tenant override).

EDITOR or above; a refusal and every change are audited. A tenant may only lower a vendor's
limit (a Starter-tier Xero app: 1,000 calls a day), or raise it up to a plan's documented
ceiling (Asana's paid domains: 1,500 a minute); app-wide limits are not the tenant's to set.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from db import quota
from db.auth import Actor, audit, require_role
from db.models import Connection
from integrations.registry import vendor

EDITOR = "EDITOR"
ACTION = "connection.limit"  # like client.pause, job.enqueue


def set_connection_limit(session: Session, actor: Actor, connection_id: int, limit_name: str, calls: int | None) -> str:
    """Set (``calls``) or clear (``None``) the connection's own limit; the confirmation to show."""
    target = f"connection:{connection_id}"
    require_role(session, actor, EDITOR, ACTION, target)
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise ValueError(f"no connection {connection_id}")
    limit = vendor(connection.system).limit(limit_name)
    if limit.app_wide:
        raise ValueError(f"the {limit_name} limit is the whole app's, not one connection's")
    highest = limit.ceiling or limit.calls
    if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int)):
        raise ValueError(f"the {limit_name} limit is a whole number of {limit.unit}")
    if calls is not None and not 1 <= calls <= highest:
        raise ValueError(f"the {limit_name} limit must be between 1 and {highest:,}")
    quota.set_override(session, connection_id, limit_name, calls, by=actor.email)
    audit(session, actor, ACTION, target, {"limit": limit_name, "calls": calls, "vendor_calls": limit.calls})
    session.commit()
    shown = f"{calls:,}" if calls is not None else f"the vendor's {limit.calls:,}"
    return f"{vendor(connection.system).display_name} {limit_name} limit set to {shown}"
