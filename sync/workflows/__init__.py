"""The workflow registry: ``job_type → handler(ctx, params) → dict``.

Each module in this package registers its job types with ``@register("job_type", params=Model)``;
the registry imports every module here on first use, so adding a workflow is adding a file.
The optional pydantic ``params`` model validates a job's params twice: when the listener
accepts POST /webhook/jobs (:func:`validate_params`, before enqueue) and when the runner starts
the job. The handler always receives the validated params as a plain ``dict`` (the model's
``model_dump(mode="json")``); invalid params fail the job permanently.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from sync.context import JobContext

Handler = Callable[["JobContext", dict[str, Any]], "dict[str, Any] | None"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workflow:
    job_type: str
    handler: Handler
    params: type[BaseModel] | None = None
    description: str = ""


class UnknownJobType(ValueError):
    """No workflow is registered for this job type."""


_registry: dict[str, Workflow] = {}
_loaded = False
_load_lock = threading.Lock()


def register(
    job_type: str, *, params: type[BaseModel] | None = None, description: str = ""
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``job_type``."""

    def decorate(handler: Handler) -> Handler:
        existing = _registry.get(job_type)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job type {job_type!r} is registered twice")
        doc = description or (handler.__doc__ or "").strip().split("\n")[0]
        _registry[job_type] = Workflow(job_type, handler, params, doc)
        return handler

    return decorate


def _load() -> None:
    """Import every workflow module once (a broken module is logged, not fatal to the rest)."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        for info in pkgutil.iter_modules(__path__):
            try:
                importlib.import_module(f"{__name__}.{info.name}")
            except Exception:
                log.exception("workflow module %s failed to import", info.name)
        _loaded = True


def get(job_type: str) -> Workflow:
    _load()
    try:
        return _registry[job_type]
    except KeyError:
        raise UnknownJobType(f"unknown job_type {job_type!r}; known: {', '.join(known_job_types())}") from None


def known_job_types() -> list[str]:
    _load()
    return sorted(_registry)


def validate_params(job_type: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The params as the workflow will see them.

    Raises ``UnknownJobType`` (a ``ValueError``) or pydantic's ``ValidationError``, whose
    ``errors()`` name each bad field.
    """
    workflow = get(job_type)
    if workflow.params is None:
        return dict(params or {})
    return workflow.params.model_validate(params or {}).model_dump(mode="json")
