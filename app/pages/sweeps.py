"""Trading sweeps: queue a moving-average crossover sweep, watch running ones, study a finished one.

A finished sweep shows a heatmap of Sharpe over (fast, slow) read from the full ``sweep.csv``
in the blob store, the best pair's equity against buy-and-hold (``equity.csv``), the top 20
pairs and the CSV itself for download. ``?sweep=<job id>`` opens one sweep.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import auth, data, widgets
from app.sweep_actions import submit_sweep
from app.sweep_form import DEFAULT_FEE_BPS, InvalidSweep, available_tickers
from app.text import plural
from db import sweeps
from db.auth import Forbidden
from db.blobs import BlobError, BlobNotFound, blob_key, make_blob_store
from db.export import neutralise
from jobtypes import TRADING_SWEEP

ACTIVE = ("QUEUED", "PAUSED", "RUNNING", "WAITING")  # WAITING: running on the trading service; PAUSED: held
METRIC_COLUMNS = {
    "fast": st.column_config.NumberColumn("Fast", format="%d"),
    "slow": st.column_config.NumberColumn("Slow", format="%d"),
    "total_return": st.column_config.NumberColumn("Total return", format="percent"),
    "cagr": st.column_config.NumberColumn("CAGR", format="percent"),
    "sharpe": st.column_config.NumberColumn("Sharpe", format="%.3f"),
    "max_drawdown": st.column_config.NumberColumn("Max drawdown", format="percent"),
    "trades": st.column_config.NumberColumn("Trades", format="%d"),
    "win_rate": st.column_config.NumberColumn("Win rate", format="percent"),
    "exposure": st.column_config.NumberColumn("Exposure", format="percent"),
}


@st.cache_data(ttl=3600, show_spinner=False, max_entries=16)
def _blob(blob_url: str, key: str) -> bytes:
    """A finished sweep's blobs never change (a rerun is a new job with new keys)."""
    return make_blob_store(blob_url).get(key)


