"""The trading-sweep page's one change: queue a sweep. Same pattern as ``app/actions.py``:
the role is checked here (a refusal is audited and raises ``Forbidden``), the params are checked
by the API's rules (:mod:`app.sweep_form`; a bad request raises ``InvalidSweep`` and queues
nothing), then the job is queued, audited and committed in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.sweep_form import check_sweep
from db import jobs
from db.auth import Actor, audit, require_role
from jobtypes import TRADING_SWEEP

EDITOR = "EDITOR"
ACTION = "sweep.submit"


def submit_sweep(
    session: Session,
    actor: Actor,
    tenant_id: int,
    raw_params: Mapping[str, Any],
    available: Mapping[str, int] | None = None,
) -> int:
    """Queue a trading-sweep job for ``tenant_id``; returns its id.

    ``available`` (ticker -> bars) defaults to the tickers the listener validates against.
    Raises ``Forbidden`` below EDITOR and ``InvalidSweep`` (``.errors``: field -> reason).
    """
    target = f"tenant:{tenant_id}"
    require_role(session, actor, EDITOR, ACTION, target)
    sweep = check_sweep(raw_params, available)
    params = sweep.model_dump(mode="json")  # what the listener stores for the same request
    job = jobs.enqueue(session, tenant_id=tenant_id, job_type=TRADING_SWEEP, params=params, created_by=actor.email)
    audit(session, actor, ACTION, target, {"job_id": job.id, "ticker": sweep.ticker, "pairs": sweep.pair_count})
    session.commit()
    return job.id
