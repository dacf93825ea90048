"""Regression tests: each pins a bug that was found and fixed (the comment names what went wrong)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from tradeforge import ConfigError, Strategy, StrategyError
from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY, NS_PER_HOUR, iso
from tradeforge.core.risk import RiskLimits
from tradeforge.core.types import Instrument
from tradeforge.sim.backtest import run_backtest

FLAT = [100.0, 101.0, 99.0, 100.0]


def bars(rows: list[list[float]], sym: str = "X", tf: int = NS_PER_HOUR, t0: int = 0, vol: Any = None) -> BarSeries:
    arr = np.array(rows, dtype=float)
    ts = t0 + np.arange(len(arr), dtype=np.int64) * tf
    volume = np.full(len(arr), 1e9) if vol is None else np.asarray(vol, dtype=float)
    return BarSeries.from_arrays(sym, tf, ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], volume)


def fills(result: Any) -> list[tuple[int, str, str, float, float, str]]:
    return [(f.bar, f.symbol, f.side.name, f.qty, f.price, f.reason) for f in result.fills]


class Script(Strategy):
    """Runs self.script[step](self) at each step."""

    script: Any = None

    def on_bar(self) -> None:
        action = (self.script or {}).get(self.engine.step)
        if action is not None:
            action(self)


def test_close_of_one_trade_trades_that_trades_symbol() -> None:
    # close(trade=t) used the strategy's first symbol: it sold X to close a Y trade
    def close_y(s: Strategy) -> None:
        s.close(trade=next(t for t in s.trades if t.symbol == "Y"))

    script = {0: lambda s: (s.buy(10, symbol="X"), s.buy(10, symbol="Y")), 2: close_y}
    r = run_backtest(Script(script=script), [bars([FLAT] * 6), bars([[50, 51, 49, 50]] * 6, sym="Y")], cash=100_000)
    assert fills(r)[-1] == (3, "Y", "SELL", 10.0, 50.0, "exit")
    assert [(t.symbol, t.is_open) for t in r.trades] == [("X", True), ("Y", False)]


def test_close_timing_order_from_a_fill_callback_does_not_fill_at_the_previous_close() -> None:
    # a market order sent from on_trade while bar 1 was being matched filled at bar 0's close (100),
    # outside bar 1's range [90, 97]; it must wait for the next bar
    class S(Strategy):
        def on_bar(self) -> None:
            if self.engine.step == 0:
                self.buy(10, limit=95.0)

        def on_trade(self, event: Any) -> None:
            if event.fill.reason == "limit":
                self.sell(5)

    data = bars([FLAT, [96, 97, 90, 91], [91, 92, 90, 91]])
    for replay in (False, True):
        r = run_backtest(S, data, cash=10_000, fill_timing="close", replay=replay)
        assert fills(r) == [(1, "X", "BUY", 10.0, 95.0, "limit"), (2, "X", "SELL", 5.0, 91.0, "market")]


def test_working_orders_count_toward_position_limits() -> None:
    # three buy(60) in one bar all passed max_position_qty=100 (each saw the empty position)
    r = run_backtest(
        Script(script={0: lambda s: [s.buy(60) for _ in range(3)]}),
        bars([FLAT] * 3),
        cash=100_000,
        risk=RiskLimits(max_position_qty=100),
    )
    assert [o.status.value for o in r.orders] == ["filled", "rejected", "rejected"]
    assert "max_position_qty" in r.orders[1].reject_reason


def test_kill_switch_flattens_despite_order_size_limits_and_hedged_positions() -> None:
    # reducing orders were refused by max_order_qty, and hedged trades netting to zero were skipped
    r = run_backtest(
        Script(
            script={
                0: lambda s: s.buy(50),
                1: lambda s: s.buy(50),
                2: lambda s: s.buy(50),
                4: lambda s: s.kill_switch("stop"),
            }
        ),
        bars([FLAT] * 7),
        cash=100_000,
        risk=RiskLimits(max_order_qty=50),
    )
    assert r.open_trades == [] and r.orders[-1].role == "kill_switch" and r.orders[-1].qty == 150
    r = run_backtest(
        Script(script={0: lambda s: (s.buy(10), s.sell(10)), 2: lambda s: s.kill_switch("stop")}),
        bars([FLAT] * 6),
        cash=10_000,
        position_mode="hedging",
    )
    assert r.open_trades == [] and [f.reason for f in r.fills][-2:] == ["kill_switch", "kill_switch"]


def test_volume_cap_holds_for_a_stop_loss_take_profit_pair() -> None:
    # the take-profit leg re-triggered its stop-loss sibling: two capped fills per bar instead of one
    vol = [1e6, 1e6, 100, 100, 100, 100]
    data = bars([FLAT, FLAT] + [[90, 91, 89, 90]] * 4, vol=vol)
    r = run_backtest(
        Script(script={0: lambda s: s.buy(100, sl=95.0, tp=110.0)}), data, cash=100_000, max_volume_fraction=0.1
    )
    assert [(f.bar, f.qty) for f in r.fills if f.reason == "stop_loss"] == [(2, 10.0), (3, 10.0), (4, 10.0), (5, 10.0)]


def test_take_profit_reachable_on_the_entry_bar_with_slippage() -> None:
    # with slippage the entry's fill price differs from the open, so the entry looked intrabar
    data = bars([FLAT, [100, 105, 99.5, 101], [101, 102, 100, 101]])
    r = run_backtest(Script(script={0: lambda s: s.buy(10, tp=104.0, sl=90.0)}), data, cash=10_000, slippage=0.001)
    assert fills(r)[1] == (1, "X", "SELL", 10.0, 104.0, "take_profit")


def test_fixed_fee_is_charged_once_per_order() -> None:
    r = run_backtest(
        Script(script={0: lambda s: s.buy(30)}),
        bars([FLAT] * 5, vol=[100] * 5),
        cash=100_000,
        commission=(1.0, 0.0),
        max_volume_fraction=0.1,
    )
    assert [(f.qty, f.fee) for f in r.fills] == [(10.0, 1.0), (10.0, 0.0), (10.0, 0.0)]


def test_trailing_stop_on_a_symbol_without_a_price_is_rejected_not_a_crash() -> None:
    r = run_backtest(
        Script(script={0: lambda s: s.sell(1, symbol="Y", trail=2.0)}),
        [bars([FLAT] * 4), bars([FLAT] * 2, sym="Y", t0=2 * NS_PER_HOUR)],
    )
    assert r.orders[0].status.value == "rejected" and "no price for Y" in r.orders[0].reject_reason


def test_weekly_bars_start_on_monday() -> None:
    seen: list[str] = []

    class S(Strategy):
        def on_start(self) -> None:
            self.week = self.data_for(timeframe="1w")

        def on_stop(self) -> None:
            seen.extend(iso(t)[:10] for t in self.week.ts)

    run_backtest(S, bars([FLAT] * 21, tf=NS_PER_DAY, t0=1_704_067_200 * 10**9))  # from Monday 2024-01-01
    assert seen == ["2024-01-01", "2024-01-08", "2024-01-15"]


def test_explicit_sizes_are_rounded_to_whole_lots() -> None:
    r = run_backtest(
        Script(script={0: lambda s: s.buy(2.7)}), bars([FLAT] * 3), instruments={"X": Instrument("X", lot_size=1.0)}
    )
    assert r.fills[0].qty == 2.0


def test_capital_and_symbols_are_checked_against_the_strategies_and_the_cash() -> None:
    class A(Strategy):
        pass

    class B(Strategy):
        pass

    data = [bars([FLAT] * 3), bars([FLAT] * 3, sym="Y")]
    with pytest.raises(ConfigError, match="unknown strategies"):
        run_backtest([A(), B()], data, symbols={"b": ["Y"]})
    with pytest.raises(ConfigError, match="more than the account's cash"):
        run_backtest([A(), B()], data, cash=10_000, capital={"A": 9_000, "B": 5_000})
    with pytest.raises(ConfigError, match="list of symbols"):
        run_backtest([A(), B()], data, symbols={"A": "XY"})
    r = run_backtest([A(), B()], data, cash=10_000, capital={"A": 9_000})
    assert {k: v.initial_capital for k, v in r.strategies.items()} == {"A": 9_000.0, "B": 1_000.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tif": "fok"}, "unknown time in force 'fok'"),
        ({"limit": 99.0, "expire_at": datetime(2030, 1, 1, tzinfo=UTC)}, "integer nanoseconds"),
        ({"sl": 120.0, "tp": 80.0}, "a long order needs sl < price < tp"),
        ({"trail": 2.0, "trail_percent": 0.5}, "not both"),
        ({"limit": 99.0, "tif": "ioc", "valid_for": "2h"}, "cannot be combined"),
    ],
)
def test_bad_order_arguments_are_refused_with_a_reason(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        run_backtest(Script(script={0: lambda s: s.buy(1, **kwargs)}), bars([FLAT] * 3))


def test_duck_typed_fee_model_is_accepted() -> None:
    class Tiered:
        def fee(self, qty: float, price: float, liquidity: Any) -> float:
            return 0.001 * qty * price

        def unit_rate(self, liquidity: Any) -> float:
            return 0.001

        def fixed(self) -> float:
            return 0.0

    r = run_backtest(Script(script={0: lambda s: s.buy(1)}), bars([FLAT] * 3), commission=Tiered())
    assert r.fills[0].fee == pytest.approx(0.1)


def test_multi_output_indicator_refusing_empty_input_explains_itself_in_replay() -> None:
    def bands(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(close) == 0:
            raise ValueError("empty")
        return close - 1, close + 1

    class S(Strategy):
        def on_start(self) -> None:
            self.lo, self.hi = self.I(bands, self.data.close)

    data = bars([FLAT] * 10)
    run_backtest(S, data)  # batch knows the data and is fine
    with pytest.raises(StrategyError, match="return empty arrays for empty input"):
        run_backtest(S, data, replay=True)


def test_with_two_strategies_the_error_names_the_one_that_raised() -> None:
    class Quiet(Strategy):
        pass

    class Loud(Strategy):
        def on_bar(self) -> None:
            if self.engine.step == 2:
                raise RuntimeError("boom")

    for replay in (False, True):
        with pytest.raises(StrategyError, match=r"strategy 'Loud' raised in on_bar at bar 1970-01-01T02:00:00Z"):
            run_backtest([Quiet(), Loud()], bars([FLAT] * 5), replay=replay)


def test_a_batch_run_defers_full_collections_and_freezes_nothing() -> None:
    # while a run goes on, full collections wait (each would walk every order, fill and trade made so far)
    # but nothing is frozen: earlier runs' garbage stays collectable (freezing it run after run grew memory
    # without bound); the thresholds come back after the run, also when the strategy raises; cycles made
    # before a run are collected after it
    import gc

    from tradeforge.core.heap import DEFERRED, full_collections_deferred

    seen: list[tuple[int, tuple[int, int, int]]] = []

    def look(s: Strategy) -> None:
        seen.append((gc.get_freeze_count(), gc.get_threshold()))

    def boom(s: Strategy) -> None:
        raise RuntimeError("boom")

    before = gc.get_threshold()
    assert before[2] != DEFERRED
    run_backtest(Script(script={1: look}), [bars([FLAT] * 4)], cash=1_000)
    assert seen == [(0, (before[0], before[1], DEFERRED))]
    assert gc.get_threshold() == before
    with pytest.raises(StrategyError, match="boom"):
        run_backtest(Script(script={1: boom}), [bars([FLAT] * 4)], cash=1_000)
    assert gc.get_threshold() == before
    with full_collections_deferred():  # nested: the outer block restores
        run_backtest(Script(script={}), [bars([FLAT] * 4)], cash=1_000)
        assert gc.get_threshold()[2] == DEFERRED
        with full_collections_deferred():
            gc.set_threshold(before[0], before[1], 50)  # changed by someone else meanwhile: left as they set it
    assert gc.get_threshold() == (before[0], before[1], 50)
    gc.set_threshold(*before)
    garbage: list[Any] = []
    garbage.append(garbage)
    ref = __import__("weakref").ref(_Holder(garbage))
    del garbage
    run_backtest(Script(script={}), [bars([FLAT] * 4)], cash=1_000)
    gc.collect()
    assert ref() is None


class _Holder:
    """A weak-referenceable object kept alive only by a reference cycle."""

    def __init__(self, cycle: list[Any]) -> None:
        self.cycle = cycle
        cycle.append(self)
