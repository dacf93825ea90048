"""compute_stats and helpers reject bad input with tradeforge errors that say what is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.trades import Trade
from tradeforge.metrics import compute_stats, drawdown_series, period_returns

DAY = 86_400_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 UTC
STEPS = T0 + np.arange(5, dtype=np.int64) * DAY
EQUITY = np.array([100.0, 101.0, 99.0, 102.0, 103.0])


def trade(**overrides: Any) -> Trade:
    fields: dict[str, Any] = dict(
        id=7, strategy="s", symbol="X", size=1.0, entry_price=10.0, entry_ts=int(STEPS[1]), entry_bar=1,
        entry_order_id=1, exit_price=11.0, exit_ts=int(STEPS[3]), exit_bar=3,
    )  # fmt: skip
    fields.update(overrides)
    return Trade(**fields)


def test_valid_inputs_pass() -> None:
    stats = compute_stats(EQUITY, STEPS, [trade()], benchmark_close=EQUITY)
    assert stats["# Trades"] == 1
    assert stats["Return [%]"] == pytest.approx(3.0)


def test_datetime64_timestamps_are_accepted() -> None:
    as_dt = STEPS.astype("datetime64[ns]").astype("datetime64[us]")
    assert compute_stats(EQUITY, as_dt, [])["Start"] == compute_stats(EQUITY, STEPS, [])["Start"]


@pytest.mark.parametrize(
    ("equity", "timestamps", "match"),
    [
        (np.array([]), np.array([], dtype=np.int64), "non-empty"),
        (EQUITY[:4], STEPS, "one timestamp per"),
        (EQUITY, STEPS[:4], "one timestamp per"),
        (EQUITY.reshape(5, 1), STEPS, "1-D"),
        (EQUITY, STEPS[[0, 2, 1, 3, 4]], "strictly increasing, step 2"),
        (EQUITY, STEPS[[0, 1, 1, 3, 4]], "strictly increasing"),
        (np.array([100.0, np.nan, 99.0, 102.0, 103.0]), STEPS, "finite, step 1"),
        (np.array([0.0, 1.0, 1.0, 1.0, 1.0]), STEPS, "first equity value must be positive"),
        (EQUITY, STEPS.astype(np.float64), "int64 nanoseconds"),
    ],
)
def test_bad_equity_or_timestamps(equity: np.ndarray, timestamps: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        compute_stats(equity, timestamps, [])


def test_bad_benchmark() -> None:
    with pytest.raises(DataError, match="one close price per step"):
        compute_stats(EQUITY, STEPS, [], benchmark_close=EQUITY[:3])
    with pytest.raises(DataError, match="finite and positive, step 2"):
        compute_stats(EQUITY, STEPS, [], benchmark_close=np.array([1.0, 2.0, np.nan, 3.0, 4.0]))


@pytest.mark.parametrize("rate", [1.0, -1.0, 5.0])
def test_risk_free_rate_must_be_a_fraction(rate: float) -> None:
    with pytest.raises(ConfigError, match="risk_free_rate"):
        compute_stats(EQUITY, STEPS, [], risk_free_rate=rate)


@pytest.mark.parametrize("warmup", [-1, 5])
def test_warmup_bars_must_be_a_step(warmup: int) -> None:
    with pytest.raises(ConfigError, match="warmup_bars"):
        compute_stats(EQUITY, STEPS, [], benchmark_close=EQUITY, warmup_bars=warmup)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"entry_bar": 5}, "entry_bar 5 outside"),
        ({"entry_bar": -2}, "entry_bar -2 outside"),
        ({"exit_bar": 0}, "exit_bar 0 before its entry_bar"),
        ({"exit_bar": 9}, "exit_bar 9"),
        ({"exit_price": float("nan")}, "finite exit_price"),
        ({"exit_ts": int(STEPS[0])}, "exit_ts >= entry_ts"),
        ({"size": 0.0}, "non-zero size"),
        ({"entry_price": 0.0}, "positive entry_price"),
    ],
)
def test_bad_trades(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(DataError, match=match):
        compute_stats(EQUITY, STEPS, [trade(), trade(**overrides)])


def test_open_trade_needs_only_valid_entry() -> None:
    open_trade = trade(exit_bar=-1, exit_ts=-1, exit_price=float("nan"))
    assert compute_stats(EQUITY, STEPS, [open_trade])["# Open Trades"] == 1


def test_helpers_validate() -> None:
    with pytest.raises(ConfigError, match="'M'"):
        period_returns(EQUITY, STEPS, "Q")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="same length"):
        period_returns(EQUITY, STEPS[:2], "M")
    with pytest.raises(DataError, match="strictly increasing"):
        period_returns(EQUITY, STEPS[::-1], "W")
    with pytest.raises(DataError, match="non-empty"):
        drawdown_series([])


def test_calendar_timestamps_count_local_days_and_are_checked() -> None:
    # five steps 20 hours apart from 2024-01-01 00:00 UTC fall on four UTC days; seen 10 hours later (a local
    # wall clock) they fall on five days: the calendar changes the daily returns, not the durations
    steps = T0 + np.arange(5, dtype=np.int64) * (20 * DAY // 24)
    utc = compute_stats(EQUITY, steps, [])
    local = compute_stats(EQUITY, steps, [], calendar_timestamps=steps + 10 * DAY // 24)
    assert local["Duration"] == utc["Duration"]
    assert local["Volatility (Ann.) [%]"] != utc["Volatility (Ann.) [%]"]
    with pytest.raises(DataError, match="calendar_timestamps has"):
        compute_stats(EQUITY, steps, [], calendar_timestamps=steps[:4])
    with pytest.raises(DataError, match="must not decrease: step 2"):
        compute_stats(EQUITY, steps, [], calendar_timestamps=steps[[0, 1, 0, 3, 4]])
    with pytest.raises(DataError, match="wall-clock"):
        compute_stats(EQUITY, steps, [], calendar_timestamps=steps.astype(float))
