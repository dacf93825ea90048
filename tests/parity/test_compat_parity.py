"""tradeforge.compat against Backtesting.py 0.6.6: one corpus of strategies, run by both, identical results.

Each strategy is written once, as a factory taking the Strategy base class, so the very same code runs on
``backtesting.Strategy`` and on ``tradeforge.compat.Strategy``. Every (strategy, dataset, configuration) must
give the same ``_trades`` frame, the same statistics (same keys; floats to rtol 1e-9, times exactly) and the
same ``_equity_curve``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import backtesting
import numpy as np
import pandas as pd
import pytest
from backtesting.test import BTCUSD, EURUSD, GOOG

import tradeforge.compat as compat

RTOL = 1e-9

# ----------------------------------------------------------------------------------------------- helpers


def sma(values: Any, n: int) -> np.ndarray:
    return pd.Series(np.asarray(values, dtype=float)).rolling(n).mean().to_numpy()


def atr(high: Any, low: Any, close: Any, n: int) -> np.ndarray:
    h, lo, c = (pd.Series(np.asarray(x, dtype=float)) for x in (high, low, close))
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    return tr.rolling(n).mean().to_numpy()


def rolling_max(values: Any, n: int) -> np.ndarray:
    return pd.Series(np.asarray(values, dtype=float)).rolling(n).max().to_numpy()


def rolling_min(values: Any, n: int) -> np.ndarray:
    return pd.Series(np.asarray(values, dtype=float)).rolling(n).min().to_numpy()


def crossed_above(a: Any, b: Any) -> bool:
    return bool(a[-2] < b[-2] and a[-1] > b[-1])


def units_for(strategy: Any, fraction: float) -> int:
    """Whole units worth `fraction` of the starting cash at the last close (same in both libraries)."""
    if strategy._cash0 is None:
        strategy._cash0 = strategy.equity  # no trades yet: the starting cash, exactly
    return max(1, int(strategy._cash0 * fraction / strategy.data.Close[-1]))


# ---------------------------------------------------------------------------------------------- strategies
# Each factory returns a Strategy subclass of `base`. Only Backtesting.py's public API is used.


def sma_cross(base: type) -> type:
    """Market orders at full available margin, reversing with position.close() (relative sizes)."""

    class SmaCross(base):
        n1 = 10
        n2 = 20

        def init(self):
            self.fast = self.I(sma, self.data.Close, self.n1)
            self.slow = self.I(sma, self.data.Close, self.n2)

        def next(self):
            if crossed_above(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossed_above(self.slow, self.fast):
                self.position.close()
                self.sell()

    return SmaCross


def sma_units_tags(base: type) -> type:
    """Whole-unit market orders with tags; sells net against longs (no explicit close)."""

    class SmaUnitsTags(base):
        n1 = 5
        n2 = 15
        _cash0 = None

        def init(self):
            self.fast = self.I(sma, self.data.Close, self.n1, name="fast")
            self.slow = self.I(sma, self.data.Close, self.n2, name="slow")

        def next(self):
            units = units_for(self, 0.3)
            if crossed_above(self.fast, self.slow):
                self.buy(size=units, tag="up")
            elif crossed_above(self.slow, self.fast):
                self.sell(size=units, tag=("down", len(self.data)))

    return SmaUnitsTags


def limit_bracket(base: type) -> type:
    """Limit entries below the close with stop-loss and take-profit; stale orders cancelled (order.cancel())."""

    class LimitBracket(base):
        depth = 0.01
        max_age = 4

        def init(self):
            self.trend = self.I(sma, self.data.Close, 10)
            self.placed = -1

        def next(self):
            c = self.data.Close[-1]
            pending = [o for o in self.orders if not o.is_contingent]
            if pending and len(self.data) - self.placed > self.max_age:
                for order in pending:
                    order.cancel()
                pending = []
            if not self.position and not pending:
                limit = c * (1 - self.depth)
                if c > self.trend[-1]:
                    self.buy(limit=limit, sl=limit * 0.95, tp=limit * 1.04, size=0.5)
                else:
                    self.sell(limit=c * (1 + self.depth), sl=c * 1.06, tp=c * 0.97, size=0.5)
                self.placed = len(self.data)

    return LimitBracket


def stop_breakout(base: type) -> type:
    """Stop entries at the recent high / low (breakouts), with a stop-loss at the other side."""

    class StopBreakout(base):
        n = 10

        def init(self):
            self.hi = self.I(rolling_max, self.data.High, self.n)
            self.lo = self.I(rolling_min, self.data.Low, self.n)

        def next(self):
            for order in self.orders:
                if not order.is_contingent:
                    order.cancel()
            if not self.position:
                hi, lo = self.hi[-1], self.lo[-1]
                self.buy(stop=hi * 1.001, sl=lo, size=0.4)
                self.sell(stop=lo * 0.999, sl=hi, size=0.4)
            elif self.position.is_long:
                self.trades[-1].sl = max(self.trades[-1].sl or 0, self.lo[-1])
            else:
                self.trades[-1].sl = min(self.trades[-1].sl or math.inf, self.hi[-1])

    return StopBreakout


def stop_limit(base: type) -> type:
    """Stop-limit entries on both sides with take-profits; re-placed every few bars."""

    class StopLimit(base):
        every = 3

        def init(self):
            self.mid = self.I(sma, self.data.Close, 5)

        def next(self):
            if len(self.data) % self.every:
                return
            for order in self.orders:
                if not order.is_contingent:
                    order.cancel()
            c = self.data.Close[-1]
            if self.position.size <= 0:
                self.buy(stop=c * 1.005, limit=c * 1.01, tp=c * 1.05, sl=c * 0.97, size=0.3)
            if self.position.size >= 0:
                self.sell(stop=c * 0.995, limit=c * 0.99, tp=c * 0.95, size=0.3)

    return StopLimit


def trailing_atr(base: type) -> type:
    """backtesting.lib.TrailingStrategy's rule, written out: move trade.sl to n ATRs from the close each bar."""

    class TrailingAtr(base):
        n_atr = 3
        n1 = 10
        n2 = 30

        def init(self):
            self.atr = self.I(atr, self.data.High, self.data.Low, self.data.Close, 14)
            self.fast = self.I(sma, self.data.Close, self.n1)
            self.slow = self.I(sma, self.data.Close, self.n2)

        def next(self):
            if not self.position:
                if crossed_above(self.fast, self.slow):
                    self.buy()
                elif crossed_above(self.slow, self.fast):
                    self.sell()
            index = len(self.data) - 1
            for trade in self.trades:
                if trade.is_long:
                    trade.sl = max(trade.sl or -np.inf, self.data.Close[index] - self.atr[index] * self.n_atr)
                else:
                    trade.sl = min(trade.sl or np.inf, self.data.Close[index] + self.atr[index] * self.n_atr)

    return TrailingAtr


