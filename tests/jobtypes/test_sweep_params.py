"""Sweep parameters: every bad request is refused with the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from jobtypes.sweep import MAX_PAIRS, validate_sweep_params

AVAILABLE = {"BTC-USD": 3541, "ETH-USD": 2392, "SPY": 7802}
EXAMPLE = {"ticker": "BTC-USD", "fast_range": [10, 20], "slow_range": [20, 30], "step": 5, "strategy_type": "SMA"}


def rejection(**changes: Any) -> tuple[str, str]:
    raw = {**EXAMPLE, **changes}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ValidationError) as info:
        validate_sweep_params(raw, AVAILABLE)
    error = info.value.errors()[0]
    return ".".join(str(part) for part in error["loc"]), error["msg"]


def test_the_design_example_is_valid_and_has_eight_pairs() -> None:
    params = validate_sweep_params(EXAMPLE, AVAILABLE)
    fast, slow = params.pairs()
    assert list(zip(fast.tolist(), slow.tolist(), strict=True)) == [
        (10, 20),
        (10, 25),
        (10, 30),
        (15, 20),
        (15, 25),
        (15, 30),
        (20, 25),
        (20, 30),
    ]
    assert params.pair_count == 8
    assert params.fee_bps == 10.0 and params.start is None


def test_tickers_are_matched_case_insensitively() -> None:
    assert validate_sweep_params({**EXAMPLE, "ticker": "btc-usd"}, AVAILABLE).ticker == "BTC-USD"


def test_it_rejects_fast_windows_never_below_slow_ones() -> None:
    field, msg = rejection(fast_range=[30, 40], slow_range=[10, 30])
    assert field == "slow_range" and "no pair has fast < slow" in msg


def test_it_rejects_an_empty_range() -> None:
    field, msg = rejection(fast_range=[20, 10])
    assert field == "fast_range" and "empty" in msg


@pytest.mark.parametrize("step", [0, -5])
def test_it_rejects_a_step_that_is_not_positive(step: int) -> None:
    field, msg = rejection(step=step)
    assert field == "step" and "positive" in msg


def test_it_rejects_an_unknown_ticker_and_lists_the_known_ones() -> None:
    field, msg = rejection(ticker="DOGE-USD")
    assert field == "ticker" and "unknown ticker" in msg and "BTC-USD, ETH-USD, SPY" in msg


def test_it_rejects_more_than_the_pair_limit() -> None:
    field, msg = rejection(ticker="SPY", fast_range=[1, 1000], slow_range=[2, 7000], step=1)
    assert field == "slow_range" and f"at most {MAX_PAIRS:,}" in msg


def test_it_rejects_a_window_longer_than_the_history() -> None:
    field, msg = rejection(ticker="ETH-USD", fast_range=[10, 20], slow_range=[100, 2500], step=10)
    assert field == "slow_range" and "does not fit the history" in msg and "2392 bars" in msg


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"strategy_type": "WMA"}, "strategy_type"),
        ({"fee_bps": -1}, "fee_bps"),
        ({"fast_range": [0, 5]}, "fast_range.0"),
        ({"slow_range": [20]}, "slow_range.1"),
        ({"colour": "red"}, "colour"),
        ({"start": "2024-01-01", "end": "2023-01-01"}, "end"),
    ],
)
def test_it_names_the_field_of_other_mistakes(changes: dict[str, Any], field: str) -> None:
    assert rejection(**changes)[0] == field


def test_a_grid_of_exactly_the_limit_is_accepted() -> None:
    # fast 1..100 x slow 101..1100 = 100 x 1000 pairs, all with fast < slow.
    params = validate_sweep_params({"ticker": "SPY", "fast_range": [1, 100], "slow_range": [101, 1100]}, AVAILABLE)
    assert params.pair_count == MAX_PAIRS
