from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def test_the_overview_shows_kpis_and_three_charts(app: Callable[..., AppTest]) -> None:
    at = app("VIEWER")
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Jobs (last 24 hours)"] == "39"
    assert metrics["Queue depth"] == "1"
    assert metrics["Live runners"] == "1" and metrics["Busy slots"] == "1 / 4"
    assert metrics["Failed, needing attention"] == "4"
    assert len(at.get("plotly_chart")) == 3
    # README: the duration percentiles are approximate (rolled-up buckets, db/rollups.py) and say so.
    assert any("two significant digits" in c.value for c in at.caption)
