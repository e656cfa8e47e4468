"""Running an action whose params the job-type catalogue checks, with its refusals shown per field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from app import widgets
from jobtypes import InvalidParams

T = TypeVar("T")


def run_checked_action(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """:func:`app.widgets.run_action`; params the catalogue refuses are shown one line per field
    (field name and reason, never a validation dump), and the action has changed nothing."""
    try:
        return widgets.run_action(fn, *args, **kwargs)
    except InvalidParams as exc:
        st.warning(f"Nothing was saved or queued: these params break the rules of {exc.job_type}.")
        for error in exc.errors:
            st.error(f"{error}.")
        return None
