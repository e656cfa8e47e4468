"""The shape of one catalogue entry: what Zixly knows about a job type, as data.

Each part answers one caller's question, so nobody else restates it: the params model (what
the listener, the dashboard and the runner accept), the options model (per-tenant settings),
the subject (which record the job is about: the concurrency key), the trigger (which vendor
event starts it and which params it takes from that event) and the default schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from integrations.events import VendorEvent
from jobtypes.options import Options


@dataclass(frozen=True)
class Subject:
    """The external record a job acts on; jobs about one record never run at the same time."""

    kind: str  # the concurrency key's prefix, e.g. "shopify:order"
    id_field: str  # the event's external id (and the job's param) naming the record, e.g. "order_id"

    def concurrency_key(self, external_ids: Mapping[str, str]) -> str | None:
        record = external_ids.get(self.id_field)
        return f"{self.kind}:{record}" if record else None


@dataclass(frozen=True)
class Trigger:
    """The vendor event that starts a job type, and the params the job takes from it.

    ``event_type`` is exact, or a prefix ending in ``*`` (``"invoice.*"``); ``payload`` lists
    fields the event's payload must hold with these values; ``params_from_payload`` maps job
    params to payload fields copied into the job (absent fields become ``None``).
    """

    source: str
    event_type: str
    payload: Mapping[str, object] = field(default_factory=dict)
    params_from_payload: Mapping[str, str] = field(default_factory=dict)

    def matches(self, event: VendorEvent) -> bool:
        if event.source != self.source:
            return False
        if self.event_type.endswith("*"):
            type_ok = event.event_type.startswith(self.event_type[:-1])
        else:
            type_ok = event.event_type == self.event_type
        return type_ok and all(event.payload.get(k) == v for k, v in self.payload.items())

    def params(self, event: VendorEvent) -> dict[str, object]:
        return {param: event.payload.get(name) for param, name in self.params_from_payload.items()}


@dataclass(frozen=True)
class DefaultSchedule:
    """The schedule a tenant gets once it has connected every system in ``needs``.

    ``options_from`` names the job type whose per-tenant settings row re-times it (its
    ``interval_minutes`` option) and switches it off; ``interval_minutes`` is the default.
    """

    needs: tuple[str, ...]
    options_from: str
    interval_minutes: int


@dataclass(frozen=True)
class Upkeep:
    """A job Zixly queues itself when what it looks after changes.

    ``on_connect``: the systems whose connection queues it; ``on_options_of``: the workflows
    whose saved settings queue it. Its jobs for one tenant never run at the same time.
    """

    on_connect: tuple[str, ...] = ()
    on_options_of: tuple[str, ...] = ()

    def job(self, job_type: str, tenant_id: int, reason: str) -> dict[str, Any]:
        """The keyword arguments of ``db.jobs.enqueue`` for one such job."""
        return {
            "tenant_id": tenant_id,
            "job_type": job_type,
            "params": {"reason": reason},
            "concurrency_key": f"{job_type}:{tenant_id}",
        }


@dataclass(frozen=True)
class JobType:
    """One job type, declared once in :mod:`jobtypes.catalogue`."""

    name: str
    description: str
    params: type[BaseModel]
    options: type[Options] | None = None
    subject: Subject | None = None
    trigger: Trigger | None = None
    schedule: DefaultSchedule | None = None
    upkeep: Upkeep | None = None
    # The systems its handler calls: what stops when one of their connections dies (the
    # Connections page's "Used by").
    uses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A triggered job must know which record it is about, or events could race.
        if self.trigger is not None and self.subject is None:
            raise ValueError(f"job type {self.name!r} has a trigger but no subject")
        needed = {self.trigger.source} if self.trigger else set()
        needed |= set(self.schedule.needs) if self.schedule else set()
        if not needed <= set(self.uses):
            raise ValueError(f"job type {self.name!r} must list {sorted(needed)} in uses")
