"""Attached stop-loss / take-profit: created on the entry fill, linked, one-cancels-other, pessimistic."""

from __future__ import annotations

from typing import Any

import pytest

from tradeforge.core.clock import NS_PER_DAY
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, Side

S = OrderStatus
T0 = 1_704_067_200_000_000_000
BAR0 = (100.0, 102.0, 98.0, 101.0)
BAR1 = (101.0, 103.0, 99.0, 102.0)
QUIET2 = (104.0, 106.0, 100.0, 105.0)  # entry bar: neither 95 nor 110 is reached


def day(i: int) -> int:
    return T0 + i * NS_PER_DAY


def long_bracket(tf: Any, bar3: tuple[float, ...], bar2: tuple[float, ...] = QUIET2, **kw: Any) -> tuple[Any, Any]:
    rows = [BAR0, BAR1, bar2, bar3, (100, 101, 99, 100)]
    return tf.run({1: lambda s: s.buy(10, sl=95.0, tp=110.0, tag="bracket")}, rows, **kw)


def legs(result: Any) -> tuple[Any, Any, Any]:
    entry, sl, tp = result.orders[:3]
    assert (entry.role, sl.role, tp.role) == ("entry", "stop_loss", "take_profit")
    return entry, sl, tp


def test_legs_are_created_when_the_entry_fills_and_linked(tf: Any) -> None:
    seen: dict[str, Any] = {}

    def snapshot(s: Any) -> None:
        seen["orders_at_1"] = [o.id for o in s.orders]

    script = {
        1: [lambda s: s.buy(10, sl=95.0, tp=110.0, tag="bracket"), snapshot],
        2: lambda s: seen.setdefault("orders_at_2", [(o.id, o.role) for o in s.orders]),
    }
    result, _strat = tf.run(script, [BAR0, BAR1, QUIET2, (105, 108, 101, 107)])
    entry, sl, tp = legs(result)
    assert seen["orders_at_1"] == [entry.id]  # only the entry is working before it fills
    assert seen["orders_at_2"] == [(sl.id, "stop_loss"), (tp.id, "take_profit")]
    (trade,) = result.trades
    assert trade.is_open and trade.sl_order_id == sl.id and trade.tp_order_id == tp.id
    assert sl.type is OrderType.STOP and sl.stop == 95.0 and sl.side is Side.SELL
    assert tp.type is OrderType.LIMIT and tp.limit == 110.0 and tp.side is Side.SELL
    for leg in (sl, tp):
        assert leg.parent_id == entry.id and leg.trade_id == trade.id and leg.qty == 10.0
        assert leg.reduce_only and leg.tag == "bracket"
        assert leg.created_bar == 2 and leg.created_ts == day(2)
        assert leg.status is S.ACCEPTED
    assert sl.oco_id == tp.id and tp.oco_id == sl.id


def test_take_profit_fills_and_cancels_the_stop_loss(tf: Any) -> None:
    result, _ = long_bracket(tf, (105, 111, 103, 110))
    entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 104.0), (tp.id, 3, 110.0)]
    assert result.fills[1].liquidity is Liquidity.MAKER and result.fills[1].reason == "take_profit"
    assert tp.status is S.FILLED
    assert sl.status is S.CANCELLED and sl.history[-1] == (day(3), S.CANCELLED)
    (trade,) = result.trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 110.0, "take_profit")
    assert trade.pnl == pytest.approx(60.0)
    assert result.equity[-1] == pytest.approx(10_060.0)


def test_stop_loss_fills_and_cancels_the_take_profit(tf: Any) -> None:
    result, _ = long_bracket(tf, (100, 101, 94, 96))
    _entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.price) for f in result.fills][1] == (sl.id, 3, 95.0)
    assert result.fills[1].reason == "stop_loss"
    assert sl.status is S.FILLED and tp.status is S.CANCELLED
    (trade,) = result.trades
    assert (trade.exit_price, trade.exit_reason) == (95.0, "stop_loss")
    assert trade.pnl == pytest.approx(-90.0)


def test_both_touched_in_one_bar_the_stop_loss_wins(tf: Any) -> None:
    result, _ = long_bracket(tf, (105, 112, 94, 100))
    _, sl, tp = legs(result)
    assert sl.status is S.FILLED and tp.status is S.CANCELLED
    assert result.fills[-1].price == 95.0 and result.trades[0].exit_reason == "stop_loss"


def test_gap_through_the_take_profit_fills_it_at_the_open(tf: Any) -> None:
    result, _ = long_bracket(tf, (113, 115, 94, 100))
    _, sl, tp = legs(result)
    assert tp.status is S.FILLED and sl.status is S.CANCELLED
    assert (result.fills[-1].bar, result.fills[-1].price) == (3, 113.0)
    assert result.trades[0].exit_reason == "take_profit" and result.trades[0].pnl == pytest.approx(90.0)


