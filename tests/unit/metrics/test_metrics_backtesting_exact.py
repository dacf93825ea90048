"""compute_stats against Backtesting.py 0.6.6 on real data sets, exactly: every shared key bit for bit.

test_metrics_backtesting_parity.py allows 1e-9 of relative difference; the statistics are in fact identical,
so this holds them to ``==``. Covers daily stocks, hourly FX (252 days a year), 5-minute and 1-minute crypto
(365 days a year, durations in minutes) and monthly bars; the fast implementation must also equal the original
one (reference_stats.py) on each, still bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import reference_stats
from backtesting._util import _indicator_warmup_nbars
from test_metrics_backtesting_parity import LongOnlySmaCross, SmaCross, load_ohlc, run_backtest, to_trades
from test_metrics_fast_path import assert_identical

from tradeforge.data import load_sample_frame
from tradeforge.metrics import BACKTESTING_KEYS, compute_stats


def btc_perp_1m() -> pd.DataFrame:
    frame = load_sample_frame("BTC-PERP").rename(columns=str.capitalize)
    frame.index = pd.DatetimeIndex(frame.index).tz_convert(None).as_unit("ns")
    return frame


def inputs(df: pd.DataFrame, theirs: pd.Series) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Backtesting.py's equity curve, trades (closed and open), closes and warm-up as compute_stats arguments."""
    index = pd.DatetimeIndex(df.index)
    args = (
        theirs._equity_curve["Equity"].to_numpy(dtype=np.float64),
        index.tz_localize("UTC").asi8,
        to_trades(theirs, index),
    )
    kwargs = {
        "benchmark_close": df["Close"].to_numpy(dtype=np.float64),
        "warmup_bars": int(_indicator_warmup_nbars(theirs._strategy)),
    }
    return args, kwargs


def exactly_equal(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, pd.Timestamp):
        return bool(ours.tz_convert(None) == theirs)
    if isinstance(ours, pd.Timedelta) or ours is pd.NaT:
        return bool((pd.isna(ours) and pd.isna(theirs)) or ours == theirs)
    if isinstance(ours, int):
        return bool(ours == theirs)
    a, b = float(ours), float(theirs)
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1.0, a) == math.copysign(1.0, b))


@pytest.mark.parametrize(
    ("name", "strategy", "cash"),
    [
        ("GOOG-1d.csv.gz", SmaCross, 10_000),
        ("EURUSD-1h.csv.gz", SmaCross, 10_000),
        ("ETHBTC-5m.csv.gz", SmaCross, 10_000),
        ("BTCUSD-1mo.csv.gz", LongOnlySmaCross, 10_000),
        ("BTC-PERP 1m", SmaCross, 10_000_000),  # 45,031 one-minute bars, 1,453 trades
    ],
)
def test_stats_equal_backtesting_py_exactly(name: str, strategy: Any, cash: float) -> None:
    df = btc_perp_1m() if name == "BTC-PERP 1m" else load_ohlc(name)
    theirs = run_backtest(df, strategy, cash=cash)
    assert theirs["# Trades"] > 0
    args, kwargs = inputs(df, theirs)
    ours = compute_stats(*args, **kwargs)
    keys = [k for k in BACKTESTING_KEYS if k in theirs.index]
    assert len(keys) >= len(BACKTESTING_KEYS) - 1  # only Commissions [$] may be hidden (when 0)
    different = [
        f"{k}: ours={ours[k]!r} backtesting.py={theirs[k]!r}" for k in keys if not exactly_equal(ours[k], theirs[k])
    ]
    assert not different, "\n".join(different)
    # and the original implementation, on the same inputs, gives the same bits for every key
    assert_identical(ours, reference_stats.compute_stats(*args, **kwargs))
