"""Clients: the health board — one row per tenant × integration, worst first."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app import auth, data, pause_panel, widgets
from app.text import NOTHING, plural, vendor_name, when
from db.alerts.freshness import freshness, source_system
from db.queries.clients import WEBHOOK_SILENCE_H, webhook_label
from integrations.quota_view import board_lines

actor = auth.require_actor()
st.title("Clients")
st.caption(
    "Connection status and token expiry, last success, failures since, webhook silence "
    f"(no delivery for {WEBHOOK_SILENCE_H:.0f} h while connected), sync cursor lag and sync freshness "
    "(stale since T: a schedule not completed within two intervals), vendor quota spent. Worst first."
)
widgets.keep("cl_tenants")
tenant_ids = widgets.tenant_filter("cl_tenants")
board = data.health_board(data.url(), tenant_ids)
job_types = data.job_types(data.url())


def _jobs_link(row: dict[str, Any]) -> str:
    types = [t for t in job_types if row["system"] in t]
    query = {"tenant": row["tenant_id"], "types": ",".join(types)}
    if row["consecutive_failures"]:
        query["status"] = "FAILED"
    return "/jobs?" + urlencode(query)


def _verdict(row: dict[str, Any]) -> str:
    # Words, not coloured emoji: a browser without an emoji font draws those as empty boxes.
    if row["status"] in ("expired", "revoked", "error"):
        return "Reconnect"
    if row["consecutive_failures"]:
        return f"{plural(row['consecutive_failures'], 'job')} failing"
    if row["webhook_state"] == "failed":
        return "Webhook failed"
    if row["webhook_silent"]:
        return "Webhooks silent"
    if row["status"] == "not connected":
        return "Not connected"
    if row["status"] == "expiring":
        return "Token expiring"
    return "Healthy"


if not board:
    st.info("No tenants yet.")
else:
    now = dt.datetime.now(dt.UTC)
    with data.session() as s:
        stale = {(f.tenant_id, source_system(f.job_type)): f for f in freshness(s, now=now) if f.stale_since}
        quotas = board_lines(s, tenant_ids, now)
    df = pd.DataFrame(
        {
            "health": [_verdict(r) for r in board],
            "tenant": [r["tenant"] for r in board],
            "system": [vendor_name(r["system"]) for r in board],
            "status": [r["status"] for r in board],
            "token expires in": [
                widgets.seconds((r["expires_at"] - now).total_seconds()) if r["expires_at"] else "—" for r in board
            ],
            "last success": [when(r["last_success"]) if r["last_success"] else "never" for r in board],
            "failures since": [r["consecutive_failures"] for r in board],
            "webhook": [webhook_label(r["webhook_state"], r["webhook_reason"]) for r in board],
            "webhook silence": [widgets.seconds(r["silence_h"] * 3600) if r["silence_h"] else "—" for r in board],
            "cursor lag": [widgets.seconds(r["cursor_lag_h"] * 3600) if r["cursor_lag_h"] else "—" for r in board],
            "sync": [
                f"stale since {stale[k].stale_since:%Y-%m-%d %H:%M}"
                if (k := (r["tenant_id"], r["system"])) in stale
                else NOTHING
                for r in board
            ],
            "quota": [quotas.get((r["tenant_id"], r["system"]), NOTHING) for r in board],
            "last error": [r["last_error"] or NOTHING for r in board],
            "jobs": [_jobs_link(r) for r in board],
        }
    )
    st.dataframe(
        df, hide_index=True, key="health_board",
        column_config={
            "jobs": st.column_config.LinkColumn("Jobs", display_text="open jobs"),
            "last success": st.column_config.TextColumn("Last success (UTC)"),
        },
    )  # fmt: skip

pause_panel.board_section(actor, tenant_ids)  # paused clients and workflows: app/pause_panel.py