def partial_position(base: type) -> type:
    """position.close(portion): scale out of a position in halves."""

    class PartialPosition(base):
        hold = 6

        def init(self):
            self.fast = self.I(sma, self.data.Close, 8)
            self.slow = self.I(sma, self.data.Close, 21)
            self.entered = -1

        def next(self):
            i = len(self.data)
            if not self.position:
                if crossed_above(self.fast, self.slow):
                    self.buy(size=0.9)
                    self.entered = i
                elif crossed_above(self.slow, self.fast):
                    self.sell(size=0.6)
                    self.entered = i
            elif i - self.entered == self.hold:
                self.position.close(0.5)
            elif i - self.entered == 2 * self.hold:
                self.position.close(0.34)
            elif i - self.entered >= 3 * self.hold:
                self.position.close()

    return PartialPosition


def trade_portions(base: type) -> type:
    """Several whole-unit trades, each closed a third at a time with trade.close(portion)."""

    class TradePortions(base):
        _cash0 = None

        def init(self):
            self.fast = self.I(sma, self.data.Close, 4)
            self.slow = self.I(sma, self.data.Close, 12)

        def next(self):
            i = len(self.data)
            if crossed_above(self.fast, self.slow) and len(self.trades) < 4:
                self.buy(size=units_for(self, 0.2), tag=i)
            if i % 3 == 0:
                for trade in self.trades:
                    if i - trade.entry_bar > 3:
                        trade.close(1 / 3)
                    if i - trade.entry_bar > 12:
                        trade.close()

    return TradePortions


