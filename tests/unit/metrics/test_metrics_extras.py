"""Hand-computed values for tradeforge's own keys and helpers (not in Backtesting.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.trades import Trade
from tradeforge.metrics import (
    EXTRA_KEYS,
    STATS_KEYS,
    compute_stats,
    drawdown_series,
    format_stats,
    period_returns,
    stats_to_jsonable,
)

DAY = 86_400_000_000_000


def ts(*dates: str) -> np.ndarray:
    return np.array([pd.Timestamp(d, tz="UTC").value for d in dates], dtype=np.int64)


# --- period_returns / Months & Weeks Profitable ------------------------------------------------------------

DATES = ("2024-01-01", "2024-01-15", "2024-01-31", "2024-02-10", "2024-02-29", "2024-04-02")
EQUITY = np.array([100.0, 110.0, 105.0, 104.0, 103.0, 120.0])


def test_month_returns_chain_from_previous_month_end_and_skip_empty_months() -> None:
    got = period_returns(EQUITY, ts(*DATES), "M")
    # Jan: 100 -> 105; Feb: 105 -> 103; March has no step; Apr: 103 -> 120
    np.testing.assert_allclose(got, [105 / 100 - 1, 103 / 105 - 1, 120 / 103 - 1], rtol=1e-15)


def test_week_returns_use_monday_to_sunday_weeks() -> None:
    got = period_returns(EQUITY, ts(*DATES), "W")
    # weeks of Jan 1, Jan 15, Jan 29 (Wed 31st), Feb 5 (Sat 10th), Feb 26 (Thu 29th), Apr 1
    expected = [0.0, 110 / 100 - 1, 105 / 110 - 1, 104 / 105 - 1, 103 / 104 - 1, 120 / 103 - 1]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_sunday_closes_the_week_and_monday_opens_the_next() -> None:
    got = period_returns([100.0, 90.0, 95.0], ts("2024-01-06", "2024-01-07 23:59", "2024-01-08"), "W")
    np.testing.assert_allclose(got, [90 / 100 - 1, 95 / 90 - 1], rtol=1e-15)


def test_months_and_weeks_profitable_in_stats() -> None:
    stats = compute_stats(EQUITY, ts(*DATES), [])
    assert stats["Months Profitable [%]"] == pytest.approx(200 / 3)  # Jan and Apr of Jan, Feb, Apr
    assert stats["Weeks Profitable [%]"] == pytest.approx(100 / 3)  # 2 of 6 (a flat week is not profitable)


def test_single_step_period() -> None:
    stats = compute_stats([100.0], ts("2024-01-01"), [])
    assert stats["Months Profitable [%]"] == 0.0
    assert stats["Weeks Profitable [%]"] == 0.0
    assert stats["Return [%]"] == 0.0
    assert stats["Duration"] == pd.Timedelta(0)


# --- drawdown_series --------------------------------------------------------------------------------------


def test_drawdown_series_is_fraction_below_running_peak() -> None:
    got = drawdown_series([100.0, 120.0, 90.0, 120.0, 130.0, 65.0])
    np.testing.assert_allclose(got, [0.0, 0.0, -0.25, 0.0, 0.0, -0.5], rtol=0, atol=1e-15)
    assert np.all(got <= 0)


# --- trade-derived extras ---------------------------------------------------------------------------------


def make_trades(t: np.ndarray) -> list[Trade]:
    def closed(
        i: int,
        size: float,
        entry: float,
        exit_: float,
        bars: tuple[int, int],
        fees: tuple[float, float],
        multiplier: float = 1.0,
    ) -> Trade:
        return Trade(
            id=i,
            strategy="s",
            symbol="X",
            size=size,
            entry_price=entry,
            entry_ts=int(t[bars[0]]),
            entry_bar=bars[0],
            entry_order_id=i,
            multiplier=multiplier,
            entry_fee=fees[0],
            exit_price=exit_,
            exit_ts=int(t[bars[1]]),
            exit_bar=bars[1],
            exit_fee=fees[1],
        )

    return [
        closed(1, 10, 100.0, 110.0, (1, 3), (1.0, 1.1)),  # pnl 97.9, return 9.79%
        closed(2, -5, 200.0, 210.0, (3, 5), (1.0, 1.05)),  # pnl -52.05, return -5.205%
        closed(3, 2, 50.0, 60.0, (7, 8), (0.2, 0.2), multiplier=2.0),  # pnl 39.6, return 19.8%
        Trade(
            id=4,
            strategy="s",
            symbol="X",
            size=3,
            entry_price=100.0,
            entry_ts=int(t[8]),
            entry_bar=8,
            entry_order_id=4,
            entry_fee=0.3,
        ),
    ]


@pytest.fixture
def steps() -> np.ndarray:
    return np.arange(10, dtype=np.int64) * DAY + pd.Timestamp("2024-03-04", tz="UTC").value


def test_trade_extras_hand_computed(steps: np.ndarray) -> None:
    equity = np.linspace(10_000.0, 10_100.0, 10)
    stats = compute_stats(equity, steps, make_trades(steps))
    assert list(stats) == list(STATS_KEYS)
    assert list(stats)[-len(EXTRA_KEYS) :] == list(EXTRA_KEYS)
    assert stats["# Trades"] == 3 and stats["# Open Trades"] == 1
    assert stats["Win Rate [%]"] == pytest.approx(200 / 3)
    assert stats["Avg. Win [$]"] == pytest.approx((97.9 + 39.6) / 2, rel=1e-12)
    assert stats["Avg. Loss [$]"] == pytest.approx(-52.05, rel=1e-12)
    assert stats["Avg. Win [%]"] == pytest.approx((9.79 + 19.8) / 2, rel=1e-12)
    assert stats["Avg. Loss [%]"] == pytest.approx(-5.205, rel=1e-12)
    assert stats["Best Trade [%]"] == pytest.approx(19.8, rel=1e-12)
    assert stats["Worst Trade [%]"] == pytest.approx(-5.205, rel=1e-12)
    assert stats["Commissions [$]"] == pytest.approx(2.1 + 2.05 + 0.4, rel=1e-12)  # closed trades only
    assert stats["Fees Paid [$]"] == pytest.approx(2.1 + 2.05 + 0.4 + 0.3, rel=1e-12)  # open entry fee too
    turnover = (1000 + 1100) + (1000 + 1050) + (200 + 240) + 300
    assert stats["Turnover [$]"] == pytest.approx(turnover, rel=1e-12)
    assert stats["Fees / Gross Profit [%]"] == pytest.approx(4.85 / (100 + 4.85) * 100, rel=1e-12)
    # exposure: steps 1-5 and 7-8 of 10 are in a closed trade; the open trade does not count
    assert stats["Exposure Time [%]"] == pytest.approx(70.0)
    assert stats["Max. Trade Duration"] == pd.Timedelta(days=2)
    assert stats["Avg. Trade Duration"] == pd.Timedelta(days=2)  # (2 + 2 + 1) / 3 days, rounded up to days


def test_explicit_fees_and_turnover_override_the_trades(steps: np.ndarray) -> None:
    equity = np.linspace(10_000.0, 10_100.0, 10)
    stats = compute_stats(equity, steps, make_trades(steps), fees_paid=10.0, turnover=5_000.0)
    assert stats["Fees Paid [$]"] == 10.0
    assert stats["Turnover [$]"] == 5_000.0
    assert stats["Fees / Gross Profit [%]"] == pytest.approx(10 / 110 * 100, rel=1e-12)
    assert stats["Commissions [$]"] == pytest.approx(4.55, rel=1e-12)  # still the closed trades' fees


def test_fees_over_gross_profit_is_nan_without_gross_profit(steps: np.ndarray) -> None:
    equity = np.linspace(10_000.0, 9_990.0, 10)  # lost 10 with 4.85 of fees: gross profit -5.15
    stats = compute_stats(equity, steps, make_trades(steps))
    assert math.isnan(stats["Fees / Gross Profit [%]"])


def test_no_winners_or_no_losers_gives_nan_averages(steps: np.ndarray) -> None:
    equity = np.full(10, 10_000.0)
    winners_only = [make_trades(steps)[0]]
    stats = compute_stats(equity, steps, winners_only)
    assert stats["Avg. Win [$]"] == pytest.approx(97.9, rel=1e-12)
    assert math.isnan(stats["Avg. Loss [$]"]) and math.isnan(stats["Avg. Loss [%]"])
    assert math.isnan(stats["Kelly Criterion"]) and math.isnan(stats["SQN"])  # one trade: no std
    stats = compute_stats(equity, steps, [])
    for key in ("Avg. Win [$]", "Avg. Loss [$]", "Avg. Win [%]", "Avg. Loss [%]", "Fees / Gross Profit [%]"):
        assert math.isnan(stats[key]), key
    assert stats["Fees Paid [$]"] == 0.0 and stats["Turnover [$]"] == 0.0 and stats["# Open Trades"] == 0


def test_buy_and_hold_starts_at_warmup_bar(steps: np.ndarray) -> None:
    close = np.array([10.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0])
    equity = np.full(10, 1_000.0)
    assert compute_stats(equity, steps, [], benchmark_close=close)["Buy & Hold Return [%]"] == 500.0
    got = compute_stats(equity, steps, [], benchmark_close=close, warmup_bars=1)
    assert got["Buy & Hold Return [%]"] == 200.0
    no_benchmark = compute_stats(equity, steps, [])
    for key in ("Buy & Hold Return [%]", "Alpha [%]", "Beta"):
        assert math.isnan(no_benchmark[key]), key


# --- stats_to_jsonable / format_stats ---------------------------------------------------------------------


def test_stats_to_jsonable_is_strict_json(steps: np.ndarray) -> None:
    equity = np.linspace(10_000.0, 10_100.0, 10)
    equity[4] = 9_950.0
    stats = compute_stats(equity, steps, make_trades(steps))
    out = stats_to_jsonable(stats)
    assert list(out) == list(STATS_KEYS)
    json.dumps(out, allow_nan=False)  # raises on NaN/inf
    assert out["Start"] == "2024-03-04T00:00:00+00:00"
    assert out["End"] == "2024-03-13T00:00:00+00:00"
    assert out["Duration"] == "9 days 00:00:00"
    assert out["Max. Trade Duration"] == "2 days 00:00:00"
    assert out["# Trades"] == 3 and isinstance(out["# Trades"], int)
    assert out["Avg. Loss [$]"] == pytest.approx(-52.05)
    assert out["Buy & Hold Return [%]"] is None  # NaN -> None
    empty = stats_to_jsonable(compute_stats(np.full(10, 1.0), steps, []))
    assert empty["Max. Trade Duration"] is None  # NaT -> None
    assert empty["Win Rate [%]"] is None


def test_format_stats_rows() -> None:
    stats = compute_stats(EQUITY, ts(*DATES), [])
    rows = dict(format_stats(stats))
    assert list(rows) == list(STATS_KEYS)
    assert rows["Start"] == "2024-01-01 00:00:00+00:00"
    assert rows["Duration"] == "92 days 00:00:00"
    assert rows["Equity Final [$]"] == "120.00000"
    assert rows["Return [%]"] == "20.00000"
    assert rows["Months Profitable [%]"] == "66.66667"
    assert rows["# Trades"] == "0"
    assert rows["Win Rate [%]"] == "--"
    assert rows["Max. Trade Duration"] == "--"
