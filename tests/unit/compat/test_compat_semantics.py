"""Details of Backtesting.py 0.6.6's behaviour that tradeforge.compat reproduces, each checked against it."""

from __future__ import annotations

import warnings
from typing import Any

import backtesting
import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compat_optimize_lib import BtSmaCross, TcSmaCross

import tradeforge.compat as compat

SHORT = GOOG.iloc[:60]
LIBS = pytest.mark.parametrize("lib", [backtesting, compat], ids=["backtesting", "compat"])


def run(lib: Any, strategy: type, data: pd.DataFrame = SHORT, **kwargs: Any) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lib.Backtest(data, strategy, **kwargs).run()


@LIBS
def test_equity_in_init_is_the_cash(lib: Any) -> None:
    class S(lib.Strategy):
        def init(self):
            self.seen = self.equity

        def next(self):
            pass

    assert run(lib, S, cash=12_345)["_strategy"].seen == 12_345


@LIBS
def test_cancelling_a_stop_loss_order_removes_it_from_the_trade(lib: Any) -> None:
    class S(lib.Strategy):
        def init(self):
            self.seen = []

        def next(self):
            if len(self.data) == 5:
                self.buy(size=1, sl=self.data.Close[-1] * 0.5, tp=self.data.Close[-1] * 2)
            elif len(self.data) == 7:
                sl_order = next(o for o in self.orders if o.is_contingent and o.stop is not None)
                sl_order.cancel()
                self.seen.append((self.trades[0].sl, self.trades[0].tp is not None, len(self.orders)))
            elif len(self.data) == 9:
                self.trades[0].close()

    stats = run(lib, S)
    assert stats["_strategy"].seen == [(None, True, 1)]
    assert pd.isna(stats["_trades"]["SL"].iloc[0]) and stats["_trades"]["TP"].notna().iloc[0]


@LIBS
def test_trade_sizes_turn_float_when_trade_close_splits_a_trade(lib: Any) -> None:
    class S(lib.Strategy):
        def init(self):
            self.seen = []

        def next(self):
            n = len(self.data)
            if n == 3:
                self.buy(size=10)
            elif n == 5:
                self.trades[0].close(0.3)
            elif n == 7:
                self.seen.append(("open", type(self.trades[0].size), type(self.closed_trades[0].size)))
                self.sell(size=9)  # absorbs the float-sized trade (7.0): the trade it opens is a float too
            elif n == 9:
                self.seen.append(("reversed", self.trades[0].size, type(self.trades[0].size)))
                self.position.close()

    stats = run(lib, S, finalize_trades=True)
    assert stats["_strategy"].seen == [("open", float, float), ("reversed", -2.0, float)]
    assert stats["_trades"]["Size"].tolist() == [3.0, 7.0, -2.0]


@LIBS
def test_broker_cancellations_warn(lib: Any) -> None:
    class S(lib.Strategy):
        def init(self):
            pass

        def next(self):
            self.buy(size=10_000)

    with pytest.warns(UserWarning, match="insufficient margin"):
        lib.Backtest(GOOG.iloc[:5], S, cash=1000, finalize_trades=True).run()


@LIBS
def test_next_is_looked_up_every_bar(lib: Any) -> None:
    class S(lib.Strategy):
        def init(self):
            self.calls = 0

        def next(self):
            self.calls += 1
            self.next = lambda: None

    assert run(lib, S)["_strategy"].calls == 1


@LIBS
def test_a_failing_indicator_raises_runtime_error(lib: Any) -> None:
    def broken(values):
        raise ZeroDivisionError("no")

    class S(lib.Strategy):
        def init(self):
            self.I(broken, self.data.Close)

        def next(self):
            pass

    with pytest.raises(RuntimeError):
        run(lib, S)


@LIBS
def test_out_of_money_closes_every_other_open_trade(lib: Any) -> None:
    """Backtesting.py removes trades from the list it iterates: with 4 open trades, 2 are closed."""

    class S(lib.Strategy):
        def init(self):
            pass

        def next(self):
            if len(self.data) <= 5:
                self.sell(size=3)

    data = pd.DataFrame(
        {"Open": 100.0, "High": 101.0, "Low": 99.0, "Close": 100.0},
        index=pd.date_range("2020-01-01", periods=30, freq="D"),
    )
    data.iloc[15:, :] = 1000.0
    stats = run(lib, S, data=data, cash=1000, margin=0.1)
    assert stats["Equity Final [$]"] == 0
    trades = stats["_trades"]
    assert len(trades) == 2 and (trades["ExitBar"] == 15).all()
    assert trades["EntryBar"].tolist() == [2, 4]