def setters(base: type) -> type:
    """trade.sl / trade.tp set after entry, moved, removed (None); a contingent order cancelled directly."""

    class Setters(base):
        def init(self):
            self.fast = self.I(sma, self.data.Close, 6)
            self.slow = self.I(sma, self.data.Close, 18)

        def next(self):
            c = self.data.Close[-1]
            if not self.position:
                if crossed_above(self.fast, self.slow):
                    self.buy(size=0.7)
                elif crossed_above(self.slow, self.fast):
                    self.sell(size=0.7)
                return
            for trade in self.trades:
                age = len(self.data) - 1 - trade.entry_bar
                sign = 1 if trade.is_long else -1
                if age == 1:
                    trade.tp = trade.entry_price * (1 + sign * 0.06)
                    trade.sl = trade.entry_price * (1 - sign * 0.04)
                elif age == 4:
                    trade.sl = None
                elif age == 5:
                    trade.sl = c * (1 - sign * 0.02)
                    trade.tp = c * (1 + sign * 0.03)
                elif age == 8:
                    for order in self.orders:
                        if order.is_contingent and order.stop is not None:
                            order.cancel()  # the stop-loss, cancelled directly
                elif age == 15:
                    trade.close()

    return Setters


def hedged_pairs(base: type) -> type:
    """Buys and sells that do not close each other with hedging=True (net out otherwise)."""

    class HedgedPairs(base):
        _cash0 = None

        def init(self):
            self.fast = self.I(sma, self.data.Close, 5)
            self.slow = self.I(sma, self.data.Close, 20)

        def next(self):
            units = units_for(self, 0.15)
            if crossed_above(self.fast, self.slow):
                self.buy(size=units, tp=self.data.Close[-1] * 1.08)
            elif crossed_above(self.slow, self.fast):
                self.sell(size=units, sl=self.data.Close[-1] * 1.08)
            if len(self.trades) > 3:
                self.trades[0].close()

    return HedgedPairs


def pyramid(base: type) -> type:
    """Adds relative-size trades while a trend lasts, then closes the oldest ones."""

    class Pyramid(base):
        def init(self):
            self.slow = self.I(sma, self.data.Close, 15)

        def next(self):
            c = self.data.Close[-1]
            if c > self.slow[-1] and len(self.trades) < 5 and len(self.data) % 2 == 0:
                self.buy(size=0.2)
            elif c < self.slow[-1] and self.trades:
                self.trades[0].close()

    return Pyramid


def short_brackets(base: type) -> type:
    """Short market entries with stop-loss and take-profit (both may be reached in the entry bar)."""

    class ShortBrackets(base):
        sl_pct = 0.02
        tp_pct = 0.03

        def init(self):
            self.slow = self.I(sma, self.data.Close, 10)

        def next(self):
            c = self.data.Close[-1]
            if not self.position and c < self.slow[-1]:
                self.sell(sl=c * (1 + self.sl_pct), tp=c * (1 - self.tp_pct), size=0.8)

    return ShortBrackets


def mean_reversion(base: type) -> type:
    """Limit orders on both sides of the close, relative sizes, exits when the price crosses the mean."""

    class MeanReversion(base):
        band = 0.015

        def init(self):
            self.mean = self.I(sma, self.data.Close, 12)

        def next(self):
            c, m = self.data.Close[-1], self.mean[-1]
            for order in self.orders:
                order.cancel()
            if (self.position.is_long and c > m) or (self.position.is_short and c < m):
                self.position.close()
            elif not self.position:
                self.buy(limit=m * (1 - self.band), size=0.5)
                self.sell(limit=m * (1 + self.band), size=0.5)

    return MeanReversion


def pl_driven(base: type) -> type:
    """Decisions from the live numbers: equity, position.pl / pl_pct, trade.pl / pl_pct / value."""

    class PlDriven(base):
        def init(self):
            self.fast = self.I(sma, self.data.Close, 7)
            self.slow = self.I(sma, self.data.Close, 25)

        def next(self):
            if self.position:
                if self.position.pl_pct > 4 or self.position.pl_pct < -3:
                    self.position.close()
                    return
                for trade in self.trades:
                    if trade.pl_pct > 0.02 and trade.pl > 0 and trade.value > 0:
                        trade.close(0.5)
            units = int(self.equity * 0.25 / self.data.Close[-1])
            if units >= 1 and crossed_above(self.fast, self.slow):
                self.buy(size=units)
            elif units >= 1 and crossed_above(self.slow, self.fast):
                self.sell(size=units)

    return PlDriven


