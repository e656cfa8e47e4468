"""A failure's fingerprint: job type + its error with the parts that differ per job stripped.

Five hundred jobs failing with "HubSpot answered 503 for contact 4411 at 2026-12-06T10:00:01Z"
and "... contact 981 at ..." are one problem; ids, numbers, uuids, emails and timestamps are what
differs between them, so they are replaced by placeholders before hashing.
"""

from __future__ import annotations

import hashlib
import re

_REPLACEMENTS = (
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE), "<uuid>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    # Hex ids and tokens (at least one digit, so plain words stay).
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)
MAX_CHARS = 500


def normalise(error: str | None) -> str:
    """The error with per-job details replaced by placeholders, white space collapsed."""
    text = " ".join((error or "").split())
    for pattern, placeholder in _REPLACEMENTS:
        text = pattern.sub(placeholder, text)
    return text[:MAX_CHARS]


def failure_fingerprint(job_type: str, error: str | None) -> str:
    """``job_failed:<job type>:<16 hex>``: equal for failures that are the same problem."""
    digest = hashlib.sha256(normalise(error).encode()).hexdigest()[:16]
    return f"job_failed:{job_type}:{digest}"