def test_closed_trades_views_are_stable() -> None:
    class S(compat.Strategy):
        def init(self):
            self.views = []

        def next(self):
            if len(self.data) % 4 == 0:
                self.buy(size=1)
            elif self.trades:
                self.trades[0].close()
            self.views.append(self.closed_trades)

    stats = run(compat, S)
    views = stats["_strategy"].views
    assert len(views[-1]) == len(stats["_trades"]) > 5
    for earlier in views:
        assert all(a is b for a, b in zip(earlier, views[-1], strict=False))


def test_data_arrays_keep_name_and_options_through_views_copies_and_pickling() -> None:
    # each array has its own class carrying its name and options: the per-bar views share them without a
    # Python __array_finalize__, renaming one renames its views, and another array is never affected
    import pickle

    import numpy as np

    from tradeforge.compat._data import _Array, _Indicator

    ind = _Indicator(np.arange(10.0), name="sma", overlay=True)
    other = _Indicator(np.arange(10.0), name="rsi")
    view = ind[:4]
    assert (view.name, view._opts, isinstance(view, _Indicator)) == ("sma", {"overlay": True}, True)
    assert (ind + 1).name == "sma"
    back = pickle.loads(pickle.dumps(view))
    assert (back.name, back._opts, back.tolist()) == ("sma", {"overlay": True}, [0.0, 1.0, 2.0, 3.0])
    view.name = "fast"
    assert (ind.name, other.name) == ("fast", "rsi")
    plain = np.arange(3.0).view(_Array)  # a class of its own is made on renaming: _Array itself is untouched
    plain.name = "x"
    assert (plain.name, np.arange(3.0).view(_Array).name, _Array(np.arange(2.0)).name) == ("x", "", "")


@pytest.mark.parametrize("when", ["never", "last_bar"])
def test_equity_curve_without_a_drawdown_period_matches(when: str) -> None:
    # with no drawdown period (equity never fell, or fell only on the last bar) Backtesting.py's DrawdownDuration
    # column holds the drawdown values with zeros as NaN (floats), not durations; the stats keys fall back too
    def make(lib: Any) -> type:
        class S(lib.Strategy):
            def init(self):
                pass

            def next(self):
                if when == "last_bar" and len(self.data) == len(SHORT) - 1:
                    self.buy(size=1)

        return S

    results = [run(lib, make(lib), cash=10_000, finalize_trades=True) for lib in (backtesting, compat)]
    theirs, ours = (r["_equity_curve"] for r in results)
    assert ours["DrawdownDuration"].dtype == theirs["DrawdownDuration"].dtype
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12)
    for key in ("Max. Drawdown Duration", "Avg. Drawdown Duration"):
        a, b = results[0][key], results[1][key]
        assert (pd.isna(a) and pd.isna(b)) or a == b, (key, a, b)


def test_a_run_leaves_its_garbage_to_the_collector() -> None:
    # a run's objects (strategy, engine, broker, arrays) form reference cycles; the garbage collector must stay
    # free to find them while later runs go on, so that many runs in one process (optimize, a notebook) do not
    # grow memory without bound (keeping older objects frozen during each run did exactly that: +17 MB per
    # 100k-bar run, never collected)
    import gc

    seen: list[int] = []

    class Looks(TcSmaCross):  # Backtesting.py's README strategy
        def next(self):
            if len(self.data) == 100:
                seen.append(gc.get_freeze_count())
            super().next()

    compat.Backtest(GOOG, Looks, cash=10_000, commission=0.002).run()  # first-use caches (pandas, numpy)
    gc.collect()
    settled = len(gc.get_objects())
    for _ in range(5):
        assert compat.Backtest(GOOG, Looks, cash=10_000, commission=0.002).run()["# Trades"] == 93
    assert seen == [0] * 6  # earlier runs' garbage stays collectable while a run goes on
    gc.collect()
    assert len(gc.get_objects()) < settled + 500  # nothing a run made outlives it


