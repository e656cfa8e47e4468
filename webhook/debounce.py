"""Each event-started job's debounce window: the tenant's ``debounce_s`` option, else the default.

The window is read per delivery (one indexed query for the tenants and workflows it touches),
so an option saved on the dashboard applies to the next delivery in every listener worker.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from db.jobs import JobSpec
from db.jobs.debounce import Event, stored_windows
from jobtypes import BY_NAME


def default_window(workflow: str) -> float:
    """The catalogue's default for ``workflow`` (0 for a job type without the option)."""
    entry = BY_NAME.get(workflow)
    field = entry.options.model_fields.get("debounce_s") if entry and entry.options else None
    return float(field.default) if field is not None else 0.0


def events(session: Session, specs: Sequence[JobSpec], labels: Sequence[str]) -> list[Event]:
    """The specs as debounce events (``labels``: what each came from, for the absorbing job's log)."""
    keyed = [(s.tenant_id, s.job_type) for s in specs if s.concurrency_key is not None]
    stored = stored_windows(session, keyed) if keyed else {}
    return [
        Event(spec, stored.get((spec.tenant_id, spec.job_type), default_window(spec.job_type)), label)
        for spec, label in zip(specs, labels, strict=True)
    ]
