"""The job types ``POST /webhook/jobs`` may trigger, and their params validation.

Both come from the job-type catalogue (``jobtypes``), the contract the runner's workflows are
registered against; the listener never imports the runner.
"""

from __future__ import annotations

from jobtypes import known_job_types, validate_params

__all__ = ["known_job_types", "validate_params"]