def same_bar_exits(base: type) -> type:
    """Tight stop-loss/take-profit on market, stop and limit entries: exits inside the entry bar."""

    class SameBarExits(base):
        def init(self):
            self.slow = self.I(sma, self.data.Close, 3)

        def next(self):
            c = self.data.Close[-1]
            i = len(self.data)
            if self.orders or self.position:
                return
            if i % 3 == 0:
                self.buy(sl=c * 0.995, tp=c * 1.005, size=0.5)
            elif i % 3 == 1:
                self.sell(stop=c * 0.998, sl=c * 1.01, tp=c * 0.99, size=0.5)
            else:
                self.buy(limit=c * 0.999, sl=c * 0.99, tp=c * 1.004, size=0.5)

    return SameBarExits


def out_of_money(base: type) -> type:
    """Short at (huge) leverage and keep adding: equity goes to zero on a rising market."""

    class OutOfMoney(base):
        def init(self):
            pass

        def next(self):
            if len(self.data) % 5 == 0:
                self.sell(size=0.95)

    return OutOfMoney


def random_orders(base: type) -> type:
    """Fuzz: every kind of order, sl/tp, cancels, closes and setters, drawn from a seeded generator.

    The same number of random draws is made each bar, so both runs see the same sequence as long as they agree.
    """

    class RandomOrders(base):
        seed = 1
        p_order = 0.2
        p_action = 0.15
        _cash0 = None

        def init(self):
            self.rng = np.random.default_rng(self.seed)

        def next(self):
            r = self.rng.random(16)
            c = self.data.Close[-1]
            if r[0] < self.p_order:
                is_long = r[1] < 0.5
                sign = 1 if is_long else -1
                size = round(0.05 + 0.5 * r[2], 3) if r[3] < 0.5 else units_for(self, 0.05 + 0.3 * r[2])
                kind = int(r[4] * 4)
                stop = limit = None
                if kind == 1:  # limit: a better price than now
                    limit = c * (1 - sign * 0.02 * r[5])
                elif kind == 2:  # stop: a worse price than now
                    stop = c * (1 + sign * 0.02 * r[5])
                elif kind == 3:
                    stop = c * (1 + sign * 0.02 * r[5])
                    limit = stop * (1 + sign * 0.01 * (r[6] - 0.3))
                ref = limit or stop or c * 1.01 if is_long else limit or stop or c * 0.99
                sl = ref * (1 - sign * (0.02 + 0.05 * r[7])) if r[8] < 0.5 else None
                tp = ref * (1 + sign * (0.02 + 0.05 * r[9])) if r[10] < 0.5 else None
                order = self.buy if is_long else self.sell
                order(size=size, limit=limit, stop=stop, sl=sl, tp=tp, tag=int(r[11] * 5))
            orders = self.orders
            if r[12] < 0.1 and orders:
                orders[int(r[13] * len(orders))].cancel()
            trades = self.trades
            if trades and r[14] < self.p_action:
                trade = trades[int(r[15] * len(trades))]
                action = int(r[13] * 5)
                sign = 1 if trade.is_long else -1
                if action == 0:
                    trade.close(round(0.2 + 0.8 * r[12], 2))
                elif action == 1:
                    trade.sl = c * (1 - sign * 0.03)
                elif action == 2:
                    trade.tp = c * (1 + sign * 0.03)
                elif action == 3:
                    trade.sl = None
                    trade.tp = None
                else:
                    self.position.close(0.5)

    return RandomOrders


STRATEGIES: dict[str, Callable[[type], type]] = {
    f.__name__: f
    for f in (
        sma_cross,
        sma_units_tags,
        limit_bracket,
        stop_breakout,
        stop_limit,
        trailing_atr,
        partial_position,
        trade_portions,
        setters,
        hedged_pairs,
        pyramid,
        short_brackets,
        mean_reversion,
        pl_driven,
        same_bar_exits,
        out_of_money,
        random_orders,
    )
}

# ------------------------------------------------------------------------------------------------ data


def random_walk(n: int, seed: int, *, datetime_index: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
    open_ = np.r_[100.0, close[:-1]] * (1 + rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.008, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.008, n)))
    volume = rng.integers(1_000, 100_000, n).astype(float)
    index = pd.date_range("2015-01-01", periods=n, freq="D") if datetime_index else pd.RangeIndex(n)
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index)


