"""The Trading sweeps page: queue a sweep (EDITOR, validated like the API), watch progress, study a result.

The finished sweep is made by the real workflow (``sync.workflows.trading_sweep.run``) against the
sandbox's price API, writing its CSVs into the blob folder the dashboard reads (ZIXLY_BLOB_URL).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import actor
from dashboard_seed import Seeded
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from app.sweep_actions import submit_sweep
from app.sweep_form import InvalidSweep, available_tickers, check_sweep
from db import jobs, sweeps
from db.auth import Forbidden
from db.blobs import LocalBlobStore
from db.models import AuditEntry, PipelineJob, Tenant
from jobtypes import TRADING_SWEEP, InvalidParams, validate_params
from sandbox.app import create_sandbox_app
from settings import Settings
from sync.workflows.trading_sweep import run

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "sweeps.py")
EXAMPLE = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 30], "step": 5, "strategy_type": "SMA"}


class Context:
    """The slice of ``sync.context.JobContext`` the workflow uses, without a runner."""

    remaining_s = 600.0

    def __init__(self, settings: Settings, tenant_id: int, job_id: int) -> None:
        self.settings, self.tenant_id, self.job_id = settings, tenant_id, job_id

    def step(self, message: str, kind: str = "info", **_: Any) -> None:
        pass


def page(role: str, query: dict[str, str] | None = None) -> AppTest:
    # The page runs on its own (the router line in app/main.py is the lead's to add); the actor is
    # put in the session as a login would.
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["actor"] = actor(role)
    if query:
        at.query_params.update(query)
    return at.run()


def sweep_jobs(session: Session) -> list[PipelineJob]:
    session.expire_all()
    return list(session.scalars(select(PipelineJob).where(PipelineJob.job_type == TRADING_SWEEP)))


@pytest.fixture
def finished_sweep(db_session: Session, seeded: Seeded, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """A COMPLETED trading-sweep job whose result and blobs come from the real workflow."""
    job = PipelineJob(tenant_id=seeded.acme, job_type="trading-sweep", status="QUEUED", params=EXAMPLE)
    db_session.add(job)
    db_session.commit()
    settings = Settings(
        env="test", var_dir=tmp_path / "var", blob_url=str(tmp_path / "blobs"),
        prices_url="http://sandbox.test/prices", _env_file=None,
    )  # fmt: skip
    workflow: Any = run  # registered as a plain handler; the test seams are keyword arguments
    result: dict[str, Any] = workflow(
        Context(settings, seeded.acme, job.id), EXAMPLE,
        transport=httpx.WSGITransport(app=create_sandbox_app(settings)), blobs=LocalBlobStore(settings.blob_url),
    )  # fmt: skip
    job.status, job.result, job.completed_at = "COMPLETED", result, dt.datetime.now(dt.UTC)
    db_session.commit()
    return job.id, result


# -- the form checks against the listener's tickers -------------------------------------------------------


def _outcome(validate: Any, raw: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", validate(raw)
    except InvalidParams as exc:
        first: dict[str, str] = {}
        for error in exc.errors:
            first.setdefault(error.field.split(".")[0], error.message)
        return "rejected", first
    except InvalidSweep as exc:
        return "rejected", exc.errors


def test_the_form_offers_the_tickers_and_history_lengths_the_listener_validates_against() -> None:
    def listener(raw: dict[str, Any]) -> Any:
        return validate_params(TRADING_SWEEP, raw)  # what POST /webhook/jobs runs

    def form(raw: dict[str, Any]) -> Any:
        return check_sweep(raw).model_dump(mode="json")  # the page's default: the same bundled tickers

    assert set(available_tickers()) == {"BTC-USD", "ETH-USD", "SPY"}
    for ticker, bars in available_tickers().items():
        for last in (bars - 1, bars):  # the longest window that fits, and one bar too long
            raw = {"ticker": ticker, "fast_range": [10, 11], "slow_range": [bars - 2, last]}
            verdict = _outcome(form, raw)
            assert verdict == _outcome(listener, raw)
            assert verdict[0] == ("ok" if last < bars else "rejected")


# -- submitting ----------------------------------------------------------------------------------


def test_an_editor_queues_a_trading_sweep_from_the_form(app_db: Any, db_session: Session, seeded: Seeded) -> None:
    at = page("EDITOR")
    assert not at.exception, at.exception
    at.selectbox(key="sw_ticker").set_value("ETH-USD")
    at.radio(key="sw_strategy").set_value("EMA")
    at.number_input(key="sw_fee").set_value(5.0)
    at.button[[b.label for b in at.button].index("Queue sweep")].click().run()
    assert not at.exception, at.exception
    (job,) = sweep_jobs(db_session)
    assert at.success[0].value == f"Queued sweep #{job.id}."
    assert (job.status, job.tenant_id, job.created_by) == ("QUEUED", seeded.acme, "editor@example.com")
    assert job.params == {
        "ticker": "ETH-USD", "strategy_type": "EMA", "step": 5, "fast_range": [10, 20], "slow_range": [20, 30],
        "fee_bps": 5.0, "start": None, "end": None, "run_on": "runner", "service_timeout_s": 600,
    }  # fmt: skip
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "sweep.submit")).one()
    assert (entry.actor, entry.allowed, entry.details) == (
        "editor@example.com", True, {"job_id": job.id, "ticker": "ETH-USD", "pairs": 8},
    )  # fmt: skip
    assert "ETH-USD EMA fast 10–20 slow 20–30" in at.get("progress")[0].proto.text  # shown as running


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sw_fast_from": 30, "sw_fast_to": 40, "sw_slow_from": 10, "sw_slow_to": 30}, "no pair has fast < slow"),
        ({"sw_step": 0}, "step must be a positive number of bars, got 0"),
        ({"sw_slow_to": 5000}, "the longest slow window (5000 bars) does not fit the history of BTC-USD"),
    ],
)
def test_the_form_refuses_bad_params_with_the_reason_and_queues_nothing(
    app_db: Any, db_session: Session, fields: dict[str, int], reason: str
) -> None:
    at = page("EDITOR")
    for key, value in fields.items():
        at.number_input(key=key).set_value(value)
    at.button[[b.label for b in at.button].index("Queue sweep")].click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and reason in at.error[0].value
    assert not at.success
    assert sweep_jobs(db_session) == []


def test_a_viewer_sees_the_submit_button_disabled(app_db: Any) -> None:
    at = page("VIEWER")
    assert not at.exception, at.exception
    assert at.button[[b.label for b in at.button].index("Queue sweep")].disabled
    assert "needs the EDITOR role" in at.caption[0].value


def test_a_viewer_submitting_directly_is_refused_audited_and_queues_nothing(
    db_session: Session, seeded: Seeded
) -> None:
    with pytest.raises(Forbidden):
        submit_sweep(db_session, actor("VIEWER"), seeded.acme, EXAMPLE)
    entry = db_session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.actor, entry.action, entry.target, entry.allowed) == (
        "viewer@example.com", "sweep.submit", f"tenant:{seeded.acme}", False,
    )  # fmt: skip
    assert sweep_jobs(db_session) == []


def test_the_action_checks_params_even_without_the_form(db_session: Session, seeded: Seeded) -> None:
    with pytest.raises(InvalidSweep) as info:
        submit_sweep(db_session, actor("EDITOR"), seeded.acme, {**EXAMPLE, "ticker": "DOGE-USD"})
    assert info.value.errors["ticker"].startswith("unknown ticker 'DOGE-USD'")
    assert db_session.scalar(select(func.count()).select_from(PipelineJob).where(
        PipelineJob.job_type == TRADING_SWEEP)) == 0  # fmt: skip


# -- watching and studying ---------------------------------------------------------------------


def test_a_running_sweep_shows_its_progress(app_db: Any, db_session: Session, seeded: Seeded) -> None:
    job_id = submit_sweep(db_session, actor("EDITOR"), seeded.bolt, {**EXAMPLE, "ticker": "SPY"})
    db_session.execute(
        PipelineJob.__table__.update().where(PipelineJob.id == job_id).values(status="RUNNING")  # type: ignore[attr-defined]
    )
    jobs.set_progress(db_session, job_id, 0.4)
    db_session.commit()
    at = page("VIEWER")
    assert not at.exception, at.exception
    (bar,) = at.get("progress")
    assert bar.proto.value == 40
    assert bar.proto.text.startswith(f"#{job_id} · Bolt Bikes · SPY SMA") and "RUNNING · 40 %" in bar.proto.text


def test_a_finished_sweep_shows_heatmap_equity_top_pairs_and_the_csv(
    app_db: Any, finished_sweep: tuple[int, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, result = finished_sweep
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", KeptMedia)
    at = page("VIEWER", {"sweep": str(job_id)})
    assert not at.exception, at.exception
    heat, equity = (json.loads(chart.proto.spec) for chart in at.get("plotly_chart"))

    # The heatmap: every (fast, slow) of the grid, Sharpe values from the full sweep.csv.
    table = pd.read_csv(tmp_path / "blobs" / result["csv_key"])
    assert len(table) == result["pairs"] == 8
    cells = heat["data"][0]
    x, y, z = (_array(cells[k]) for k in ("x", "y", "z"))
    assert cells["type"] == "heatmap" and x == [10, 15, 20] and y == [20, 25, 30]
    sharpe = {(f, s): v for f, s, v in zip(table["fast"], table["slow"], table["sharpe"], strict=True)}
    for i, slow in enumerate(y):
        for j, fast in enumerate(x):
            if fast >= slow:
                assert math.isnan(z[i][j])  # not a pair
            else:
                assert z[i][j] == pytest.approx(sharpe[(fast, slow)], nan_ok=True)
    best = result["best"]
    assert (_array(heat["data"][1]["x"]), _array(heat["data"][1]["y"])) == ([best["fast"]], [best["slow"]])

    # The equity curve of the best pair against buy-and-hold, per date of equity.csv.
    curve = pd.read_csv(tmp_path / "blobs" / result["equity_key"])
    assert [trace["name"] for trace in equity["data"]] == [f"SMA {best['fast']}/{best['slow']}", "Buy and hold"]
    assert _array(equity["data"][0]["y"]) == pytest.approx(curve["strategy"].tolist())
    assert _array(equity["data"][1]["y"]) == pytest.approx(curve["buy_and_hold"].tolist())

    # The metrics table: the top pairs, best first.
    top = at.dataframe[0].value
    assert list(zip(top["fast"], top["slow"], strict=True)) == [(r["fast"], r["slow"]) for r in result["top"]]
    assert top["sharpe"].iloc[0] == pytest.approx(result["best"]["sharpe"])

    # The download serves the stored sweep.csv, byte for byte (numbers only: nothing for a formula).
    (button,) = at.get("download_button")
    served = _media(button.proto.url)
    assert served.filename == f"zixly-sweep-{job_id}-btc-usd-sma.csv"
    assert served.content == (tmp_path / "blobs" / result["csv_key"]).read_bytes()


def _array(value: Any) -> list[Any]:
    """A plotly JSON array: a plain list, or a typed array ({dtype, bdata, shape}) decoded."""
    if not isinstance(value, dict):
        return list(value)
    array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    if "shape" in value:
        array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
    return array.tolist()  # type: ignore[no-any-return]


class KeptMedia(MemoryMediaFileStorage):
    """AppTest's in-memory media store, kept after the run so a test can read a download."""

    last: KeptMedia | None = None

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        KeptMedia.last = self


