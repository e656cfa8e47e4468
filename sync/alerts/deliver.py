"""Draining the alert outbox: claim due deliveries, send each, record sent or failed with the reason."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.alerts import channels, outbox
from settings import Settings
from sync.alerts.senders import SendError, send

log = logging.getLogger("zixly.runner.alerts")

LEASE_S = 60.0  # longer than one send's timeouts (HTTP 10 s, SMTP 10 s per step)


def deliver_due(engine: Engine, settings: Settings, runner_id: str, now: Callable[[], dt.datetime]) -> dict[str, int]:
    """Send every due delivery this runner can claim; returns counts by outcome."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    cipher = settings.cipher()
    while True:
        with Session(engine) as session, session.begin():
            claimed = outbox.claim(session, runner_id, now=now(), lease_s=LEASE_S)
        if not claimed:
            return counts
        for delivery in claimed:
            with Session(engine) as session:
                target = channels.target(session, cipher, delivery.channel_id)
            try:
                if target is None:
                    raise SendError("the channel was deleted", permanent=True)
                send(settings, target, delivery.id, delivery.payload)
            except Exception as exc:  # a bug in a renderer must cost one delivery, not the loop
                permanent = isinstance(exc, SendError) and exc.permanent
                reason = str(exc) if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}"
                with Session(engine) as session, session.begin():
                    status = outbox.mark_failed(
                        session, delivery.id, runner_id, delivery.attempt, reason, permanent=permanent, now=now()
                    )
                counts["failed" if status == "failed" else "retry"] += 1
                log.warning("alert delivery %d (attempt %d) failed: %s", delivery.id, delivery.attempt, exc)
            else:
                with Session(engine) as session, session.begin():
                    outbox.mark_sent(session, delivery.id, runner_id, now=now())
                counts["sent"] += 1
