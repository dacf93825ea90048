"""Order life cycle inside a run: time in force, cancel, partial fills, illegal transitions."""

from __future__ import annotations

from typing import Any

import pytest

from tradeforge import ConfigError, StrategyError
from tradeforge.core.clock import NS_PER_DAY, NS_PER_HOUR
from tradeforge.core.errors import IllegalTransition
from tradeforge.core.types import OrderStatus, TimeInForce
from tradeforge.sim.backtest import run_backtest

S = OrderStatus
T0 = 1_704_067_200_000_000_000
BAR0 = (100.0, 102.0, 98.0, 101.0)
BAR1 = (101.0, 103.0, 99.0, 102.0)
MISS = (100.0, 101.0, 96.0, 97.0)  # does not reach 95
TOUCH = (97.0, 98.0, 94.0, 96.0)  # reaches 95


def day(i: int) -> int:
    return T0 + i * NS_PER_DAY


def hour(i: int) -> int:
    return T0 + i * NS_PER_HOUR


# --------------------------------------------------------------------------------------------------- IOC
def test_ioc_expires_after_its_first_bar(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(1, limit=95.0, tif="ioc")}, [BAR0, BAR1, MISS, TOUCH])
    order = strat.first(1)
    assert order.tif is TimeInForce.IOC
    assert order.status is S.EXPIRED and order.history[-1] == (day(2), S.EXPIRED)
    assert "IOC" in order.reject_reason
    assert result.fills == []  # bar 3 would have filled it
    assert (2, order.id, S.EXPIRED, order.reject_reason) in strat.order_events


def test_ioc_fills_on_its_first_bar(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(1, limit=95.0, tif=TimeInForce.IOC)}, [BAR0, BAR1, TOUCH])
    assert strat.first(1).status is S.FILLED and result.fills[0].price == 95.0


def test_ioc_market_order_with_close_timing_fills_at_once(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(1, tif="ioc")}, [BAR0, BAR1, TOUCH], fill_timing="close")
    assert strat.first(1).status is S.FILLED and (result.fills[0].bar, result.fills[0].price) == (1, 102.0)


# --------------------------------------------------------------------------------------------------- DAY
def run_hourly(tf: Any, script: dict[int, Any], rows: list[tuple[float, ...]], start: int, **kw: Any) -> Any:
    strat = tf.Scripted(script)
    result = run_backtest(strat, tf.make_bars(rows, timeframe=NS_PER_HOUR, start=start), cash=10_000.0, **kw)
    return result, strat


def test_day_order_expires_when_the_next_utc_day_starts(tf: Any) -> None:
    start = T0 + 21 * NS_PER_HOUR  # 21:00, 22:00, 23:00, then 00:00 and 01:00 of the next day
    rows = [BAR0, BAR1, MISS, TOUCH, TOUCH]
    result, strat = run_hourly(tf, {1: lambda s: s.buy(1, limit=95.0, tif="day")}, rows, start)
    order = strat.first(1)
    assert order.status is S.EXPIRED
    assert order.history[-1] == (T0 + 24 * NS_PER_HOUR, S.EXPIRED)
    assert "day" in order.reject_reason
    assert result.fills == []


def test_day_order_fills_within_its_day(tf: Any) -> None:
    start = T0 + 21 * NS_PER_HOUR
    rows = [BAR0, BAR1, TOUCH, TOUCH]
    result, strat = run_hourly(tf, {1: lambda s: s.buy(1, limit=95.0, tif="day")}, rows, start)
    assert strat.first(1).status is S.FILLED and result.fills[0].ts == T0 + 23 * NS_PER_HOUR


# --------------------------------------------------------------------------------------------------- GTT
def test_valid_for_expires_at_the_time(tf: Any) -> None:
    # placed when bar 1 closes (at hour 2): "3h" covers the bars opening at hours 2, 3 and 4
    rows = [BAR0, BAR1, MISS, MISS, MISS, TOUCH]
    result, strat = run_hourly(tf, {1: lambda s: s.buy(1, limit=95.0, valid_for="3h")}, rows, T0)
    order = strat.first(1)
    assert order.tif is TimeInForce.GTT and order.expire_at == hour(5)
    assert order.status is S.EXPIRED and order.history[-1] == (hour(5), S.EXPIRED)
    assert result.fills == []


def test_valid_for_one_bar_gives_the_next_bar_a_chance(tf: Any) -> None:
    rows = [BAR0, BAR1, TOUCH, TOUCH]
    result, strat = run_hourly(tf, {1: lambda s: s.buy(1, limit=95.0, valid_for="1h")}, rows, T0)
    assert strat.first(1).status is S.FILLED and result.fills[0].ts == hour(2)


def test_valid_for_fills_before_the_time(tf: Any) -> None:
    rows = [BAR0, BAR1, MISS, TOUCH, TOUCH]
    result, strat = run_hourly(tf, {1: lambda s: s.buy(1, limit=95.0, valid_for="3h")}, rows, T0)
    assert strat.first(1).status is S.FILLED and result.fills[0].ts == hour(3)