def _media(url: str) -> MemoryFile:
    assert KeptMedia.last is not None
    return KeptMedia.last.get_file(url.rsplit("/", 1)[-1].split(".")[0])


def test_with_no_finished_sweep_the_page_says_so(app_db: Any, db_session: Session, seeded: Seeded) -> None:
    at = page("VIEWER")
    assert not at.exception, at.exception
    assert "No finished sweeps yet." in [i.value for i in at.info]


def test_picking_another_sweep_after_a_link_shows_that_one(
    app_db: Any, db_session: Session, seeded: Seeded, finished_sweep: tuple[int, dict[str, Any]]
) -> None:
    failed = PipelineJob(
        tenant_id=seeded.bolt, job_type="trading-sweep", status="FAILED", params={**EXAMPLE, "ticker": "SPY"},
        error="SweepRejected: the longest slow window (30 bars) does not fit the 12 bars of SPY",
    )  # fmt: skip
    db_session.add(failed)
    db_session.commit()
    at = page("VIEWER", {"sweep": str(finished_sweep[0])})
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="sw_pick").set_value(failed.id).run()
    assert not at.exception, at.exception
    assert at.query_params["sweep"] == str(failed.id)
    assert not at.get("plotly_chart") and not at.get("download_button")
    assert (
        f"Sweep #{failed.id} is failed, so it has no results to show. SweepRejected: the longest" in at.info[-1].value
    )


