"""The Jobs page's bulk panel: rerun or cancel every job the filters match, after a confirmation
that states the count (and which jobs a rerun leaves out, and why)."""

from __future__ import annotations

import streamlit as st

from app import bulk_actions, data, widgets
from app.text import plural
from db.auth import Actor
from db.filters import JobFilter

PENDING = "bulk_pending"  # (action, filter, count, refused) while a confirmation is shown


def panel(actor: Actor, job_filter: JobFilter) -> None:
    st.subheader("Bulk actions")
    st.caption(
        "Act on every job matching the filters above, on all pages. Rerun takes the finished ones (a job whose "
        f"rerun is under way is skipped), paced at {bulk_actions.JOBS_PER_MINUTE} a minute per tenant below live "
        "work so vendors' rate limits hold; Cancel takes the queued, paused and running ones."
    )
    pending = st.session_state.get(PENDING)
    if pending is not None and pending[1] != job_filter:
        pending = st.session_state[PENDING] = None
    editor = actor.can("EDITOR")
    hint = None if editor else "EDITOR role needed"
    if pending is None:
        b1, b2 = st.columns(2)
        if b1.button("Rerun matching jobs…", disabled=not editor, help=hint, key="bulk_start"):
            with data.session() as s:
                plan = bulk_actions.plan_rerun(s, job_filter)
            st.session_state[PENDING] = ("rerun", job_filter, -1 if plan.too_many else plan.count, plan.refused)
            st.rerun()
        if b2.button("Cancel matching jobs…", disabled=not editor, help=hint, key="bulk_cancel_start"):
            with data.session() as s:
                count = bulk_actions.cancel_count(s, job_filter)
            st.session_state[PENDING] = ("cancel", job_filter, -1 if count > bulk_actions.BULK_MAX else count, [])
            st.rerun()
        return
    action, _filter, count, refused = pending
    if count == 0:
        what = "finished" if action == "rerun" else "queued or running"
        st.info(f"No {what} jobs match these filters.")
        st.session_state[PENDING] = None
        return
    if count < 0:
        st.warning(f"More than {bulk_actions.BULK_MAX:,} jobs match; narrow the filters.")
        st.session_state[PENDING] = None
        return
    if action == "rerun":
        _confirm_rerun(actor, job_filter, count, refused)
    else:
        _confirm_cancel(actor, job_filter, count)


def _confirm_rerun(actor: Actor, job_filter: JobFilter, count: int, refused: list[bulk_actions.Refused]) -> None:
    runs = count - len(refused)
    st.warning(f"Rerun {plural(count, 'matching job')}?")
    if refused:
        st.caption(
            f"{plural(len(refused), 'job')} will be left out: their params break today's rules, so their reruns "
            "would fail at once. " + "; ".join(f"#{r.job_id}: {r.reason}" for r in refused[:5])
            + (" …" if len(refused) > 5 else "")
        )  # fmt: skip
    ok, no = st.columns(2)
    if ok.button(f"Yes, rerun {plural(runs, 'job')}", type="primary", key="bulk_confirm", disabled=runs == 0):
        st.session_state[PENDING] = None
        done = widgets.run_action(bulk_actions.bulk_rerun, actor, job_filter, confirmed_count=count)
        if done is not None:
            until = f"; the last starts by {done.last_start:%H:%M} UTC" if done.last_start and len(done.ids) > 1 else ""
            st.session_state["flash"] = f"Queued {plural(len(done.ids), 'rerun')}{until}."
            st.rerun()
    if no.button("Don't rerun", key="bulk_dismiss"):
        st.session_state[PENDING] = None
        st.rerun()


def _confirm_cancel(actor: Actor, job_filter: JobFilter, count: int) -> None:
    st.warning(f"Cancel {plural(count, 'queued or running job')}? Running ones stop at their next checkpoint.")
    ok, no = st.columns(2)
    if ok.button(f"Yes, cancel {plural(count, 'job')}", type="primary", key="bulk_cancel_confirm"):
        st.session_state[PENDING] = None
        done = widgets.run_action(bulk_actions.bulk_cancel, actor, job_filter, confirmed_count=count)
        if done is not None:
            cancelled, stopping = done
            tail = f"; {plural(stopping, 'running job')} will stop at the next checkpoint" if stopping else ""
            st.session_state["flash"] = f"Cancelled {plural(cancelled, 'job')}{tail}."
            st.rerun()
    if no.button("Don't cancel", key="bulk_cancel_dismiss"):
        st.session_state[PENDING] = None
        st.rerun()
