"""Pre-trade risk limits inside a run, and the kill switch."""

from __future__ import annotations

from typing import Any

import pytest

from tradeforge.core.clock import NS_PER_DAY
from tradeforge.core.risk import RiskLimits
from tradeforge.core.types import OrderStatus, Side
from tradeforge.sim.backtest import run_backtest

S = OrderStatus
T0 = 1_704_067_200_000_000_000
ROWS = [
    (100.0, 102.0, 98.0, 101.0),
    (101.0, 103.0, 99.0, 102.0),  # close 102: the price risk checks use at step 1
    (104.0, 106.0, 100.0, 105.0),
    (105.0, 108.0, 101.0, 107.0),
    (100.0, 103.0, 99.0, 102.0),
    (102.0, 104.0, 100.0, 103.0),
]


def day(i: int) -> int:
    return T0 + i * NS_PER_DAY


def rejected_at_once(order: Any, step: int, words: str) -> None:
    assert order.status is S.REJECTED
    assert order.history == [(day(step), S.REJECTED)]  # refused before it was ever submitted
    assert words in order.reject_reason, order.reject_reason


@pytest.mark.parametrize(
    ("limits", "refused", "allowed", "words"),
    [
        (RiskLimits(max_position_qty=5), lambda s: s.buy(6), lambda s: s.buy(5), "max_position_qty"),
        # 5 * 102 = 510 > 500; 4 * 102 = 408
        (RiskLimits(max_position_value=500), lambda s: s.buy(5), lambda s: s.buy(4), "max_position_value"),
        (RiskLimits(max_order_qty=2), lambda s: s.sell(3), lambda s: s.sell(2), "max_order_qty"),
        # 3 * 102 = 306 > 300, but a limit at 100 is valued at its price: 300
        (RiskLimits(max_order_value=300), lambda s: s.buy(3), lambda s: s.buy(3, limit=100.0), "max_order_value"),
        # a fraction order is estimated from the available cash: 10000 > 5000
        (RiskLimits(max_order_value=5_000), lambda s: s.buy(), lambda s: s.buy(fraction=0.4), "max_order_value"),
        (RiskLimits(max_gross_exposure=1_000), lambda s: s.buy(10), lambda s: s.buy(9), "max_gross_exposure"),
    ],
)
def test_each_limit_rejects_with_a_reason_naming_it(
    tf: Any, limits: RiskLimits, refused: Any, allowed: Any, words: str
) -> None:
    result, strat = tf.run({1: [refused, allowed]}, ROWS, risk=limits)
    bad, good = strat.placed[1]
    rejected_at_once(bad, 1, words)
    assert (1, bad.id, S.REJECTED, bad.reject_reason) in strat.order_events
    assert good.status is S.FILLED
    assert [f.order_id for f in result.fills] == [good.id]


def test_position_limit_counts_the_existing_position(tf: Any) -> None:
    _result, strat = tf.run(
        {1: lambda s: s.buy(4), 2: lambda s: s.buy(2), 3: lambda s: s.sell(9)},
        ROWS,
        risk=RiskLimits(max_position_qty=5),
    )
    rejected_at_once(strat.first(2), 2, "max_position_qty")
    # selling 9 from +4 ends at -5: allowed
    assert strat.first(3).status is S.FILLED and strat.position().qty == -5.0


def test_gross_exposure_counts_positions_already_held(tf: Any) -> None:
    # 5 units held at 105 (525); 5 more -> 1050 > 1000
    _result, strat = tf.run(
        {1: lambda s: s.buy(5), 2: lambda s: s.buy(5)}, ROWS, risk=RiskLimits(max_gross_exposure=1_000)
    )
    assert strat.first(1).status is S.FILLED
    rejected_at_once(strat.first(2), 2, "max_gross_exposure")


