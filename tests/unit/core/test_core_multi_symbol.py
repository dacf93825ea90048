"""Several symbols with gaps in one engine, longer time frames built from the base bars, entry windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradeforge import Strategy
from tradeforge.core.clock import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE
from tradeforge.core.types import OrderStatus
from tradeforge.sim.backtest import run_backtest

S = OrderStatus
T0 = 1_704_067_200_000_000_000
A_ROWS = [(100.0 + i, 102.0 + i, 98.0 + i, 101.0 + i) for i in range(6)]
B_ROWS = [(50.0, 52.0, 49.0, 51.0), (51.0, 53.0, 50.0, 52.0), (54.0, 56.0, 53.0, 55.0), (55.0, 57.0, 54.0, 56.0)]
B_STEPS = [0, 1, 3, 5]  # B has no bar at steps 2 and 4


def day(i: int) -> int:
    return T0 + i * NS_PER_DAY


def two_symbols(tf: Any) -> list[Any]:
    return [tf.make_bars(A_ROWS, symbol="A"), tf.make_bars(B_ROWS, symbol="B", ts=[day(k) for k in B_STEPS])]


def test_on_bar_runs_only_when_a_symbol_of_the_strategy_has_a_bar(tf: Any) -> None:
    sa = tf.Scripted(name="SA")
    sb = tf.Scripted(name="SB")
    both = tf.Scripted(name="AB")
    result = run_backtest([sa, sb, both], two_symbols(tf), symbols={"SA": ["A"], "SB": ["B"], "AB": ["A", "B"]})
    assert result.timestamps.tolist() == [day(k) for k in range(6)]
    assert sa.bar_steps == [0, 1, 2, 3, 4, 5]
    assert sb.bar_steps == B_STEPS
    assert both.bar_steps == [0, 1, 2, 3, 4, 5]


def test_each_strategy_sees_its_symbols_bars_only_as_they_arrive(tf: Any) -> None:
    class Looker(Strategy):
        def on_start(self) -> None:
            self.b = self.data_for("B")
            self.seen: list[tuple[int, int, int, float]] = []

        def on_bar(self) -> None:
            self.seen.append((self.engine.step, len(self.data.close), len(self.b.close), self.b.close[-1]))

    looker = Looker()
    run_backtest(looker, two_symbols(tf))
    assert looker.data.symbol == "A"
    assert looker.seen == [
        (0, 1, 1, 51.0),
        (1, 2, 2, 52.0),
        (2, 3, 2, 52.0),
        (3, 4, 3, 55.0),
        (4, 5, 3, 55.0),
        (5, 6, 4, 56.0),
    ]


def test_orders_on_a_gappy_symbol_fill_at_its_next_bar(tf: Any) -> None:
    sb = tf.Scripted({1: lambda s: s.buy(10), 3: lambda s: s.close()}, name="SB")
    result = run_backtest(sb, two_symbols(tf), symbols={"SB": ["B"]}, cash=10_000.0)
    # bought after B's step-1 bar: B's next bar is at step 3 (open 54); closed at step 5 (open 55)
    assert [(f.symbol, f.bar, f.ts, f.price) for f in result.fills] == [("B", 3, day(3), 54.0), ("B", 5, day(5), 55.0)]
    # equity on the step grid: B's close is carried over its gaps
    assert result.equity.tolist() == pytest.approx([10_000, 10_000, 10_000, 10_010, 10_010, 10_010])


def test_multi_symbol_equity_marks_each_position_at_its_own_close(tf: Any) -> None:
    script = {0: [lambda s: s.buy(1, symbol="A"), lambda s: s.buy(2, symbol="B")]}
    strat = tf.Scripted(script)
    result = run_backtest(strat, two_symbols(tf), cash=10_000.0)
    # A bought at 101 (step 1 open), B at 51 (step 1 open)
    assert [(f.symbol, f.bar, f.price) for f in result.fills] == [("A", 1, 101.0), ("B", 1, 51.0)]
    cash = 10_000 - 101 - 102
    a_close = np.array([101.0, 102, 103, 104, 105, 106])
    b_close = np.array([51.0, 52, 52, 55, 55, 56])
    expected = np.where(np.arange(6) >= 1, cash + a_close + 2 * b_close, 10_000.0)
    assert result.equity.tolist() == pytest.approx(expected.tolist())


# ----------------------------------------------------------------------------------------- longer time frames
M15 = 15 * NS_PER_MINUTE
ROWS_15M = [
    (100.0, 101.0, 99.0, 100.5, 10.0),
    (100.5, 103.0, 100.0, 102.0, 20.0),
    (102.0, 102.5, 97.0, 98.0, 30.0),
    (98.0, 99.0, 96.0, 97.5, 40.0),
    (97.5, 98.0, 95.0, 96.0, 50.0),
    (96.0, 100.0, 95.5, 99.0, 60.0),
    (99.0, 104.0, 98.5, 103.0, 70.0),
    (103.0, 103.5, 101.0, 102.0, 80.0),
]
HOUR0 = (T0, 100.0, 103.0, 96.0, 97.5, 100.0)
HOUR1 = (T0 + NS_PER_HOUR, 97.5, 104.0, 95.0, 102.0, 260.0)


class Hourly(Strategy):
    late = -1  # ask for the hourly view only at this step (-1: in on_start)

    def on_start(self) -> None:
        self.seen: list[tuple[int, int, list[tuple[Any, ...]]]] = []
        self.h1 = self.data_for("X", "1h") if self.late < 0 else None

    def on_bar(self) -> None:
        k = self.engine.step
        if self.h1 is None:
            if k < self.late:
                return
            self.h1 = self.data_for(None, "1h")
        h = self.h1
        rows = list(zip(h.ts, h.open, h.high, h.low, h.close, h.volume, strict=True))
        self.seen.append((k, len(h), rows))


@pytest.mark.parametrize("replay", [False, True])
def test_hourly_bar_is_revealed_only_after_its_last_15_minute_bar(tf: Any, replay: bool) -> None:
    strat = Hourly()
    run_backtest(strat, tf.make_bars(ROWS_15M, timeframe=M15), replay=replay)
    assert [(k, n) for k, n, _ in strat.seen] == [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (6, 1), (7, 2)]
    assert strat.seen[3][2] == [HOUR0]
    assert strat.seen[6][2] == [HOUR0]
    assert strat.seen[7][2] == [HOUR0, HOUR1]


def test_hourly_view_asked_for_late_catches_up(tf: Any) -> None:
    strat = Hourly(late=5)
    run_backtest(strat, tf.make_bars(ROWS_15M, timeframe=M15))
    assert [(k, n) for k, n, _ in strat.seen] == [(5, 1), (6, 1), (7, 2)]
    assert strat.seen[0][2] == [HOUR0] and strat.seen[-1][2] == [HOUR0, HOUR1]


def test_hourly_bar_with_a_missing_last_quarter_is_emitted_when_the_next_hour_starts(tf: Any) -> None:
    stamps = [T0, T0 + M15, T0 + 2 * M15, T0 + NS_PER_HOUR, T0 + NS_PER_HOUR + M15]
    strat = Hourly()
    run_backtest(strat, tf.make_bars(ROWS_15M[:5], timeframe=M15, ts=stamps))
    assert [(k, n) for k, n, _ in strat.seen] == [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)]
    assert strat.seen[3][2] == [(T0, 100.0, 103.0, 97.0, 98.0, 60.0)]


def test_entry_period_allows_one_entry_per_day(tf: Any) -> None:
    class Daily(tf.Scripted):  # type: ignore[misc, name-defined]
        entry_period = "1d"

    rows = [(100.0, 101.0, 99.0, 100.0)] * 27
    script = {
        1: lambda s: s.buy(1),
        2: lambda s: s.buy(1),  # same day: refused
        3: lambda s: s.close(),  # an exit is not an entry
        5: lambda s: s.sell(1),  # a new short entry, same day: refused
        25: lambda s: s.buy(1),  # next day
    }
    strat = Daily(script)
    assert "entry_period" not in Daily.parameters()
    run_backtest(strat, tf.make_bars(rows, timeframe=NS_PER_HOUR), cash=10_000.0)
    assert strat.first(1).status is S.FILLED
    for k in (2, 5):
        order = strat.first(k)
        assert order.status is S.REJECTED and "entry window" in order.reject_reason and "1d" in order.reject_reason
    assert strat.first(3)[0].status is S.FILLED
    assert strat.first(25).status is S.FILLED


def test_an_order_refused_before_submission_is_not_an_entry(tf: Any) -> None:
    from tradeforge.core.risk import RiskLimits

    class Daily(tf.Scripted):  # type: ignore[misc, name-defined]
        entry_period = "1d"

    strat = Daily({1: lambda s: s.buy(10), 2: lambda s: s.buy(5)})
    rows = [(100.0, 101.0, 99.0, 100.0)] * 4
    run_backtest(strat, tf.make_bars(rows, timeframe=NS_PER_HOUR), risk=RiskLimits(max_position_qty=5))
    assert strat.first(1).status is S.REJECTED and "max_position_qty" in strat.first(1).reject_reason
    # the refused order never entered: the day's one entry is still available
    assert strat.first(2).status is S.FILLED, strat.first(2).reject_reason


def test_close_timing_order_on_a_symbol_without_a_bar_waits_for_its_next_bar() -> None:
    from tradeforge import Strategy
    from tradeforge.core.bars import BarSeries
    from tradeforge.core.clock import NS_PER_MINUTE
    from tradeforge.sim.backtest import run_backtest

    t0 = 1_704_067_200 * 10**9
    a = BarSeries.from_arrays(
        "A",
        NS_PER_MINUTE,
        [t0 + k * NS_PER_MINUTE for k in range(6)],
        [10.0] * 6,
        [11.0] * 6,
        [9.0] * 6,
        [10.0] * 6,
        [1.0] * 6,
    )
    b_steps = [0, 1, 4, 5]  # B has no bars at steps 2 and 3
    b = BarSeries.from_arrays(
        "B",
        NS_PER_MINUTE,
        [t0 + k * NS_PER_MINUTE for k in b_steps],
        [20.0, 20.0, 30.0, 30.0],
        [21.0, 21.0, 31.0, 31.0],
        [19.0, 19.0, 29.0, 29.0],
        [20.5, 20.5, 30.5, 30.5],
        [1.0] * 4,
    )

    class BuyBWhileItIsSilent(Strategy):
        def on_bar(self) -> None:
            if self.engine.step == 2:
                self.buy(1, symbol="B")

    result = run_backtest(BuyBWhileItIsSilent, [a, b], cash=1_000, fill_timing="close")
    (fill,) = result.fills
    assert (fill.bar, fill.price) == (4, 30.0)  # the open of B's next bar, not B's stale close of 20.5