def test_gap_through_the_stop_loss_fills_it_at_the_open(tf: Any) -> None:
    result, _ = long_bracket(tf, (93, 112, 90, 100))
    _, sl, tp = legs(result)
    assert sl.status is S.FILLED and tp.status is S.CANCELLED
    assert (result.fills[-1].bar, result.fills[-1].price) == (3, 93.0)
    assert result.trades[0].pnl == pytest.approx(-110.0)
    tf.assert_fills_inside_bars(result)


def test_stop_loss_can_fill_on_the_entry_bar(tf: Any) -> None:
    # market entry at bar 2's open (104): the whole bar comes after the entry, its low reaches 95
    result, _ = long_bracket(tf, (100, 101, 99, 100), bar2=(104, 106, 94, 100))
    entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 104.0), (sl.id, 2, 95.0)]
    assert tp.status is S.CANCELLED
    assert result.trades[0].exit_bar == 2


def test_take_profit_can_fill_on_the_bar_of_an_entry_at_the_open(tf: Any) -> None:
    result, _ = long_bracket(tf, (100, 101, 99, 100), bar2=(104, 111, 103, 110))
    entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 104.0), (tp.id, 2, 110.0)]
    assert sl.status is S.CANCELLED


def test_after_an_intrabar_entry_the_take_profit_waits_for_the_next_bar(tf: Any) -> None:
    # limit entry at 100 touched inside bar 2; bar 2's high (111) may have come before the entry
    rows = [BAR0, BAR1, (104, 111, 99, 105), (105, 111, 103, 110)]
    result, _ = tf.run({1: lambda s: s.buy(10, limit=100.0, sl=95.0, tp=110.0)}, rows)
    entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 100.0), (tp.id, 3, 110.0)]
    assert sl.status is S.CANCELLED
    assert result.trades[0].pnl == pytest.approx(100.0)


def test_after_an_intrabar_entry_the_stop_loss_is_checked_on_the_same_bar(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 94, 100), (100, 101, 99, 100)]
    result, _ = tf.run({1: lambda s: s.buy(10, limit=100.0, sl=95.0, tp=110.0)}, rows)
    entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 100.0), (sl.id, 2, 95.0)]
    assert tp.status is S.CANCELLED


def test_short_bracket(tf: Any) -> None:
    rows = [BAR0, BAR1, QUIET2, (105, 111, 103, 110), (100, 101, 99, 100)]
    result, _ = tf.run({1: lambda s: s.sell(10, sl=110.0, tp=95.0)}, rows)
    _entry, sl, tp = legs(result)
    assert sl.side is Side.BUY and tp.side is Side.BUY
    assert sl.status is S.FILLED and tp.status is S.CANCELLED
    (trade,) = result.trades
    assert (trade.size, trade.entry_price, trade.exit_price, trade.exit_reason) == (-10.0, 104.0, 110.0, "stop_loss")
    assert trade.pnl == pytest.approx(-60.0)


def test_close_cancels_the_attached_orders(tf: Any) -> None:
    rows = [BAR0, BAR1, QUIET2, (105, 108, 101, 107), (107, 109, 105, 108), (108, 115, 90, 100)]
    result, strat = tf.run({1: lambda s: s.buy(10, sl=95.0, tp=110.0), 3: lambda s: s.close()}, rows)
    entry, sl, tp = legs(result)
    (exit_order,) = strat.first(3)
    assert exit_order.role == "exit" and exit_order.reduce_only
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 104.0), (exit_order.id, 4, 107.0)]
    assert sl.status is S.CANCELLED and tp.status is S.CANCELLED
    assert sl.history[-1] == (day(4), S.CANCELLED) and tp.history[-1] == (day(4), S.CANCELLED)
    (trade,) = result.trades
    assert (trade.exit_price, trade.exit_reason, trade.exit_order_id) == (107.0, "exit", exit_order.id)
    assert trade.pnl == pytest.approx(30.0)
    # bar 5 crosses both old levels: nothing more happens
    assert len(result.fills) == 2 and strat.position().qty == 0.0


def test_cancelling_one_leg_keeps_the_other(tf: Any) -> None:
    def cancel_tp(s: Any) -> None:
        tp = next(o for o in s.orders if o.role == "take_profit")
        s.cancel(tp)

    rows = [BAR0, BAR1, QUIET2, (105, 108, 101, 107), (105, 111, 94, 100)]
    result, _ = tf.run({1: lambda s: s.buy(10, sl=95.0, tp=110.0), 3: cancel_tp}, rows)
    _, sl, tp = legs(result)
    assert tp.status is S.CANCELLED and tp.history[-1] == (day(3), S.CANCELLED)
    assert sl.status is S.FILLED and result.fills[-1].price == 95.0