@given(st.lists(st.sampled_from([0.0, 0.0, -0.01, -0.2, -0.5]), min_size=0, max_size=40))
@settings(max_examples=300, deadline=None)
def test_drawdown_periods_are_backtesting_pys(values: list[float]) -> None:
    # Backtesting.py's rule: np.unique(np.r_[(dd == 0).nonzero()[0], len(dd) - 1]), then periods between
    # consecutive iloc entries that are more than one bar apart
    from tradeforge.compat.stats import _drawdown_periods

    dd = np.array(values, dtype=float)
    iloc = np.unique(np.r_[(dd == 0).nonzero()[0], len(dd) - 1])
    prev = np.r_[-2, iloc[:-1]]
    keep = (iloc > prev + 1) & (prev >= 0)
    ends, starts = _drawdown_periods(dd)
    assert ends.tolist() == iloc[keep].tolist()
    assert starts.tolist() == prev[keep].tolist()


def test_repeated_timestamps_run_bar_by_bar_as_in_backtesting_py() -> None:
    """Bars that repeat a timestamp run in order, one bar each (Backtesting.py counts bars), with a warning that
    names the first. Trades, equity and statistics are Backtesting.py's; the drawdown averages count each
    drawdown once (Backtesting.py counts one that ends on a repeated timestamp once per repeat)."""
    rng = np.random.default_rng(3)
    rows = np.sort(np.r_[np.arange(len(GOOG)), rng.choice(len(GOOG), 40, replace=False)])
    doubled = GOOG.iloc[rows]
    with pytest.warns(UserWarning, match=r"40 bars that repeat an earlier bar's timestamp \(the first at 2004-"):
        ours = compat.Backtest(doubled, TcSmaCross, commission=0.002, finalize_trades=True).run()
    theirs = run(backtesting, BtSmaCross, doubled, commission=0.002, finalize_trades=True)
    cols = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "EntryTime", "ExitTime", "Duration"]
    pd.testing.assert_frame_equal(ours["_trades"][cols], theirs["_trades"][cols], check_dtype=False, rtol=1e-12)
    assert np.array_equal(ours["_equity_curve"]["Equity"].to_numpy(), theirs["_equity_curve"]["Equity"].to_numpy())
    for key in theirs.index:
        if key.startswith("_") or key in ("Avg. Drawdown [%]", "Avg. Drawdown Duration", "Max. Drawdown Duration"):
            continue
        a, b = ours[key], theirs[key]
        assert a == b or (pd.isna(a) and pd.isna(b)) or np.isclose(a, b, rtol=1e-9), key
    # 01:00 comes twice when New York's clocks go back: two instants, two bars
    hourly = SHORT.copy()
    hourly.index = pd.date_range("2021-11-06 20:00", periods=len(hourly), freq="h", tz="America/New_York")
    wall = hourly.index.tz_localize(None)
    assert wall.has_duplicates
    assert run(compat, TcSmaCross, hourly)["Duration"] == pd.Timedelta(hours=len(hourly) - 1)


def test_text_where_numbers_or_times_belong_is_refused_with_the_fix() -> None:
    """Backtesting.py fails on these with pandas' own TypeError / AttributeError; ours names the column and the
    conversion. Numbers held in an object column are not text: they run, with the float frame's results."""
    as_text = SHORT.astype({"Close": str})
    with pytest.raises(compat.errors.CompatTypeError, match=r"column 'Close' holds str values \('100.34'.*to_numeric"):
        run(compat, TcSmaCross, as_text)
    dated_text = SHORT.set_index(SHORT.index.strftime("%Y-%m-%d"))
    with pytest.raises(TypeError, match=r"index holds text \('2004-08-19', \.\.\.\).*pd.to_datetime"):
        run(compat, TcSmaCross, dated_text)
    boxed = run(compat, TcSmaCross, GOOG.iloc[:300].astype(object))
    plain = run(compat, TcSmaCross, GOOG.iloc[:300])
    assert boxed["# Trades"] == plain["# Trades"] > 0
    assert boxed["Equity Final [$]"] == plain["Equity Final [$]"]
    # Volume is optional and only read: written as text it is read as numbers (Backtesting.py runs it too)
    volume_text = run(compat, TcSmaCross, GOOG.iloc[:300].astype({"Volume": str}))
    assert volume_text["Equity Final [$]"] == plain["Equity Final [$]"]
    with pytest.raises(compat.errors.CompatTypeError, match=r"column 'Volume' cannot be read as numbers .*'abc'"):
        run(compat, TcSmaCross, GOOG.iloc[:300].assign(Volume="abc"))
    lists = SHORT.assign(Close=pd.Series([[1.0]] * len(SHORT), index=SHORT.index, dtype=object))
    with pytest.raises(
        compat.errors.CompatTypeError, match=r"column 'Close' holds list values .*prices must be numbers"
    ):
        run(compat, TcSmaCross, lists)


