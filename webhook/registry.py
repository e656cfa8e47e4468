"""The job types ``POST /webhook/jobs`` may trigger, and their params validation.

Both come from the job-type catalogue (``jobtypes``), the contract the runner's workflows are
registered against and the one check the dashboard and the runner apply too; the listener
never imports the runner.
"""

from __future__ import annotations

from jobtypes import InvalidParams, UnknownJobType, known_job_types, validate_params

__all__ = ["InvalidParams", "UnknownJobType", "known_job_types", "validate_params"]
