"""What a request needs from the app: settings, a database session per request, the clock.

flaskr-style: :func:`get_session` opens one session lazily per request (``g``) and the
app-context teardown closes it, whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from settings import Settings
from webhook.debounce import WindowCache
from webhook.orgs import OrgCache
from webhook.wakeup import RunnerWakeup

if TYPE_CHECKING:
    from webhook.group import GroupCommit


@dataclass(frozen=True)
class Listener:
    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Callable[[], float] = time.time
    orgs: OrgCache = field(default_factory=OrgCache)
    debounce_windows: WindowCache = field(default_factory=WindowCache)
    wakeup: RunnerWakeup | None = None
    group: GroupCommit | None = None  # PostgreSQL: deliveries written together (webhook/group.py)


def listener() -> Listener:
    found: Listener = current_app.extensions["zixly"]
    return found


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = listener().session_factory()
    session: Session = g.db_session
    return session


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    """Once the request's session committed, the request may no longer be run again (ListenerApp).

    Listens on the class, once: a listener per session cost more than the rest of opening it.
    """
    if has_app_context() and g.get("db_session") is session:
        g.committed = True


def close_session(_exc: BaseException | None = None) -> None:
    session: Any = g.pop("db_session", None)
    if session is not None:
        session.close()