def test_a_fraction_of_equity_at_a_price_of_zero_is_a_data_error() -> None:
    """Any number of units fits the equity at a price of 0: the order cannot be sized (Backtesting.py fills it
    with made-up sizes). Whole units fill there, and the statistics then refuse the trade (its return is
    undefined) naming its entry price."""
    from tradeforge.core.errors import DataError

    class Fraction(compat.Strategy):
        def init(self):
            pass

        def next(self):
            if not self.position:
                self.buy(size=0.5)

    class Units(Fraction):
        def next(self):
            if not self.position:
                self.buy(size=3)

    zero_open = SHORT.assign(Open=SHORT["Open"].where(np.arange(len(SHORT)) != 2, 0.0))
    with pytest.raises(DataError, match=r"bar 2 \(2004-08-23.*price of 0 .*give the size in units"):
        run(compat, Fraction, zero_open)
    with pytest.raises(DataError, match=r"positive entry_price .*size=3.0, entry_price=0.0"):
        run(compat, Units, zero_open, finalize_trades=True)


@LIBS
def test_exclusive_orders_keep_the_order_after_each_cancelled_one(lib: Any) -> None:
    """Backtesting.py cancels while iterating its order list: with a trade open, a second order in the same bar
    cancels the first trade-close order and skips (keeps) the first new order. Same orders, same trades."""

    class S(lib.Strategy):
        def init(self):
            self.working = []

        def next(self):
            n = len(self.data)
            if n == 5:
                self.buy(size=10)
            if n == 20:  # a trade is open
                self.sell(size=1)
                self.buy(size=2)
                self.working = [(o.size, o.is_contingent) for o in self.orders]

    stats = run(lib, S, GOOG.iloc[:40], exclusive_orders=True, finalize_trades=True)
    assert stats["_strategy"].working == [(-10.0, False), (-1.0, False), (2.0, False)]
    trades = stats["_trades"][["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]]
    assert trades.values.tolist() == [
        [10, 5, 20, 104.95, 114.42],
        [-1, 20, 20, 114.42, 114.42],
        [1, 20, 39, 114.42, 141.01],
    ]


def test_what_backtesting_py_accepts_runs_the_same() -> None:
    """A function as a parameter, True as a size, and an indicator function that keeps a helper array on the
    strategy (left by the call on all the data, not by the look-ahead check's shorter call)."""

    def ema(values: Any, n: int) -> Any:
        return pd.Series(values).ewm(span=n).mean()

    def sma(values: Any, n: int) -> Any:
        return pd.Series(values).rolling(n).mean()

    def make(lib: Any) -> type:
        class S(lib.Strategy):
            ma = ema

            def init(self):
                self.sig = self.I(self.signals, self.data.Close, 10)

            def signals(self, close, n):
                self.helper = np.asarray(close, dtype=float) * 2
                return type(self).ma(close, n)

            def next(self):
                if len(self.helper) != len(SHORT):
                    raise RuntimeError("helper array left at the wrong length")
                if not self.position and self.data.Close[-1] > self.sig[-1]:
                    self.buy(size=True)
                elif self.position and self.data.Close[-1] < self.sig[-1]:
                    self.position.close()

        return S

    results = []
    for lib in (backtesting, compat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(lib.Backtest(SHORT, make(lib)).run(ma=sma)["_trades"])
    ours, theirs = results[1], results[0]
    assert len(ours) > 2 and set(ours["Size"]) == {1}
    columns = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]
    assert ours[columns].values.tolist() == theirs[columns].values.tolist()


def test_buy_and_hold_starts_where_indicators_have_values_after_the_run() -> None:
    """Backtesting.py measures Buy & Hold from the indicators' warm-up as it is *after* the run, so values that
    next() writes into an all-NaN indicator (its ML tutorial's forecast array) move the start bar."""

    def strategy(lib: Any) -> type:
        class Forecast(lib.Strategy):
            def init(self):
                self.forecast = self.I(lambda: np.repeat(np.nan, len(self.data)), name="forecast")

            def next(self):
                if len(self.data) >= 100:
                    self.forecast[-1] = 1.0
                    if not self.position:
                        self.buy()

        return Forecast

    ours = run(compat, strategy(compat), GOOG, commission=0.002)
    theirs = run(backtesting, strategy(backtesting), GOOG, commission=0.002)
    close = GOOG.Close.to_numpy()
    assert ours["Buy & Hold Return [%]"] == pytest.approx((close[-1] - close[99]) / close[99] * 100, rel=1e-12)
    for key in ("Buy & Hold Return [%]", "Alpha [%]", "Beta", "Return [%]"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-9), key


@pytest.mark.parametrize(
    "case",
    ["market", "units_with_sl_tp", "limit", "cancelled", "exclusive", "after_warmup", "tagged"],
)
def test_orders_placed_in_init_fill_where_backtesting_py_fills_them(case: str) -> None:
    """Backtesting.py keeps an order placed in init() until its broker first runs (the first bar next() is
    called for), where it fills; the order is in self.orders during init()."""

    def strategy(lib: Any) -> type:
        class InInit(lib.Strategy):
            def init(self):
                if case == "after_warmup":
                    self.sma = self.I(lambda c: pd.Series(c).rolling(20).mean(), self.data.Close)
                if case == "units_with_sl_tp":
                    self.buy(size=30, sl=50, tp=1000)
                elif case == "limit":
                    self.buy(size=0.5, limit=100)
                elif case == "tagged":
                    self.sell(size=10, tag="first")
                else:
                    order = self.buy(size=0.5)
                    if case == "cancelled":
                        order.cancel()
                    if case == "exclusive":
                        self.sell(size=0.3)
                        self.buy(size=0.2)
                self.seen = (len(self.orders), [o.size for o in self.orders], self.equity)

            def next(self):
                if len(self.data) == 40:
                    self.position.close()

        return InInit

    cols = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "SL", "TP", "Tag"]
    kwargs = {"cash": 10_000, "commission": 0.002, "exclusive_orders": case == "exclusive"}
    ours = run(compat, strategy(compat), GOOG.iloc[:80], **kwargs)
    theirs = run(backtesting, strategy(backtesting), GOOG.iloc[:80], **kwargs)
    assert ours["_strategy"].seen == theirs["_strategy"].seen
    assert ours["# Trades"] == theirs["# Trades"] == (0 if case == "cancelled" else 1)
    pd.testing.assert_frame_equal(ours["_trades"][cols], theirs["_trades"][cols], check_dtype=False)
    assert ours["Equity Final [$]"] == pytest.approx(theirs["Equity Final [$]"], rel=1e-12)


def test_indicator_randomness_and_failures_are_backtesting_pys() -> None:
    """The look-ahead check's extra call leaves the random generators as they were: what the strategy draws
    after self.I() is what Backtesting.py's single call leaves; an indicator that fails on all the data raises a
    RuntimeError with no look-ahead warning first; a bad size is an AssertionError as well as a ValueError."""
    import random

    def strategy(lib: Any) -> type:
        class Noisy(lib.Strategy):
            def init(self):
                self.sma = self.I(lambda c: pd.Series(c).rolling(5).mean() + np.random.normal(0, 1e-9, len(c)),
                                  self.data.Close)  # fmt: skip
                self.after = (np.random.random(), random.random())

            def next(self):
                pass

        return Noisy

    draws = []
    for lib in (backtesting, compat):
        np.random.seed(0)
        random.seed(0)
        draws.append(run(lib, strategy(lib))["_strategy"].after)
    assert draws[0] == draws[1]

    def not_double(values: Any) -> Any:
        raise Exception("input array type is not double")  # as TA-Lib says of int64 Volume

    class Failing(compat.Strategy):
        def init(self):
            self.bad = self.I(not_double, self.data.Volume, name="Vol_MA")

        def next(self):
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "could not be checked for look-ahead" warning
        with pytest.raises(RuntimeError, match='indicator "Vol_MA" raised Exception: input array type is not double'):
            compat.Backtest(SHORT, Failing).run()

    class Sized(compat.Strategy):
        def next(self):
            try:
                self.buy(size=0)
            except AssertionError as exc:  # how Backtesting.py code catches it
                self.caught = str(exc)

    assert "positive whole number of units" in run(compat, Sized)["_strategy"].caught


@pytest.mark.parametrize("case", ["many", "none", "one", "bust", "short_doubles", "int_index", "int_index_none"])
def test_statistics_have_backtesting_pys_value_types(case: str) -> None:
    """Equal values and the same Python types: numpy float64 figures, the plain-float NaNs of a run without
    trades, and the int 0 Backtesting.py's geometric mean gives once a return reaches -100%."""
    data = GOOG.iloc[:600].reset_index(drop=True) if case.startswith("int_index") else GOOG.iloc[:600]
    settings = {"margin": 0.02} if case == "bust" else {"finalize_trades": True}

    def strategy(lib: Any) -> type:
        class Typed(lib.Strategy):
            def init(self):
                self.fast = self.I(lambda c: pd.Series(c).rolling(10).mean(), self.data.Close)
                self.slow = self.I(lambda c: pd.Series(c).rolling(20).mean(), self.data.Close)

            def next(self):
                n = len(self.data)
                if case in ("none", "int_index_none"):
                    return
                if case == "one":
                    if n == 50:
                        self.buy()
                    elif n == 60:
                        self.position.close()
                elif case in ("bust", "short_doubles"):
                    if n == 30:
                        self.sell() if case == "bust" else self.sell(size=1)
                elif self.fast[-2] < self.slow[-2] and self.fast[-1] > self.slow[-1]:
                    self.buy()
                elif self.fast[-2] > self.slow[-2] and self.fast[-1] < self.slow[-1]:
                    self.position.close()

        return Typed

    ours = run(compat, strategy(compat), data, **settings)
    theirs = run(backtesting, strategy(backtesting), data, **settings)
    for key in theirs.index:
        if key.startswith("_"):
            continue
        a, b = ours[key], theirs[key]
        assert type(a) is type(b), (key, type(a), type(b))
        assert (pd.isna(a) and pd.isna(b)) or a == b or a == pytest.approx(b, rel=1e-9), (key, a, b)


def test_compute_stats_on_an_empty_subset_of_trades_is_backtesting_pys() -> None:
    import backtesting.lib as bl

    import tradeforge.compat.lib as tl

    results = []
    for lib, funcs in ((backtesting, bl), (compat, tl)):
        stats = run(lib, TcSmaCross if lib is compat else BtSmaCross, GOOG, commission=0.002)
        for subset in (stats["_trades"].iloc[:0], stats["_trades"][stats["_trades"]["PnL"] > 0]):
            results.append(funcs.compute_stats(stats=stats, data=GOOG, trades=subset))
    for ours, theirs in zip(results[2:], results[:2], strict=True):
        for key in theirs.index:
            if key.startswith("_"):
                continue
            a, b = ours[key], theirs[key]
            assert type(a) is type(b), (key, a, b)
            assert (pd.isna(a) and pd.isna(b)) or a == b or a == pytest.approx(b, rel=1e-9), (key, a, b)


def test_compat_test_module_is_backtesting_test() -> None:
    """`from tradeforge.compat.test import SMA, GOOG` replaces `from backtesting.test import SMA, GOOG`: the same
    frames (values, dtypes, index) and the same SMA."""
    import backtesting.test as bt_test

    import tradeforge.compat.test as tf_test

    for name in ("GOOG", "EURUSD", "BTCUSD"):
        pd.testing.assert_frame_equal(getattr(tf_test, name), getattr(bt_test, name))
    close = tf_test.GOOG.Close
    pd.testing.assert_series_equal(tf_test.SMA(close, 10), bt_test.SMA(close, 10))
    assert sorted(tf_test.__all__) == ["BTCUSD", "EURUSD", "GOOG", "SMA"]
    with pytest.raises(AttributeError, match="has no attribute 'AAPL'"):
        _ = tf_test.AAPL
