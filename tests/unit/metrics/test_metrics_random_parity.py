"""Seeded random equity curves and trades, fed to compute_stats and to Backtesting.py's own compute_stats.

Covers bar periods Backtesting.py treats differently (business days, 24/7 days, hours, minutes, weeks,
month ends, years) and awkward curves (flat, only rising, a one-step dip at the very end, a wipe-out).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting._stats import compute_stats as bt_compute_stats

from tradeforge.core.trades import Trade
from tradeforge.metrics import BACKTESTING_KEYS, compute_stats

DURATION_KEYS = {
    "Max. Drawdown Duration",
    "Avg. Drawdown Duration",
    "Max. Trade Duration",
    "Avg. Trade Duration",
}


def make_index(kind: str, n: int) -> pd.DatetimeIndex:
    return _make_index(kind, n).as_unit("ns")  # pandas 3 builds microsecond indexes; asi8 must be ns


def _make_index(kind: str, n: int) -> pd.DatetimeIndex:
    start = "2015-01-01"
    if kind == "bdays":
        return pd.bdate_range(start, periods=n)
    if kind == "days":
        return pd.date_range(start, periods=n, freq="D")
    if kind == "hours":
        return pd.date_range(start, periods=n, freq="h")
    if kind == "minutes":
        return pd.date_range(start, periods=n, freq="min")
    if kind == "weeks":
        return pd.date_range(start, periods=n, freq="W-FRI")
    if kind == "months":
        return pd.date_range(start, periods=n, freq="ME")
    if kind == "years":
        return pd.date_range("1900-12-31", periods=n, freq="YE")
    raise ValueError(kind)


def make_equity(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "walk":
        return 10_000 * np.cumprod(1 + rng.normal(0.0005, 0.01, n))
    if shape == "flat":
        return np.full(n, 10_000.0)
    if shape == "rising":
        return 10_000 + np.arange(n, dtype=np.float64)
    if shape == "dip_at_end":  # only the last step is below the peak
        eq = 10_000 + np.arange(n, dtype=np.float64)
        eq[-1] = eq[-2] - 50
        return eq
    if shape == "plateaus":  # equal highs: drawdown exactly 0 several times
        return 10_000 + np.round(rng.normal(0, 3, n).cumsum()).clip(-5, 5) * 10
    if shape == "wipeout":
        eq = 10_000 * np.cumprod(1 + rng.normal(0.0, 0.02, n))
        eq[n // 2 :] = 0.0
        eq[0] = 10_000
        return eq
    raise ValueError(shape)


def make_trades(index: pd.DatetimeIndex, n_trades: int, rng: np.random.Generator) -> list[Trade]:
    n = len(index)
    trades = []
    for i in range(n_trades):
        entry = int(rng.integers(0, n))
        exit_ = int(rng.integers(entry, n))
        size = float(rng.choice([-1, 1]) * rng.integers(1, 50))
        entry_price = float(rng.uniform(50, 150))
        exit_price = entry_price if i % 7 == 3 else float(entry_price * rng.uniform(0.8, 1.25))
        fee = abs(size) * entry_price * 0.001 if i % 5 else 0.0
        trades.append(
            Trade(
                id=i, strategy="s", symbol="X", size=size, entry_price=entry_price,
                entry_ts=int(index[entry].tz_localize("UTC").value), entry_bar=entry, entry_order_id=i,
                entry_fee=fee, exit_price=exit_price, exit_ts=int(index[exit_].tz_localize("UTC").value),
                exit_bar=exit_, exit_fee=fee / 2,
            )
        )  # fmt: skip
    return trades


def bt_trades_frame(trades: list[Trade]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "EntryBar": [t.entry_bar for t in trades],
            "ExitBar": [t.exit_bar for t in trades],
            "PnL": [t.pnl for t in trades],
            "ReturnPct": [t.return_pct for t in trades],
            "Duration": pd.to_timedelta([t.exit_ts - t.entry_ts for t in trades], unit="ns"),
        }
    )


def compare(ours: dict[str, Any], theirs: pd.Series) -> list[str]:
    bad = []
    for key in BACKTESTING_KEYS:
        if key not in theirs.index:
            continue
        a, b = ours[key], theirs[key]
        if key in ("Start", "End"):
            ok = a.tz_convert(None) == b
        elif key in DURATION_KEYS or key == "Duration":
            # Backtesting.py returns a float (NaN, or a drawdown depth when the only dip is the last step)
            # where a duration is undefined; we return NaT there.
            ok = (a == b) if isinstance(b, pd.Timedelta) and not pd.isna(b) else a is pd.NaT
        else:
            a, b = float(a), float(b)
            ok = (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        if not ok:
            bad.append(f"{key}: ours={a!r} backtesting.py={b!r}")
    return bad


CASES = [
    (kind, shape, n_trades, seed)
    for seed, (kind, shape, n_trades) in enumerate(
        [
            ("bdays", "walk", 25), ("days", "walk", 25), ("hours", "walk", 40), ("minutes", "walk", 10),
            ("weeks", "walk", 12), ("months", "walk", 8), ("years", "walk", 3), ("bdays", "flat", 0),
            ("days", "rising", 1), ("bdays", "dip_at_end", 2), ("hours", "plateaus", 6),
            ("bdays", "wipeout", 5), ("days", "walk", 0), ("minutes", "plateaus", 1), ("months", "rising", 4),
        ]
    )
]  # fmt: skip


@pytest.mark.parametrize(("kind", "shape", "n_trades", "seed"), CASES)
@pytest.mark.parametrize("risk_free_rate", [0.0, 0.02])
def test_random_curves_match_backtesting_compute_stats(
    kind: str, shape: str, n_trades: int, seed: int, risk_free_rate: float
) -> None:
    rng = np.random.default_rng(seed)
    n = 30 if kind == "years" else 400
    index = make_index(kind, n)
    equity = make_equity(shape, n, rng)
    close = 100 * np.cumprod(1 + rng.normal(0.0003, 0.012, n))
    trades = make_trades(index, n_trades, rng)
    theirs = bt_compute_stats(
        trades=bt_trades_frame(trades),
        equity=equity,
        ohlc_data=pd.DataFrame({"Close": close}, index=index),
        strategy_instance=None,
        risk_free_rate=risk_free_rate,
    )
    ours = compute_stats(
        equity, index.tz_localize("UTC").asi8, trades, benchmark_close=close, risk_free_rate=risk_free_rate
    )
    assert compare(ours, theirs) == []
    assert ours["# Trades"] == n_trades
    assert ours["Commissions [$]"] == pytest.approx(sum(t.fees for t in trades), rel=1e-12)


def test_dip_at_end_is_the_documented_duration_difference() -> None:
    """Backtesting.py's only divergence from us: a drawdown of just the last step yields a float duration."""
    index = make_index("bdays", 10)
    equity = 100.0 + np.arange(10, dtype=np.float64)
    equity[-1] = 90.0
    theirs = bt_compute_stats(
        trades=bt_trades_frame([]), equity=equity, ohlc_data=pd.DataFrame({"Close": equity}, index=index),
        strategy_instance=None,
    )  # fmt: skip
    ours = compute_stats(equity, index.tz_localize("UTC").asi8, [], benchmark_close=equity)
    assert not isinstance(theirs["Max. Drawdown Duration"], pd.Timedelta)
    assert ours["Max. Drawdown Duration"] is pd.NaT and ours["Avg. Drawdown Duration"] is pd.NaT
    dip = 1 - 90.0 / 108.0
    assert ours["Avg. Drawdown [%]"] == pytest.approx(-dip * 100, rel=1e-12)  # same as Backtesting.py
    assert ours["Max. Drawdown [%]"] == pytest.approx(-dip * 100, rel=1e-12)
    assert compare(ours, theirs) == []