def test_reducing_orders_pass_position_limits(tf: Any) -> None:
    _result, strat = tf.run(
        {1: lambda s: s.buy(5), 3: lambda s: s.close()},
        ROWS,
        risk=RiskLimits(max_position_qty=5, max_position_value=600),
    )
    (exit_order,) = strat.first(3)
    assert exit_order.status is S.FILLED and strat.position().qty == 0.0


def test_kill_switch_cancels_flattens_and_refuses_new_entries(tf: Any) -> None:
    script = {
        1: lambda s: s.buy(10),
        2: lambda s: s.buy(1, limit=90.0),
        3: lambda s: s.kill_switch("drawdown"),
        4: [lambda s: s.buy(1), lambda s: s.sell(1)],
    }
    result, strat = tf.run(script, ROWS)
    working = strat.first(2)
    assert working.status is S.CANCELLED and working.history[-1] == (day(3), S.CANCELLED)
    assert "kill switch" in working.reject_reason and "drawdown" in working.reject_reason
    flatten = next(o for o in result.orders if o.role == "kill_switch")
    assert (flatten.side, flatten.qty, flatten.created_bar) == (Side.SELL, 10.0, 3)
    # flattened at the next open
    assert flatten.status is S.FILLED and tf.fills_of(result, flatten)[0].bar == 4
    assert tf.fills_of(result, flatten)[0].price == 100.0 and result.fills[-1].reason == "kill_switch"
    (trade,) = result.trades
    assert (trade.exit_price, trade.exit_reason) == (100.0, "kill_switch")
    for order in strat.placed[4]:
        rejected_at_once(order, 4, "kill switch engaged (drawdown)")
    assert strat.position().qty == 0.0
    assert result.equity[-1] == pytest.approx(10_000.0 - 40.0)


def test_kill_switch_cancels_attached_exits(tf: Any) -> None:
    script = {1: lambda s: s.buy(10, sl=90.0, tp=120.0), 3: lambda s: s.kill_switch("stop")}
    result, _strat = tf.run(script, ROWS)
    sl, tp = (o for o in result.orders if o.parent_id == 1)
    assert sl.status is S.CANCELLED and tp.status is S.CANCELLED
    assert sl.history[-1] == (day(3), S.CANCELLED)
    assert result.trades[0].exit_reason == "kill_switch" and result.trades[0].exit_bar == 4


def test_kill_switch_flattens_every_strategy(tf: Any) -> None:
    a = tf.Scripted({1: lambda s: s.buy(10), 3: lambda s: s.kill_switch("account stop")}, name="A")
    b = tf.Scripted({1: lambda s: s.sell(5), 4: lambda s: s.sell(1)}, name="B")
    result = run_backtest([a, b], tf.make_bars(ROWS), cash=10_000.0)
    assert a.position().qty == 0.0 and b.position().qty == 0.0
    assert {(t.strategy, t.exit_reason, t.exit_bar) for t in result.trades} == {
        ("A", "kill_switch", 4),
        ("B", "kill_switch", 4),
    }
    rejected_at_once(b.first(4), 4, "kill switch engaged")


def test_kill_switch_in_hedging_mode_closes_every_trade(tf: Any) -> None:
    script = {1: lambda s: s.buy(10), 2: lambda s: s.sell(4), 3: lambda s: s.kill_switch("halt")}
    result, strat = tf.run(script, ROWS, position_mode="hedging")
    assert strat.position().qty == 0.0
    assert strat.trades == [], [(t.size, t.entry_order_id) for t in strat.trades]
    assert [(t.size, t.exit_bar, t.exit_reason) for t in result.trades] == [
        (10.0, 4, "kill_switch"),
        (-4.0, 4, "kill_switch"),
    ]


def test_kill_switch_in_hedging_mode_with_one_trade(tf: Any) -> None:
    result, _strat = tf.run({1: lambda s: s.buy(10), 3: lambda s: s.kill_switch("halt")}, ROWS, position_mode="hedging")
    assert [(t.size, t.is_open, t.exit_reason) for t in result.trades] == [(10.0, False, "kill_switch")]
