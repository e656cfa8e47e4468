"""The alert check: one runner at a time turns failures and conditions into groups and messages.

Each tick, in one transaction (skipped when another runner holds the check's lock):
1. failed-for-good jobs not yet counted go into their fingerprint's group;
2. failure groups quiet for ``alert_resolve_after_s`` whose job type has succeeded since resolve;
3. every condition check runs (``sync/alerts/conditions.py``) and opens or resolves its groups;
4. every group owed a message (first after ``alert_group_wait_s``, an update at most once per
   ``alert_interval_s``, the resolved one) gets it written to the outbox per subscribed channel.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.alerts import groups
from settings import Settings
from sync.alerts import conditions

log = logging.getLogger("zixly.runner.alerts")

# Failed jobs are looked for this far back: a job finished (and committed) late by a slow
# runner is still counted; older failures were counted by an earlier tick.
LOOKBACK = dt.timedelta(hours=1)


def check(engine: Engine, settings: Settings, now: Callable[[], dt.datetime]) -> int | None:
    """One alert check; returns how many deliveries it wrote, or None if another runner was checking."""
    at = now()
    with Session(engine) as session, session.begin():
        if not groups.lock_for_check(session):
            conditions.stale_syncs(session, at)  # another runner checks; keep this one's metric current
            return None
        groups.count_new_failures(session, since=at - LOOKBACK, now=at)
        groups.resolve_quiet_failures(
            session, quiet_since=at - dt.timedelta(seconds=settings.alert_resolve_after_s), now=at
        )
        for event, found in conditions.all_conditions(session, settings, at).items():
            groups.sync_conditions(session, event, found, now=at)
        written = 0
        for group_id in groups.due_messages(
            session, now=at, group_wait_s=settings.alert_group_wait_s, interval_s=settings.alert_interval_s
        ):
            written += groups.make_message(session, group_id, now=at)
    if written:
        log.info("alert check wrote %d deliveries", written)
    return written