def test_fills_with_fees_and_slippage_stay_inside_the_bar(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 104.2, 100, 104), (104.3, 104.5, 94.9, 95), (94.95, 96, 94.9, 95)]
    script = {1: lambda s: s.buy(10, sl=95.0, tp=110.0), 3: lambda s: s.buy(1), 4: lambda s: s.close()}
    result, _ = tf.run(script, rows, slippage=0.01, spread=0.01, commission=0.001)
    assert result.fills[0].price == 104.2  # 104 * 1.015 = 105.56, clamped to the high
    assert result.fills[1].price == 94.9  # stop at 95 less 1.5%, clamped to the low
    tf.assert_fills_inside_bars(result)


def test_closing_a_hedged_trade_cancels_only_its_own_legs(tf: Any) -> None:
    rows = [BAR0, BAR1, QUIET2, (105, 108, 101, 107), (107, 109, 105, 108), (108, 109, 106, 107)]
    script = {
        1: lambda s: s.buy(10, sl=90.0, tp=120.0),
        2: lambda s: s.buy(5, sl=91.0, tp=121.0),
        3: lambda s: s.close(trade=s.trades[0]),
    }
    result, strat = tf.run(script, rows, position_mode="hedging")
    first_sl, first_tp = result.orders[1], result.orders[2]
    second_legs = [o for o in result.orders if o.parent_id == 4]
    assert first_sl.status is S.CANCELLED and first_tp.status is S.CANCELLED
    assert [o.status for o in second_legs] == [S.ACCEPTED, S.ACCEPTED]
    assert [t.size for t in strat.trades] == [5.0]


def test_short_bracket_both_touched_stop_loss_wins(tf: Any) -> None:
    rows = [BAR0, BAR1, QUIET2, (105, 112, 94, 100), (100, 101, 99, 100)]
    result, _ = tf.run({1: lambda s: s.sell(10, sl=110.0, tp=95.0)}, rows)
    _, sl, tp = legs(result)
    assert sl.status is S.FILLED and tp.status is S.CANCELLED and result.fills[-1].price == 110.0


def test_partial_close_shrinks_the_attached_orders(tf: Any) -> None:
    rows = [BAR0, BAR1, QUIET2, (105, 108, 101, 107), (100, 101, 94, 96)]
    result, strat = tf.run({1: lambda s: s.buy(10, sl=95.0, tp=120.0), 2: lambda s: s.close(fraction=0.5)}, rows)
    _, sl, tp = legs(result)
    assert sl.qty == 5.0 and sl.status is S.FILLED and sl.filled_qty == 5.0
    assert tp.status is S.CANCELLED
    assert [(t.size, t.exit_price, t.exit_reason) for t in result.trades] == [
        (5.0, 95.0, "stop_loss"),
        (5.0, 105.0, "exit"),
    ]
    assert strat.position().qty == 0.0


def test_flip_through_the_position_cancels_the_old_legs(tf: Any) -> None:
    result, strat = tf.run(
        {1: lambda s: s.buy(10, sl=95.0, tp=120.0), 2: lambda s: s.sell(15)},
        [BAR0, BAR1, QUIET2, (105, 108, 101, 107), (100, 125, 90, 100)],
    )
    _, sl, tp = legs(result)
    assert sl.status is S.CANCELLED and tp.status is S.CANCELLED
    assert strat.position().qty == -5.0 and len(result.fills) == 2


def test_a_fill_at_the_open_comes_before_intrabar_fills_of_older_orders(tf: Any) -> None:
    # bar 3 opens at 105: the market sell placed at bar 2 trades there, first; it flips the long to short 5 and
    # cancels the stop-loss, which the bar only reaches later (low 90). The stop must not fill at 95 before it.
    result, strat = tf.run(
        {1: lambda s: s.buy(10, sl=95.0, tp=120.0), 2: lambda s: s.sell(15)},
        [BAR0, BAR1, QUIET2, (105, 125, 90, 100), (100, 101, 99, 100)],
    )
    entry, sl, tp = legs(result)
    flip = strat.first(2)
    assert [(f.order_id, f.bar, f.price) for f in result.fills] == [(entry.id, 2, 104.0), (flip.id, 3, 105.0)]
    assert sl.status is S.CANCELLED and tp.status is S.CANCELLED
    assert strat.position().qty == -5.0


def test_partially_filled_entry_grows_its_attached_orders(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 100, 105, 20), (105, 108, 101, 107, 20), (100, 101, 94, 96, 100)]
    result, _ = tf.run({1: lambda s: s.buy(10, sl=95.0, tp=120.0)}, rows, max_volume_fraction=0.25)
    entry, sl, tp = legs(result)
    assert [(f.order_id, f.bar, f.qty) for f in result.fills] == [
        (entry.id, 2, 5.0),
        (entry.id, 3, 5.0),
        (sl.id, 4, 10.0),
    ]
    assert sl.qty == 10.0 and sl.status is S.FILLED and tp.status is S.CANCELLED
    (trade,) = result.trades
    assert trade.size == 10.0 and trade.exit_reason == "stop_loss"
