"""The workflow registry: ``job_type → handler(ctx, params) → dict``.

Each module in this package registers its handlers by name, ``@register(jobtypes.NOOP)``; the
job type itself — params model, options, trigger — is declared once in the catalogue
(:mod:`jobtypes`), and registering a name the catalogue does not know fails at import. The
registry imports every module here on first use, so adding a workflow is a catalogue entry
plus a file. The runner checks a job's params with the catalogue's ``validate_params`` (the
listener and the dashboard use the same function) and the handler receives them as a plain
``dict`` (the model's ``model_dump(mode="json")``); invalid params fail the job permanently.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import jobtypes
from jobtypes import JobType, UnknownJobType

if TYPE_CHECKING:
    from sync.context import JobContext

Handler = Callable[["JobContext", dict[str, Any]], "dict[str, Any] | None"]
H = TypeVar("H", bound=Callable[..., Any])

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workflow:
    entry: JobType
    handler: Handler

    @property
    def job_type(self) -> str:
        return self.entry.name


_registry: dict[str, Workflow] = {}
_loaded = False
_load_lock = threading.Lock()


def register(job_type: str) -> Callable[[H], H]:
    """Register the decorated function as the handler of the catalogued ``job_type``."""
    entry = jobtypes.job_type(job_type)  # UnknownJobType: catalogue it first

    def decorate(handler: H) -> H:
        existing = _registry.get(job_type)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job type {job_type!r} is registered twice")
        _registry[job_type] = Workflow(entry, handler)
        return handler

    return decorate


def load() -> list[str]:
    """Import every workflow module once (a broken module is logged, not fatal to the rest);
    returns the job types that have a handler."""
    global _loaded
    if not _loaded:
        with _load_lock:
            if not _loaded:
                for info in pkgutil.iter_modules(__path__):
                    try:
                        importlib.import_module(f"{__name__}.{info.name}")
                    except Exception:
                        log.exception("workflow module %s failed to import", info.name)
                _loaded = True
    return sorted(_registry)


def get(job_type: str) -> Workflow:
    """The handler of ``job_type``; :class:`jobtypes.UnknownJobType` when it has none."""
    load()
    found = _registry.get(job_type)
    if found is None:
        jobtypes.job_type(job_type)  # an uncatalogued name: the catalogue's own message
        raise UnknownJobType(f"job_type {job_type!r} is catalogued but no workflow module handles it")
    return found