DATASETS: dict[str, tuple[pd.DataFrame, float]] = {  # name -> (data, cash)
    "GOOG": (GOOG, 10_000),
    "EURUSD": (EURUSD.iloc[:2500], 10_000),
    "BTCUSD": (BTCUSD, 1_000_000),
    "walk": (random_walk(1200, 7), 10_000),
    "walk_int": (random_walk(600, 11, datetime_index=False), 10_000),
}

# ---------------------------------------------------------------------------------------------- configs


def fee_callable(size: float, price: float) -> float:
    return 1.0 + abs(size) * price * 0.0015


CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "comm_float": {"commission": 0.002},
    "comm_tuple_spread": {"commission": (2.0, 0.001), "spread": 0.0015},
    "comm_callable_finalize": {"commission": fee_callable, "finalize_trades": True},
    "trade_on_close": {"trade_on_close": True, "commission": 0.001},
    "exclusive": {"exclusive_orders": True, "commission": 0.001},
    "hedging_margin": {"hedging": True, "margin": 0.5, "commission": 0.001},
    "margin_finalize_toc": {"margin": 0.2, "finalize_trades": True, "trade_on_close": True, "spread": 0.001},
}

# out_of_money needs a huge leverage to run out of money: it gets its own configurations
OUT_OF_MONEY_CONFIGS: dict[str, dict[str, Any]] = {
    "margin_0.02": {"margin": 0.02},
    "margin_0.02_finalize": {"margin": 0.02, "finalize_trades": True, "commission": 0.001},
    "margin_0.05_toc_hedging": {"margin": 0.05, "trade_on_close": True, "hedging": True},
}


def _cases() -> list[Any]:
    cases = []
    for strategy in STRATEGIES:
        configs = OUT_OF_MONEY_CONFIGS if strategy == "out_of_money" else CONFIGS
        for dataset in DATASETS:
            for config in configs:
                cases.append(pytest.param(strategy, dataset, config, id=f"{strategy}-{dataset}-{config}"))
    return cases


# ------------------------------------------------------------------------------------------------ runs


def run_both(strategy: str, dataset: str, config: str) -> tuple[pd.Series, pd.Series]:
    data, cash = DATASETS[dataset]
    kwargs = {**CONFIGS, **OUT_OF_MONEY_CONFIGS}[config]
    factory = STRATEGIES[strategy]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = backtesting.Backtest(data, factory(backtesting.Strategy), cash=cash, **kwargs).run()
        ours = compat.Backtest(data, factory(compat.Strategy), cash=cash, **kwargs).run()
    return theirs, ours


def _same_value(a: Any, b: Any) -> bool:
    """Times and durations exactly (same type), numbers to RTOL (NaN equals NaN), anything else with ==."""
    if isinstance(a, (pd.Timestamp, pd.Timedelta)) or isinstance(b, (pd.Timestamp, pd.Timedelta)):
        return type(a) is type(b) and a == b
    if a is pd.NaT or b is pd.NaT:
        return a is b
    number = (int, float, np.integer, np.floating)
    if isinstance(a, number) and isinstance(b, number):
        x, y = float(a), float(b)  # np.isclose(x, y, rtol=RTOL, atol=0, equal_nan=True), without its overhead
        return x == y or abs(x - y) <= RTOL * abs(y) or (math.isnan(x) and math.isnan(y))
    return bool(a == b)


def stats_differences(theirs: pd.Series, ours: pd.Series) -> list[str]:
    keys_a = [k for k in theirs.index if not k.startswith("_")]
    keys_b = [k for k in ours.index if not k.startswith("_")]
    problems = []
    if keys_a != keys_b:
        problems.append(f"keys differ: missing {set(keys_a) - set(keys_b)}, extra {set(keys_b) - set(keys_a)}")
    for key in keys_a:
        if key in ours.index and not _same_value(theirs[key], ours[key]):
            problems.append(f"{key}: theirs {theirs[key]!r} ours {ours[key]!r}")
    return problems


TRADE_COLUMNS_FLOAT = ["EntryPrice", "ExitPrice", "SL", "TP", "PnL", "Commission", "ReturnPct"]
TRADE_COLUMNS_EXACT = ["Size", "EntryBar", "ExitBar", "EntryTime", "ExitTime", "Duration", "Tag"]


