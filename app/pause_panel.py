"""The Clients board's pause section, and the note a held job's page shows.

Paused clients and workflows with their held jobs, who paused them, why and until when; Resume
per pause and a Pause form (EDITOR or above; the actions check the role again, server-side).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from app import data, pause_actions, widgets
from app.text import NOTHING
from db.auth import Actor
from db.jobs import pauses
from jobtypes import CATALOGUE


def _scope(workflow: str) -> str:
    return "all workflows" if workflow == pauses.ALL else workflow


def board_section(actor: Actor, tenant_ids: tuple[int, ...]) -> None:
    st.subheader("Paused")
    with data.session() as s:
        active = pauses.active(s, tenant_ids or None)
    names = widgets.tenant_names()
    editor = actor.can("EDITOR")
    per_minute = data.settings().resume_per_minute
    if not active:
        st.caption("No client is paused.")
    else:
        st.caption(
            "Deliveries are still verified, stored and turned into jobs; the jobs wait as PAUSED and "
            f"schedules do not fire. Resume releases the held jobs in order, {per_minute} a minute."
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "tenant": [names.get(p.tenant_id, str(p.tenant_id)) for p in active],
                    "paused": [_scope(p.workflow) for p in active],
                    "held jobs": [p.held for p in active],
                    "paused by": [p.paused_by for p in active],
                    "reason": [p.reason for p in active],
                    "since (UTC)": [f"{p.paused_at:%Y-%m-%d %H:%M}" for p in active],
                    "until (UTC)": [f"{p.until:%Y-%m-%d %H:%M}" if p.until else "resumed by hand" for p in active],
                }
            ),
            hide_index=True,
            key="pauses_table",
        )
        for p in active:
            label = f"Resume {names.get(p.tenant_id, p.tenant_id)} ({_scope(p.workflow)})"
            key = f"resume_{p.tenant_id}_{'all' if p.workflow == pauses.ALL else p.workflow}"
            if st.button(label, key=key, disabled=not editor, help=None if editor else "EDITOR role needed"):
                released = widgets.run_action(
                    pause_actions.resume_client, actor, p.tenant_id, workflow=p.workflow, per_minute=per_minute
                )
                if released is not None:
                    st.session_state["pause_flash"] = f"Resumed: {released} held jobs released, {per_minute} a minute."
                    st.rerun()
    if flash := st.session_state.pop("pause_flash", None):
        st.success(flash)
    if editor:
        _pause_form(actor)


def _pause_form(actor: Actor) -> None:
    with st.expander("Pause a client"):
        tenant_id = widgets.tenant_select("pause_tenant")
        if tenant_id is None:
            return
        choices = [pauses.ALL] + [e.name for e in CATALOGUE]
        workflow = st.selectbox("Workflow", choices, format_func=_scope, key="pause_workflow")
        reason = st.text_input("Reason (shown on the board)", key="pause_reason")
        timed = st.checkbox("Resume automatically at an end time", key="pause_timed")
        until = None
        if timed:
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
            day = st.date_input("End date (UTC)", soon.date(), key="pause_until_date")
            at = st.time_input("End time (UTC)", soon.time().replace(second=0, microsecond=0), key="pause_until_time")
            until = dt.datetime.combine(day, at, dt.UTC)
        if st.button("Pause", type="primary", key="pause_go"):
            held = widgets.run_action(
                pause_actions.pause_client, actor, tenant_id, reason=reason, workflow=workflow, until=until
            )
            if held is not None:
                st.session_state["pause_flash"] = f"Paused: {held} queued jobs held."
                st.rerun()


def held_note(job: dict[str, Any]) -> None:
    """Why a PAUSED job waits, on its page."""
    with data.session() as s:
        p = pauses.holding(s, job["tenant_id"], job["job_type"])
    if p is None:
        st.info("Held: its client was just resumed; the job is released shortly.")
        return
    until = f"until {p.until:%Y-%m-%d %H:%M} UTC" if p.until else "until resumed on the Clients board"
    st.info(f"Held: {job['tenant']} is paused ({_scope(p.workflow)}) by {p.paused_by} since "
            f"{p.paused_at:%Y-%m-%d %H:%M} UTC, {until}. Reason: {p.reason or NOTHING}")  # fmt: skip
