"""Where and when each order type fills inside a run: exact bar, price, liquidity and status history."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tradeforge.core.clock import NS_PER_DAY
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, Side

S = OrderStatus
T0 = 1_704_067_200_000_000_000
BAR0 = (100.0, 102.0, 98.0, 101.0)
BAR1 = (101.0, 103.0, 99.0, 102.0)


def day(i: int) -> int:
    return T0 + i * NS_PER_DAY


# ------------------------------------------------------------------------------------------------ market
def test_market_order_fills_at_the_next_open(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 97, 105), (103, 108, 101, 107)]
    result, strat = tf.run({1: lambda s: s.buy(10)}, rows)
    order = strat.first(1)
    assert order.type is OrderType.MARKET and order.side is Side.BUY
    (fill,) = result.fills
    assert (fill.bar, fill.ts, fill.price, fill.qty, fill.fee) == (2, day(2), 104.0, 10.0, 0.0)
    assert fill.liquidity is Liquidity.TAKER and fill.reason == "market"
    assert order.status is S.FILLED and order.avg_fill_price == 104.0 and order.filled_qty == 10.0
    assert order.history == [(day(1), S.SUBMITTED), (day(1), S.ACCEPTED), (day(2), S.FILLED)]
    # the strategy heard ACCEPTED at step 1 and FILLED at step 2
    assert [(k, oid, st) for k, oid, st, _ in strat.order_events] == [(1, 1, S.ACCEPTED), (2, 1, S.FILLED)]
    # equity: cash 10000 - 1040 = 8960 plus 10 * close
    assert result.cash.tolist() == [10_000.0, 10_000.0, 8_960.0, 8_960.0]
    assert result.equity.tolist() == [10_000.0, 10_000.0, 10_010.0, 10_030.0]


def test_market_order_with_close_timing_fills_at_the_current_close(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 97, 105)]
    result, strat = tf.run({1: lambda s: s.buy(10)}, rows, fill_timing="close")
    (fill,) = result.fills
    assert (fill.bar, fill.ts, fill.price) == (1, day(1), 102.0)
    assert strat.first(1).status is S.FILLED
    assert strat.first(1).history == [(day(1), S.SUBMITTED), (day(1), S.ACCEPTED), (day(1), S.FILLED)]
    assert result.equity.tolist() == [10_000.0, 10_000.0, 10_030.0]


def test_market_order_placed_on_the_last_bar_never_fills(tf: Any) -> None:
    result, strat = tf.run({2: lambda s: s.buy(1)}, [BAR0, BAR1, BAR1])
    assert result.fills == [] and strat.first(2).status is S.ACCEPTED


def test_fraction_sizing_buys_whole_units_after_fees(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 97, 105)]
    result, strat = tf.run({1: lambda s: s.buy()}, rows, commission=0.01)
    # floor(10000 / (104 * 1.01)) = floor(95.20...) = 95
    (fill,) = result.fills
    assert fill.qty == 95.0 and fill.price == 104.0
    assert fill.fee == pytest.approx(95 * 104 * 0.01)
    assert result.cash[-1] == pytest.approx(10_000 - 95 * 104 - 98.8)
    assert strat.first(1).qty == 95.0


def test_fraction_sizing_uses_the_fraction_of_equity(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 97, 105)]
    result, _ = tf.run({1: lambda s: s.buy(fraction=0.5)}, rows)
    assert result.fills[0].qty == math.floor(5_000 / 104)  # 48


def test_fraction_buy_without_cash_for_one_lot_is_rejected(tf: Any) -> None:
    rows = [BAR0, BAR1, (104, 106, 97, 105)]
    result, strat = tf.run({1: lambda s: s.buy()}, rows, cash=50.0)
    order = strat.first(1)
    assert order.status is S.REJECTED and "insufficient margin" in order.reject_reason
    assert result.fills == []
    assert (2, order.id, S.REJECTED, order.reject_reason) in strat.order_events


# ------------------------------------------------------------------------------------------ limit and stop
CASES = [
    # (method, kwargs, bar 2, expected fill price or None, liquidity)
    ("buy", {"limit": 95.0}, (100, 101, 94, 96), 95.0, Liquidity.MAKER),
    ("buy", {"limit": 95.0}, (93, 96, 92, 95), 93.0, Liquidity.MAKER),
    ("buy", {"limit": 95.0}, (100, 101, 95.5, 97), None, None),
    ("sell", {"limit": 105.0}, (100, 106, 99, 104), 105.0, Liquidity.MAKER),
    ("sell", {"limit": 105.0}, (107, 108, 103, 104), 107.0, Liquidity.MAKER),
    ("sell", {"limit": 105.0}, (100, 104.5, 99, 103), None, None),
    ("buy", {"stop": 105.0}, (100, 106, 99, 104), 105.0, Liquidity.TAKER),
    ("buy", {"stop": 105.0}, (107, 108, 103, 104), 107.0, Liquidity.TAKER),
    ("buy", {"stop": 105.0}, (100, 104.5, 99, 103), None, None),
    ("sell", {"stop": 95.0}, (100, 101, 94, 96), 95.0, Liquidity.TAKER),
    ("sell", {"stop": 95.0}, (93, 96, 92, 95), 93.0, Liquidity.TAKER),
    ("sell", {"stop": 95.0}, (100, 101, 95.5, 97), None, None),
    # stop-limit: marketable at the trigger -> fills at the stop
    ("buy", {"stop": 105.0, "limit": 106.0}, (100, 107, 99, 106), 105.0, Liquidity.TAKER),
    # gap through the stop: triggered at the open, the limit works on the whole bar
    ("buy", {"stop": 105.0, "limit": 107.0}, (106, 108, 104, 107), 106.0, Liquidity.MAKER),
    ("buy", {"stop": 105.0, "limit": 105.5}, (106, 108, 104, 107), 105.5, Liquidity.MAKER),
    ("sell", {"stop": 95.0, "limit": 94.0}, (100, 101, 93, 96), 95.0, Liquidity.TAKER),
    ("buy", {"stop": 105.0, "limit": 106.0}, (100, 104.5, 95, 101), None, None),
]


@pytest.mark.parametrize(("method", "kw", "bar2", "price", "liq"), CASES)
def test_resting_order_fill_price(
    tf: Any, method: str, kw: dict[str, float], bar2: tuple[float, ...], price: float | None, liq: Liquidity | None
) -> None:
    rows = [BAR0, BAR1, bar2]
    result, strat = tf.run({1: lambda s: getattr(s, method)(2, **kw)}, rows)
    order = strat.first(1)
    expected_type = {("limit",): OrderType.LIMIT, ("stop",): OrderType.STOP, ("limit", "stop"): OrderType.STOP_LIMIT}[
        tuple(sorted(kw))
    ]
    assert order.type is expected_type
    if price is None:
        assert result.fills == []
        assert order.status is S.ACCEPTED and order.is_open
        return
    (fill,) = result.fills
    assert (fill.bar, fill.price, fill.qty, fill.liquidity) == (2, price, 2.0, liq)
    assert order.status is S.FILLED and order.history[-1] == (day(2), S.FILLED)
    tf.assert_fills_inside_bars(result)


def test_limit_order_never_fills_on_the_bar_it_was_placed(tf: Any) -> None:
    # bar 1 itself trades through 99.5, but the order exists only after bar 1 closed
    rows = [BAR0, BAR1, (101, 103, 100, 102), (101, 102, 99, 100)]
    result, _strat = tf.run({1: lambda s: s.buy(1, limit=99.5)}, rows)
    (fill,) = result.fills
    assert (fill.bar, fill.price) == (3, 99.5)


def test_stop_limit_triggered_intrabar_fills_from_the_next_bar_only(tf: Any) -> None:
    rows = [BAR0, BAR1, (100, 107, 99, 106), (104, 105, 102, 103)]
    result, strat = tf.run({1: lambda s: s.buy(3, stop=105.0, limit=103.0)}, rows)
    order = strat.first(1)
    (fill,) = result.fills
    # bar 2 triggers at 105; its low 99 satisfies the limit but may have come first: no fill on bar 2
    assert (fill.bar, fill.price, fill.liquidity) == (3, 103.0, Liquidity.MAKER)
    assert order.triggered and order.status is S.FILLED


def test_stop_limit_triggered_but_never_reaching_the_limit_stays_open(tf: Any) -> None:
    rows = [BAR0, BAR1, (100, 107, 99, 106), (106, 108, 104, 107)]
    result, strat = tf.run({1: lambda s: s.buy(3, stop=105.0, limit=103.0)}, rows)
    assert result.fills == [] and strat.first(1).triggered and strat.first(1).status is S.ACCEPTED


# ------------------------------------------------------------------------------------------ trailing stop
def trailing_rows(bar3: tuple[float, ...]) -> list[tuple[float, ...]]:
    return [BAR0, BAR1, (104, 120, 99, 118), bar3]


def test_trailing_stop_level_comes_from_earlier_bars(tf: Any) -> None:
    # long 10 from bar 1's open (101); at bar 1 (close 102, high 103) a sell trailing stop 5 below
    # bar 2 (high 120, low 99): a stop from bar 2's own high (115) would be hit, one from earlier bars is not
    # bar 3: the stop now trails bar 2's high: 120 - 5 = 115, touched intrabar
    script = {0: lambda s: s.buy(10), 1: lambda s: s.sell(10, trail=5.0)}
    result, strat = tf.run(script, trailing_rows((118, 119, 110, 112)))
    order = strat.first(1)
    assert order.type is OrderType.TRAILING_STOP
    exit_fill = tf.fills_of(result, order)
    assert [(f.bar, f.price, f.liquidity) for f in exit_fill] == [(3, 115.0, Liquidity.TAKER)]
    assert result.fills[-1].reason == "trailing_stop"
    (trade,) = result.trades
    assert trade.entry_price == 101.0 and trade.exit_price == 115.0 and trade.pnl == pytest.approx(140.0)


def test_trailing_stop_gap_fills_at_the_open(tf: Any) -> None:
    script = {0: lambda s: s.buy(10), 1: lambda s: s.sell(10, trail=5.0)}
    result, strat = tf.run(script, trailing_rows((112, 113, 108, 110)))
    assert [(f.bar, f.price) for f in tf.fills_of(result, strat.first(1))] == [(3, 112.0)]


def test_trailing_stop_percent(tf: Any) -> None:
    script = {0: lambda s: s.buy(10), 1: lambda s: s.sell(10, trail_percent=0.05)}
    result, strat = tf.run(script, trailing_rows((118, 119, 110, 112)))
    # level after bar 2: 120 * 0.95 = 114
    assert [(f.bar, f.price) for f in tf.fills_of(result, strat.first(1))] == [(3, pytest.approx(114.0))]


def test_trailing_buy_stop_follows_lows(tf: Any) -> None:
    rows = [BAR0, BAR1, (98, 99, 80, 82), (84, 86, 83, 85)]
    script = {0: lambda s: s.sell(10), 1: lambda s: s.buy(10, trail=5.0)}
    result, strat = tf.run(script, rows)
    # bar 2 stays below the stop set from bar 1, and its own low (80) may not move its stop; after it: 80 + 5 = 85
    assert [(f.bar, f.price) for f in tf.fills_of(result, strat.first(1))] == [(3, 85.0)]
    (trade,) = result.trades
    assert trade.size == -10 and trade.entry_price == 101.0 and trade.pnl == pytest.approx(160.0)


def test_trailing_stop_starts_from_the_price_at_placement(tf: Any) -> None:
    # placed after bar 1 closed at 102: the stop is 102 - 5 = 97 ("best price seen since placement").
    # bar 1's high (103) came before the order existed and must not tighten it to 98.
    rows = [BAR0, BAR1, (100, 101, 97.5, 99), (99, 100, 96, 97)]
    script = {0: lambda s: s.buy(10), 1: lambda s: s.sell(10, trail=5.0)}
    result, strat = tf.run(script, rows)
    assert [(f.bar, f.price) for f in tf.fills_of(result, strat.first(1))] == [(3, 97.0)]