def trades_differences(theirs: pd.DataFrame, ours: pd.DataFrame) -> list[str]:
    problems = []
    if list(theirs.columns) != list(ours.columns):
        problems.append(f"columns: theirs {list(theirs.columns)} ours {list(ours.columns)}")
    if len(theirs) != len(ours):
        problems.append(f"{len(theirs)} trades vs {len(ours)} (ours)")
        n = min(len(theirs), len(ours))
        key = ["Size", "EntryBar", "ExitBar"]
        first = next((i for i in range(n) if theirs.iloc[i][key].tolist() != ours.iloc[i][key].tolist()), n)
        problems.append(
            f"first differing trade #{first}:\n{theirs.iloc[first : first + 2]}\n{ours.iloc[first : first + 2]}"
        )
        return problems
    for col in TRADE_COLUMNS_EXACT:
        a, b = theirs[col].tolist(), ours[col].tolist()
        if col == "Size":
            a, b = theirs[col].to_numpy(dtype=float).tolist(), ours[col].to_numpy(dtype=float).tolist()
        if a != b:
            i = next(k for k in range(len(a)) if a[k] != b[k])
            problems.append(f"{col} differs first at trade #{i}: theirs {a[i]!r} ours {b[i]!r}")
    for col in theirs.columns:
        if col in ours.columns and str(theirs[col].dtype) != str(ours[col].dtype):
            problems.append(f"{col} dtype: theirs {theirs[col].dtype} ours {ours[col].dtype}")
    for col in TRADE_COLUMNS_FLOAT:
        a = pd.to_numeric(theirs[col], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(ours[col], errors="coerce").to_numpy(dtype=float)
        same = np.isclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True)
        if not same.all():
            i = int(np.argmin(same))
            problems.append(f"{col} differs at {int((~same).sum())} trades, first #{i}: theirs {a[i]!r} ours {b[i]!r}")
    for col in theirs.columns:
        if col.startswith(("Entry_", "Exit_")) and col in ours.columns:
            a, b = theirs[col].to_numpy(dtype=float), ours[col].to_numpy(dtype=float)
            if not np.allclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True):
                problems.append(f"indicator column {col} differs")
    return problems


def equity_differences(theirs: pd.DataFrame, ours: pd.DataFrame) -> list[str]:
    problems = []
    if not theirs.index.equals(ours.index):
        problems.append("equity curve index differs")
    for col in ("Equity", "DrawdownPct"):
        a, b = theirs[col].to_numpy(dtype=float), ours[col].to_numpy(dtype=float)
        same = np.isclose(a, b, rtol=RTOL, atol=0.0, equal_nan=True)
        if not same.all():
            i = int(np.argmin(same))
            problems.append(f"{col} differs at {int((~same).sum())} bars, first bar {i}: theirs {a[i]!r} ours {b[i]!r}")
    a, b = theirs["DrawdownDuration"], ours["DrawdownDuration"]
    if str(a.dtype) != str(b.dtype) or not a.equals(b):
        shown_a, shown_b = a.dropna().tolist()[:5], b.dropna().tolist()[:5]
        problems.append(f"DrawdownDuration differs: theirs {a.dtype} {shown_a} ours {b.dtype} {shown_b}")
    return problems


@pytest.mark.parametrize(("strategy", "dataset", "config"), _cases())
def test_same_results(strategy: str, dataset: str, config: str) -> None:
    theirs, ours = run_both(strategy, dataset, config)
    problems = trades_differences(theirs["_trades"], ours["_trades"])
    problems += stats_differences(theirs, ours)
    problems += equity_differences(theirs["_equity_curve"], ours["_equity_curve"])
    assert not problems, "\n".join(problems)


def observed(base: type) -> type:
    """random_orders, logging what the strategy sees each bar: orders, trades, position, equity."""

    class Observed(random_orders(base)):
        p_order = 0.4
        p_action = 0.3

        def init(self):
            super().init()
            self.log = []

        def next(self):
            orders = [
                (o.size, o.limit, o.stop, o.sl, o.tp, o.is_contingent, o.tag, o.is_long, o.is_short)
                for o in self.orders
            ]
            trades = [
                (t.size, type(t.size).__name__, t.entry_price, t.entry_bar, t.entry_time, t.sl, t.tp, t.pl, t.pl_pct)
                for t in self.trades
            ]
            trades += [
                (t.value, t.tag, t.is_long, t.is_short, t.exit_price, t.exit_bar, t.exit_time) for t in self.trades
            ]
            closed_trades = self.closed_trades
            closed = [
                (t.size, t.exit_price, t.exit_bar, t.exit_time, t.pl, t.pl_pct, t.sl, t.tp) for t in closed_trades[-3:]
            ]
            position = (self.position.size, self.position.pl, self.position.pl_pct, bool(self.position))
            self.log.append((len(self.data), orders, trades, closed, len(closed_trades), position, self.equity))
            super().next()

    return Observed


