"""The vectorized compute_stats returns exactly what the original implementation (reference_stats.py) returns.

Bit for bit: floats compare with ``==`` (and the same sign of zero), NaN only where the reference has NaN,
Timestamps/Timedeltas by nanosecond value, unit and time zone, and every value has the reference's type. The
helpers that replace pandas (resampling, medians and means of durations, rounding) are checked against pandas
itself on inputs built to hit their edge cases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import reference_stats
from test_metrics_random_parity import CASES, make_equity, make_index, make_trades

from tradeforge.core.trades import Trade
from tradeforge.metrics import STATS_KEYS, compute_stats
from tradeforge.metrics.periods import RULE_UNITS, Calendar, data_period_ns, mean_ns, resolution_ns, to_duration
from tradeforge.metrics.trade_stats import TradeArrays, default_turnover, exposure_pct

NS_PER_DAY = 86_400_000_000_000


def identical(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, pd.Timestamp):
        return bool(a.value == b.value and a.unit == b.unit and str(a.tz) == str(b.tz))
    if isinstance(a, pd.Timedelta):
        return bool(a.value == b.value and a.unit == b.unit)
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a is b or a == b)  # ints; NaT is a singleton


def assert_identical(ours: dict[str, Any], reference: dict[str, Any]) -> None:
    assert list(ours) == list(STATS_KEYS) == list(reference)
    different = [
        f"{k}: fast={ours[k]!r} reference={reference[k]!r}" for k in ours if not identical(ours[k], reference[k])
    ]
    assert not different, "\n".join(different)


def both(equity: Any, timestamps: Any, trades: list[Trade], **kwargs: Any) -> None:
    assert_identical(
        compute_stats(equity, timestamps, trades, **kwargs),
        reference_stats.compute_stats(equity, timestamps, trades, **kwargs),
    )


# --- the random curves of test_metrics_random_parity ----------------------------------------------------------


@pytest.mark.parametrize(("kind", "shape", "n_trades", "seed"), CASES)
@pytest.mark.parametrize("risk_free_rate", [0.0, 0.02])
def test_random_parity_curves_are_bit_identical(
    kind: str, shape: str, n_trades: int, seed: int, risk_free_rate: float
) -> None:
    rng = np.random.default_rng(seed)
    n = 30 if kind == "years" else 400
    index = make_index(kind, n)
    equity = make_equity(shape, n, rng)
    close = 100 * np.cumprod(1 + rng.normal(0.0003, 0.012, n))
    trades = make_trades(index, n_trades, rng)
    timestamps = index.tz_localize("UTC").asi8
    both(equity, timestamps, trades, benchmark_close=close, risk_free_rate=risk_free_rate)
    both(equity, timestamps, trades, risk_free_rate=risk_free_rate, warmup_bars=n // 3)


# --- harder random inputs: odd spacings, pre-1970, open trades, int sizes, multipliers, ruin ------------------


def timestamps_of(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "irregular":  # random gaps up to 3 days, any time of day
        return 1_400_000_000_000_000_000 + np.cumsum(rng.integers(1, 3 * NS_PER_DAY, n))
    if kind == "pre1970":  # crosses the epoch: floor division must hold for negative times
        return -(n * 4 * NS_PER_DAY) + np.cumsum(rng.integers(10**9, 9 * NS_PER_DAY, n))
    if kind == "weeks_intraday":  # weekly bars at a Sunday evening hour: week bins end Sunday 23:59:59.999999999
        return (pd.date_range("2015-01-04 21:37", periods=n, freq="W-SUN")).as_unit("ns").asi8
    if kind == "mixed":  # minutes, hours, weeks and months apart: every resolution and resampling rule
        gaps = rng.choice([60 * 10**9, 3_600 * 10**9, 7 * NS_PER_DAY + 1_234_567, 31 * NS_PER_DAY, 365 * NS_PER_DAY], n)
        return 1_500_000_000_123_456_789 + np.cumsum(gaps)
    if kind == "crypto_5m":
        return pd.date_range("2019-12-30 23:00", periods=n, freq="5min").as_unit("ns").asi8
    return make_index(kind, n).tz_localize("UTC").asi8


def equity_of(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "ruin":  # equity hits 0 (0/0 and x/0 period returns) and comes back
        eq = 10_000 * np.cumprod(1 + rng.normal(0.0, 0.02, n))
        eq[n // 2 :] = 0.0
        eq[0] = 10_000.0
        eq[-2:] = 5.0
        return eq
    if shape == "negative":
        eq = 100 * np.cumprod(1 + rng.normal(0.0, 0.05, n)) - rng.uniform(0, 150)
        eq[0] = 100.0
        return eq
    if shape == "volatile":
        return np.asarray(10_000 * np.cumprod(1 + rng.normal(0.0, 0.2, n)).clip(1e-3))
    return np.asarray(make_equity("flat" if n < 2 and shape == "dip_at_end" else shape, n, rng))


def random_trades(timestamps: np.ndarray, k: int, rng: np.random.Generator) -> list[Trade]:
    trades = []
    for i in range(k):
        entry = int(rng.integers(0, len(timestamps)))
        exit_ = int(rng.integers(entry, len(timestamps)))
        size: float = float(rng.choice([-1, 1]) * rng.integers(1, 50))
        if i % 3 == 0:
            size = int(size)  # an int size must give the same floats as Trade's Python arithmetic
        entry_price = float(rng.uniform(50, 150))
        fee = abs(size) * entry_price * 0.001 if i % 5 else 0.0
        fields: dict[str, Any] = dict(
            id=i, strategy="s", symbol="X", size=size, entry_price=entry_price, entry_ts=int(timestamps[entry]),
            entry_bar=entry, entry_order_id=i, multiplier=float(rng.choice([1.0, 1.0, 0.5, 10.0])), entry_fee=fee,
        )  # fmt: skip
        if rng.random() > 0.15:  # closed; otherwise still open
            exit_price = entry_price if i % 7 == 3 else float(entry_price * rng.uniform(0.8, 1.25))
            fields.update(exit_price=exit_price, exit_ts=int(timestamps[exit_]), exit_bar=exit_, exit_fee=fee / 2)
        trades.append(Trade(**fields))
    return trades


KINDS = ["bdays", "days", "hours", "minutes", "crypto_5m", "weeks", "weeks_intraday", "months", "years"]
KINDS += ["irregular", "pre1970", "mixed"]
SHAPES = ["walk", "flat", "rising", "dip_at_end", "plateaus", "wipeout", "ruin", "negative", "volatile"]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # np.var of inf, both ways
@pytest.mark.parametrize("seed", range(40))
def test_random_inputs_are_bit_identical(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    for kind in KINDS:
        n = int(rng.choice([1, 2, 3, 4, 7, 30, 99, 100, 101, 150, 400, 1500]))
        if kind in ("years", "pre1970", "mixed"):
            n = min(n, 150)  # stay within the int64 nanosecond range
        timestamps = timestamps_of(kind, n, rng)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        equity = equity_of(shape, n, rng)
        trades = random_trades(timestamps, int(rng.choice([0, 1, 2, 5, 40])), rng)
        kwargs: dict[str, Any] = {}
        if rng.random() < 0.7:
            kwargs["benchmark_close"] = 100 * np.cumprod(1 + rng.normal(0.0003, 0.012, n))
            kwargs["warmup_bars"] = int(rng.integers(0, n))
        if rng.random() < 0.5:
            kwargs["risk_free_rate"] = float(rng.choice([0.02, -0.01, 0.5]))
        if rng.random() < 0.3:
            kwargs.update(fees_paid=float(rng.uniform(0, 100)), turnover=float(rng.uniform(0, 1e6)))
        both(equity, timestamps, trades, **kwargs)


def test_datetime64_and_unsigned_timestamps_are_bit_identical() -> None:
    rng = np.random.default_rng(7)
    timestamps = timestamps_of("irregular", 300, rng)
    equity = equity_of("walk", 300, rng)
    trades = random_trades(timestamps, 20, rng)
    both(equity, timestamps.astype("datetime64[ns]").astype("datetime64[us]"), trades)
    both(equity.tolist(), timestamps.astype(np.uint64), trades)
    both(equity[::-1][::-1], timestamps, trades)  # a strided view of the equity


# --- the helpers that replace pandas, against pandas ----------------------------------------------------------


def test_calendar_ends_are_pandas_resample_last() -> None:
    rng = np.random.default_rng(3)
    for kind in ("irregular", "pre1970", "weeks_intraday", "mixed", "minutes", "years"):
        timestamps = timestamps_of(kind, 500 if kind != "years" else 120, rng)
        values = np.arange(len(timestamps), dtype=np.float64)
        series = pd.Series(values, index=pd.to_datetime(timestamps, unit="ns", utc=True))
        calendar = Calendar.of(timestamps)
        for rule, unit in RULE_UNITS.items():
            expected = series.resample(rule).last().dropna().to_numpy()
            assert np.array_equal(values[calendar.ends(unit)], expected), (kind, rule)


def test_data_period_is_pandas_median() -> None:
    rng = np.random.default_rng(4)
    for n in (2, 3, 4, 5, 50, 99, 100, 101, 150):
        for kind in ("irregular", "mixed", "years", "pre1970"):
            timestamps = timestamps_of(kind, n, rng)
            last = timestamps[-100:]
            expected = pd.Series(pd.to_timedelta(np.diff(last), unit="ns")).median()
            assert data_period_ns(timestamps) == expected.value, (n, kind)
    assert data_period_ns(np.array([5], dtype=np.int64)) is None


def test_mean_ns_is_pandas_timedelta_mean() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 10, 8191, 8192, 8193, 20_000, 100_000):  # past numpy's 8192-element reduction buffer
        values = rng.integers(0, 400 * NS_PER_DAY, n)
        expected = pd.Series(values.astype("timedelta64[ns]")).mean()
        assert mean_ns(values) == expected.value, n


def test_to_duration_is_timedelta_ceil_at_the_period_resolution() -> None:
    rng = np.random.default_rng(6)
    hour = 3_600 * 10**9
    periods = [1, 999, 1_000, 2_000_000, 10**9, 60 * 10**9, 90 * 10**9, hour, 90 * 60 * 10**9, NS_PER_DAY]
    periods += [7 * NS_PER_DAY, 31 * NS_PER_DAY, 365 * NS_PER_DAY, NS_PER_DAY + 1, NS_PER_DAY + hour]
    values = [0, 1, NS_PER_DAY, *rng.integers(0, 1000 * NS_PER_DAY, 200).tolist()]
    for period in periods:
        resolution = pd.Timedelta(period).resolution_string
        assert resolution_ns(period) == pd.Timedelta(1, unit=resolution).value, period
        for value in values:
            expected = pd.Timedelta(value).ceil(resolution)
            got = to_duration(value, resolution_ns(period))
            assert identical(got, expected), (period, value)
    assert to_duration(None, NS_PER_DAY) is pd.NaT
    assert identical(to_duration(123, None), pd.Timedelta(123))


def test_turnover_and_exposure_match_the_per_trade_loops() -> None:
    rng = np.random.default_rng(8)
    timestamps = timestamps_of("minutes", 50_000, rng)
    trades = random_trades(timestamps, 20_000, rng)
    arrays = TradeArrays.of(trades)
    assert default_turnover(arrays) == reference_stats.default_turnover(trades)
    closed = [t for t in trades if not t.is_open]
    fast = exposure_pct(arrays.select(~arrays.is_open), len(timestamps))
    assert fast == reference_stats.exposure_pct(closed, len(timestamps))
    assert np.array_equal(arrays.pnl()[~arrays.is_open], [t.pnl for t in closed])
    assert np.array_equal(arrays.return_pct()[~arrays.is_open], [t.return_pct for t in closed])