def _read(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with data.session() as s:
        return fn(s, *args, **kwargs)


def _label(row: dict[str, Any]) -> str:
    """``#12 · Acme · BTC-USD SMA fast 5–20 slow 20–60 step 5``; params that are not a sweep's say so."""
    p = row["params"] or {}
    head = f"#{row['id']} · {row['tenant']}"
    fast, slow = p.get("fast_range"), p.get("slow_range")
    if not (p.get("ticker") and isinstance(fast, list | tuple) and isinstance(slow, list | tuple)):
        return f"{head} · params not readable as a sweep"
    if len(fast) != 2 or len(slow) != 2:
        return f"{head} · {p['ticker']} · params not readable as a sweep"
    return (
        f"{head} · {p['ticker']} {p.get('strategy_type') or 'SMA'} "
        f"fast {fast[0]}–{fast[1]} slow {slow[0]}–{slow[1]} step {p.get('step') or 1}"
    )


def safe_csv(body: bytes) -> bytes:
    """The CSV as stored when every column is numeric (no cell can start a formula), else neutralised."""
    frame = pd.read_csv(io.BytesIO(body))
    if all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
        return body
    text: str = frame.map(neutralise).to_csv(index=False)
    return text.encode()


# -- submit ----------------------------------------------------------------------------------


def submit_form() -> None:
    available = available_tickers()
    names = widgets.tenant_names()
    if not names:
        st.info("No tenants yet: an admin creates them on the Admin page.")
        return
    editor = actor.can("EDITOR")
    # Enter in a number field must not queue a sweep: only the button does.
    with st.form("sweep_form", enter_to_submit=False):
        c1, c2, c3 = st.columns(3)
        tenant_id = c1.selectbox("Tenant", list(names), format_func=lambda i: names[i], key="sw_tenant")
        ticker = c2.selectbox(
            "Ticker", sorted(available), key="sw_ticker", format_func=lambda t: f"{t} ({available[t]:,} daily bars)"
        )
        strategy = c3.radio("Moving average", ["SMA", "EMA"], horizontal=True, key="sw_strategy")
        f1, f2, s1, s2 = st.columns(4)
        fast_from = f1.number_input("Fast from", value=10, step=1, key="sw_fast_from")
        fast_to = f2.number_input("Fast to", value=20, step=1, key="sw_fast_to")
        slow_from = s1.number_input("Slow from", value=20, step=1, key="sw_slow_from")
        slow_to = s2.number_input("Slow to", value=30, step=1, key="sw_slow_to")
        g1, g2, g3 = st.columns([1, 1, 2])
        step = g1.number_input("Step", value=5, step=1, key="sw_step", help="Stride through both ranges, in bars")
        fee = g2.number_input("Fee (bps per side)", value=DEFAULT_FEE_BPS, step=1.0, key="sw_fee")
        run_on = g3.radio("Run on", ["runner", "service"], horizontal=True, key="sw_run_on",
                          help="service: the trading API runs it and calls back; same result")  # fmt: skip
        submitted = st.form_submit_button("Queue sweep", type="primary", disabled=not editor)
    if not editor:
        st.caption(f"Queuing a sweep needs the EDITOR role; you are {actor.role}.")
    if not submitted or tenant_id is None:
        return
    raw = {
        "ticker": ticker,
        "strategy_type": strategy,
        "fast_range": [int(fast_from), int(fast_to)],
        "slow_range": [int(slow_from), int(slow_to)],
        "step": int(step),
        "fee_bps": float(fee),
        "run_on": run_on,
    }
    try:
        with data.session() as s:
            job_id = submit_sweep(s, actor, int(tenant_id), raw, available)
    except Forbidden as exc:
        st.error(f"Not allowed: {exc}")
        return
    except InvalidSweep as exc:
        st.error("The sweep was not queued:\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in exc.errors.items()))
        return
    data.invalidate()
    st.session_state["flash"] = f"Queued sweep #{job_id}."
    st.rerun()


# -- running ---------------------------------------------------------------------------------


@st.fragment(run_every=5)
def running() -> None:
    """Queued and running sweeps; redrawn every few seconds while the page is open."""
    rows = _read(sweeps.sweep_jobs, TRADING_SWEEP, statuses=ACTIVE)
    if not rows:
        st.caption("No sweep is queued or running.")
        return
    for row in rows:
        fraction = min(1.0, max(0.0, row["progress"] or 0.0))
        st.progress(fraction, text=f"{_label(row)} · {row['status']} · {fraction * 100:.0f} %")


# -- one finished sweep ----------------------------------------------------------------------


def heatmap(table: pd.DataFrame, best: dict[str, Any] | None) -> go.Figure:
    grid = table.pivot_table(index="slow", columns="fast", values="sharpe", aggfunc="first", dropna=False)
    low, high = table["sharpe"].min(), table["sharpe"].max()
    # Centre the red-green scale on 0 only when Sharpe changes sign; otherwise use the whole scale.
    zmid = 0.0 if low < 0 < high else None
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(), x=grid.columns, y=grid.index, colorscale="RdYlGn", zmid=zmid,
            colorbar={"title": "Sharpe"}, hovertemplate="fast %{x} · slow %{y}<br>Sharpe %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    if best is not None:
        fig.add_trace(
            go.Scatter(
                x=[best["fast"]], y=[best["slow"]], mode="markers", name="best",
                marker={"symbol": "star", "size": 14, "color": "black"}, hoverinfo="skip",
            )
        )  # fmt: skip
    fig.update_layout(xaxis_title="Fast window (bars)", yaxis_title="Slow window (bars)", height=520, showlegend=False)
    return fig


def equity_figure(equity: pd.DataFrame, best: dict[str, Any], strategy: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=equity.index, y=equity["strategy"], name=f"{strategy} {best['fast']}/{best['slow']}"))
    fig.add_trace(go.Scatter(x=equity.index, y=equity["buy_and_hold"], name="Buy and hold"))
    fig.update_layout(yaxis_type="log", yaxis_title="Growth of 1 (log)", height=420, legend={"orientation": "h"})
    return fig


def show_sweep(job_id: int) -> None:
    sweep = _read(sweeps.sweep_result, TRADING_SWEEP, job_id)
    if sweep is None:
        st.warning(f"There is no trading sweep #{job_id}.")
        return
    if sweep["status"] != "COMPLETED" or not sweep["result"]:
        why = f" {sweep['error']}" if sweep["error"] else ""
        st.info(f"Sweep #{job_id} is {sweep['status'].lower()}, so it has no results to show.{why}")
        return
    result: dict[str, Any] = sweep["result"]
    params: dict[str, Any] = result.get("params") or sweep["params"] or {}
    report: dict[str, Any] = result.get("data") or {}
    best = result.get("best")
    strategy = str(params.get("strategy_type", "SMA"))
    m = st.columns(4)
    m[0].metric("Pairs", f"{result.get('pairs', 0):,}")
    m[1].metric("Best pair (fast/slow)", f"{best['fast']}/{best['slow']}" if best else "—")
    m[2].metric("Best Sharpe", f"{best['sharpe']:.3f}" if best and best.get("sharpe") is not None else "—")
    m[3].metric("Daily bars", f"{report.get('bars', 0):,}")
    gaps, nulls = (report.get(k, {}).get("count", 0) for k in ("gaps", "null_rows"))
    parts = [
        f"{report.get('ticker') or params.get('ticker') or 'ticker unknown'}"
        + (f" {report['first']} to {report['last']}" if report.get("first") and report.get("last") else ""),
        f"{report['calendar']} calendar" if report.get("calendar") else "",
        f"{plural(nulls, 'null row')} dropped, {plural(gaps, 'missing day')}, not filled",
        str(result.get("execution") or ""),
        f"fees {params['fee_bps']} bps per side" if params.get("fee_bps") is not None else "",
    ]
    st.caption(" · ".join(p for p in parts if p))
    store_url = data.settings().blob_url
    csv_key = result.get("csv_key") or blob_key(sweep["tenant_id"], job_id, "sweep.csv")
    try:
        body = _blob(store_url, csv_key)
    except BlobNotFound:
        st.warning(f"The result table of sweep #{job_id} is no longer in the blob store ({csv_key}). "
                   "Rerun the sweep from its job page to compute it again.")  # fmt: skip
        return
    except BlobError as exc:
        st.error(f"The sweep table could not be read from the blob store: {exc}")
        return
    table = pd.read_csv(io.BytesIO(body))
    st.subheader("Sharpe over (fast, slow)")
    st.plotly_chart(heatmap(table, best), key="sweep_heatmap")
    st.subheader("Best pair against buy-and-hold")
    if best is None or not result.get("equity_key"):
        st.info("No pair has a Sharpe ratio (no trades or flat prices), so there is no best pair to draw.")
    else:
        try:
            equity = pd.read_csv(io.BytesIO(_blob(store_url, result["equity_key"])), index_col="date", parse_dates=True)
        except BlobError as exc:
            st.warning(f"The equity curve could not be read from the blob store: {exc}")
        else:
            st.plotly_chart(equity_figure(equity, best, strategy), key="sweep_equity")
    st.subheader(f"Top {len(result.get('top') or [])} pairs by Sharpe")
    top = pd.DataFrame(result.get("top") or [])
    st.dataframe(top, hide_index=True, column_config=METRIC_COLUMNS, key="sweep_top")
    st.download_button(
        f"Download all {len(table):,} pairs (CSV)", safe_csv(body), key="sweep_download", mime="text/csv",
        file_name=f"zixly-sweep-{job_id}-{params.get('ticker', 'x')}-{strategy}.csv".lower(),
    )  # fmt: skip


# -- the page --------------------------------------------------------------------------------

actor = auth.require_actor()
st.title("Trading sweeps")
if flash := st.session_state.pop("flash", None):
    st.success(flash)

with st.expander("New sweep", expanded=True):
    submit_form()

st.subheader("Running")
running()

st.subheader("Finished")
done = _read(sweeps.sweep_jobs, TRADING_SWEEP, statuses=("COMPLETED", "FAILED", "CANCELLED"))
if not done:
    st.info("No finished sweeps yet.")
else:
    by_id = {row["id"]: row for row in done}
    wanted = st.query_params.get("sweep")
    # A ?sweep= link picks the sweep once; after that the selectbox leads (and updates the URL).
    if wanted and wanted != st.session_state.get("sw_url") and wanted.isdigit() and int(wanted) in by_id:
        st.session_state["sw_pick"] = int(wanted)
    elif st.session_state.get("sw_pick") not in by_id:
        # Open on the newest sweep that has results, not on a failed or cancelled one.
        st.session_state["sw_pick"] = next(
            (i for i, r in by_id.items() if r["status"] == "COMPLETED"), next(iter(by_id))
        )
    chosen = st.selectbox(
        "Sweep",
        list(by_id),
        key="sw_pick",
        format_func=lambda i: f"{_label(by_id[i])} · {by_id[i]['status'].lower()}",
    )
    if chosen is not None:
        st.query_params["sweep"] = st.session_state["sw_url"] = str(chosen)
        show_sweep(int(chosen))