def _same_log(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, (tuple, list)):
        if not isinstance(b, (tuple, list)) or len(a) != len(b):
            return f"{path}: theirs {a!r} ours {b!r}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            problem = _same_log(x, y, f"{path}[{k}]")
            if problem:
                return problem
        return None
    if a is None or b is None:
        return None if a is b else f"{path}: theirs {a!r} ours {b!r}"
    return None if _same_value(a, b) else f"{path}: theirs {a!r} ours {b!r}"


@pytest.mark.parametrize("dataset", ["GOOG", "walk"])
@pytest.mark.parametrize("config", ["comm_tuple_spread", "hedging_margin", "margin_finalize_toc", "exclusive"])
def test_strategy_sees_the_same_state(dataset: str, config: str) -> None:
    """Order, Trade and Position views, equity and closed trades agree at every bar, not only in the end."""
    data, cash = DATASETS[dataset]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = backtesting.Backtest(data, observed(backtesting.Strategy), cash=cash, **CONFIGS[config]).run()
        ours = compat.Backtest(data, observed(compat.Strategy), cash=cash, **CONFIGS[config]).run()
    log_a, log_b = theirs["_strategy"].log, ours["_strategy"].log
    assert len(log_a) == len(log_b)
    for row_a, row_b in zip(log_a, log_b, strict=True):
        problem = _same_log(row_a, row_b, f"bar {row_a[0] - 1}")
        assert problem is None, problem


def test_corpus_exercises_what_it_claims() -> None:
    """The corpus is only as good as what it reaches: check Backtesting.py itself gets there."""
    theirs, _ = run_both("out_of_money", "GOOG", "margin_0.02")
    assert theirs["Equity Final [$]"] == 0
    theirs, _ = run_both("random_orders", "walk", "comm_float")
    assert theirs["# Trades"] > 50
    assert theirs["_trades"]["SL"].notna().any() and theirs["_trades"]["TP"].notna().any()
    theirs, _ = run_both("hedged_pairs", "GOOG", "hedging_margin")
    assert theirs["_trades"]["Size"].lt(0).any() and theirs["_trades"]["Size"].gt(0).any()


def _zoned(n: int, seed: int, freq: str, start: str, tz: str) -> pd.DataFrame:
    data = random_walk(n, seed)
    data.index = pd.date_range(start, periods=n, freq=freq, tz=tz)
    return data


# time-zone-aware data, as yfinance gives it: durations are real elapsed time across daylight-saving changes,
# and an hour repeated when clocks go back is still a new bar
ZONED: dict[str, pd.DataFrame] = {
    "new_york_daily_dst_ends": _zoned(900, 5, "D", "2015-01-01", "America/New_York"),
    "new_york_hourly_fall_back": _zoned(3000, 6, "h", "2021-10-20", "America/New_York"),
    "london_hourly_spring_forward": _zoned(3000, 8, "h", "2021-03-01", "Europe/London"),
    "new_york_weekly": _zoned(400, 9, "W", "2015-01-04", "America/New_York"),
}


@pytest.mark.parametrize("dataset", list(ZONED))
@pytest.mark.parametrize(("strategy", "config"), [("sma_cross", "comm_float"), ("random_orders", "hedging_margin")])
def test_same_results_on_time_zone_aware_data(dataset: str, strategy: str, config: str) -> None:
    data = ZONED[dataset]
    factory = STRATEGIES[strategy]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = backtesting.Backtest(data, factory(backtesting.Strategy), cash=10_000, **CONFIGS[config]).run()
        ours = compat.Backtest(data, factory(compat.Strategy), cash=10_000, **CONFIGS[config]).run()
    assert theirs["# Trades"] > 10
    problems = trades_differences(theirs["_trades"], ours["_trades"])
    problems += stats_differences(theirs, ours)
    problems += equity_differences(theirs["_equity_curve"], ours["_equity_curve"])
    assert not problems, "\n".join(problems)