def test_the_page_opens_on_the_newest_sweep_with_results_never_on_unreadable_params(
    app_db: Any, db_session: Session, seeded: Seeded, finished_sweep: tuple[int, dict[str, Any]]
) -> None:
    # Newer than the finished sweep: one that failed and one whose params are not a sweep's.
    for params in ({**EXAMPLE, "ticker": "SPY"}, {"demo": True}):
        db_session.add(PipelineJob(tenant_id=seeded.bolt, job_type="trading-sweep", status="FAILED", params=params,
                                   error="the price feed answered 503"))  # fmt: skip
    db_session.commit()
    at = page("VIEWER")
    assert not at.exception, at.exception
    assert at.selectbox(key="sw_pick").value == finished_sweep[0]
    assert len(at.get("plotly_chart")) == 2
    labels = at.selectbox(key="sw_pick").options
    assert not any("?" in label or "None" in label for label in labels)
    assert any("params not readable as a sweep" in label for label in labels)


def test_the_result_table_missing_from_the_blob_store_is_said_in_words(
    app_db: Any, db_session: Session, seeded: Seeded, finished_sweep: tuple[int, dict[str, Any]], tmp_path: Path
) -> None:
    (tmp_path / "blobs" / finished_sweep[1]["csv_key"]).unlink()
    at = page("VIEWER", {"sweep": str(finished_sweep[0])})
    assert not at.exception, at.exception
    assert "is no longer in the blob store" in at.warning[0].value and "no blob '" not in at.warning[0].value


def test_only_the_button_queues_a_sweep_enter_in_a_number_field_does_not(app_db: Any) -> None:
    at = page("EDITOR")
    (form,) = at.get("form")
    assert form.proto.form.enter_to_submit is False


def test_the_sweep_list_reads_progress_on_both_databases(session: Session) -> None:
    tenant = Tenant(name="Acme", timezone="UTC")
    session.add(tenant)
    session.flush()
    queued = jobs.enqueue(session, tenant_id=tenant.id, job_type="trading-sweep", params=EXAMPLE).id
    running = jobs.enqueue(session, tenant_id=tenant.id, job_type="trading-sweep", params=EXAMPLE).id
    jobs.enqueue(session, tenant_id=tenant.id, job_type="noop")
    jobs.set_progress(session, running, 0.25)
    session.commit()
    rows = {row["id"]: row for row in sweeps.sweep_jobs(session, TRADING_SWEEP, statuses=("QUEUED",))}
    assert set(rows) == {queued, running}
    assert (rows[queued]["progress"], rows[running]["progress"]) == (None, 0.25)
    assert rows[running]["tenant"] == "Acme" and rows[running]["params"]["ticker"] == "BTC-USD"