def test_expire_at_makes_a_gtt_order(tf: Any) -> None:
    rows = [BAR0, BAR1, MISS, TOUCH]
    result, strat = run_hourly(tf, {1: lambda s: s.buy(1, limit=95.0, expire_at=hour(3))}, rows, T0)
    order = strat.first(1)
    assert order.tif is TimeInForce.GTT and order.status is S.EXPIRED
    assert order.history[-1] == (hour(3), S.EXPIRED) and result.fills == []


def test_gtt_without_a_time_is_refused(tf: Any) -> None:
    with pytest.raises(StrategyError) as info:
        tf.run({1: lambda s: s.buy(1, limit=95.0, tif="gtt")}, [BAR0, BAR1, TOUCH])
    assert isinstance(info.value.original, ConfigError) and "expire_at" in str(info.value)


def test_gtc_order_stays_working(tf: Any) -> None:
    rows = [BAR0, BAR1, MISS, MISS, MISS, TOUCH]
    result, strat = tf.run({1: lambda s: s.buy(1, limit=95.0)}, rows)
    assert strat.first(1).status is S.FILLED and result.fills[0].bar == 5


# ------------------------------------------------------------------------------------------------ cancel
def test_cancel_a_working_limit(tf: Any) -> None:
    seen = {}
    script = {
        1: lambda s: s.buy(1, limit=95.0),
        2: [lambda s: s.cancel(s.orders[0]), lambda s: seen.update(open=list(s.orders))],
    }
    result, strat = tf.run(script, [BAR0, BAR1, MISS, TOUCH])
    order = strat.first(1)
    assert order.status is S.CANCELLED
    assert order.history == [(day(1), S.SUBMITTED), (day(1), S.ACCEPTED), (day(2), S.CANCELLED)]
    assert order.reject_reason == "cancelled by strategy"
    assert seen == {"open": []}
    assert result.fills == []
    assert (2, order.id, S.CANCELLED, "cancelled by strategy") in strat.order_events


def test_cancel_of_a_filled_order_changes_nothing(tf: Any) -> None:
    script = {1: lambda s: s.buy(1), 3: lambda s: s.cancel(s.placed[1][0])}
    _result, strat = tf.run(script, [BAR0, BAR1, MISS, TOUCH])
    order = strat.first(1)
    assert order.status is S.FILLED and order.history[-1] == (day(2), S.FILLED)


def test_filled_order_cannot_be_cancelled(tf: Any) -> None:
    _result, strat = tf.run({1: lambda s: s.buy(1)}, [BAR0, BAR1, MISS])
    order = strat.first(1)
    with pytest.raises(IllegalTransition):
        order.transition(S.CANCELLED, day(3))
    with pytest.raises(IllegalTransition):
        strat.engine.order_status(order, S.CANCELLED, "too late")
    assert order.status is S.FILLED


# -------------------------------------------------------------------------------------------- partial fills
def test_volume_cap_gives_partial_fills(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 100, 105, 20), (105, 108, 101, 107, 20), (100, 103, 99, 102, 20)]
    result, strat = tf.run({1: lambda s: s.buy(10)}, rows, max_volume_fraction=0.25)
    order = strat.first(1)
    assert [(f.bar, f.qty, f.price) for f in result.fills] == [(2, 5.0, 104.0), (3, 5.0, 105.0)]
    assert order.history == [
        (day(1), S.SUBMITTED),
        (day(1), S.ACCEPTED),
        (day(2), S.PARTIALLY_FILLED),
        (day(3), S.FILLED),
    ]
    assert order.avg_fill_price == pytest.approx(104.5) and order.filled_qty == 10.0
    (trade,) = result.trades
    assert trade.size == 10.0 and trade.entry_price == pytest.approx(104.5)


def test_cancel_a_partially_filled_order(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 100, 105, 20), (105, 108, 101, 107, 20), (100, 103, 99, 102, 20)]
    script = {1: lambda s: s.buy(10), 2: lambda s: s.cancel(s.placed[1][0])}
    result, strat = tf.run(script, rows, max_volume_fraction=0.25)
    order = strat.first(1)
    assert [s for _, s in order.history][-2:] == [S.PARTIALLY_FILLED, S.CANCELLED]
    assert order.filled_qty == 5.0 and len(result.fills) == 1 and strat.position().qty == 5.0


def test_order_field_order_is_what_the_engine_passes_positionally() -> None:
    # Execution.submit_new builds orders positionally (speed): reordering Order's fields must fail here
    import dataclasses

    from tradeforge.core.orders import Order

    names = [f.name for f in dataclasses.fields(Order)][:23]
    assert names == [
        "id", "strategy", "symbol", "side", "type", "qty", "created_ts", "created_bar", "fraction", "limit", "stop",
        "trail_amount", "trail_percent", "tif", "expire_at", "sl", "tp", "reduce_only", "parent_id", "trade_id",
        "oco_id", "role", "tag",
    ]  # fmt: skip
