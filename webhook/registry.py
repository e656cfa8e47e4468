"""The job types ``POST /webhook/jobs`` may trigger, and their params validation.

A thin seam over the runner's registry (``sync.workflows``), the single source of job types.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def known_job_types() -> Collection[str]:
    from sync.workflows import known_job_types as known

    return set(known())


def validate_params(job_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params as the job will get them; raises ``ValidationError``/``ValueError`` naming the field."""
    from sync.workflows import validate_params as validate

    checked = validate(job_type, params)
    if isinstance(checked, dict):
        return checked
    if hasattr(checked, "model_dump"):
        dumped: dict[str, Any] = checked.model_dump(mode="json")
        return dumped
    return params
