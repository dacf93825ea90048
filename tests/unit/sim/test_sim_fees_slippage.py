"""Fees and adverse price moves through a whole run: exact amounts, cash, fees_paid."""

from __future__ import annotations

from typing import Any

import pytest

from tradeforge.core.fees import MakerTakerFee
from tradeforge.core.types import Liquidity

ROWS = [
    (100.0, 102.0, 98.0, 101.0),
    (101.0, 103.0, 99.0, 102.0),
    (100.0, 106.0, 98.0, 105.0),  # entry bar: market buys fill at 100, a limit at 99 touches
    (105.0, 108.0, 101.0, 107.0),
    (110.0, 112.0, 108.0, 111.0),  # exit bar: market sells fill at 110
]
ROUND_TRIP = {1: lambda s: s.buy(10), 3: lambda s: s.close()}


def fees(result: Any) -> list[float]:
    return [f.fee for f in result.fills]


@pytest.mark.parametrize(
    ("commission", "entry_fee", "exit_fee"),
    [
        (0.002, 2.0, 2.2),  # 0.2% of 1000 and of 1100
        ((5.0, 0.001), 6.0, 6.1),  # 5 per order plus 0.1%
        (lambda q, p: 1.0 + 0.01 * q * p / 100, 1.1, 1.11),  # any function of (qty, price)
        (MakerTakerFee(maker=0.0002, taker=0.001), 1.0, 1.1),  # market orders are takers
    ],
)
def test_fees_are_charged_and_reduce_cash_exactly(tf: Any, commission: Any, entry_fee: float, exit_fee: float) -> None:
    result, _ = tf.run(ROUND_TRIP, ROWS, commission=commission)
    assert fees(result) == pytest.approx([entry_fee, exit_fee])
    assert result.cash.tolist() == pytest.approx(
        [10_000, 10_000, 10_000 - 1000 - entry_fee, 10_000 - 1000 - entry_fee, 10_000 + 100 - entry_fee - exit_fee]
    )
    assert result.fees_paid == pytest.approx(sum(fees(result)))
    (trade,) = result.trades
    assert trade.entry_fee == pytest.approx(entry_fee) and trade.exit_fee == pytest.approx(exit_fee)
    assert trade.pnl == pytest.approx(100.0 - entry_fee - exit_fee)
    assert result.equity[-1] == pytest.approx(result.cash[-1])


def test_maker_fee_for_limit_fills_taker_for_market(tf: Any) -> None:
    script = {1: lambda s: s.buy(10, limit=99.0), 3: lambda s: s.close()}
    result, _ = tf.run(script, ROWS, commission=MakerTakerFee(maker=0.0002, taker=0.001))
    entry, exit_ = result.fills
    assert (entry.price, entry.liquidity) == (99.0, Liquidity.MAKER)
    assert exit_.liquidity is Liquidity.TAKER
    assert entry.fee == pytest.approx(10 * 99 * 0.0002) and exit_.fee == pytest.approx(10 * 110 * 0.001)


def test_maker_rebate_adds_cash(tf: Any) -> None:
    result, _ = tf.run({1: lambda s: s.buy(10, limit=99.0)}, ROWS, commission=MakerTakerFee(maker=-0.001))
    assert result.fills[0].fee == pytest.approx(-0.99)
    assert result.cash[-1] == pytest.approx(10_000 - 990 + 0.99)
    assert result.fees_paid == pytest.approx(-0.99)


def test_fraction_sizing_leaves_room_for_fixed_and_rate_fees(tf: Any) -> None:
    result, _ = tf.run({1: lambda s: s.buy()}, ROWS, commission=(5.0, 0.01))
    # (10000 - 5) / (100 * 1.01) = 98.96 -> 98 units; fee 5 + 98
    (fill,) = result.fills
    assert fill.qty == 98.0 and fill.fee == pytest.approx(103.0)
    assert result.cash[-1] == pytest.approx(10_000 - 9_800 - 103)


@pytest.mark.parametrize(
    ("kw", "buy_price", "sell_price"),
    [
        ({"slippage": 0.01}, 101.0, 108.9),
        ({"spread": 0.02}, 101.0, 108.9),  # half the spread on each side
        ({"slippage": 0.01, "spread": 0.02}, 102.0, 108.0),  # 110 * 0.98 = 107.8, clamped to the low 108
        ({"slippage": 0.1}, 106.0, 108.0),  # clamped to the bar's high / low
    ],
)
def test_slippage_and_spread_move_taker_fills_against_the_trader(
    tf: Any, kw: dict[str, float], buy_price: float, sell_price: float
) -> None:
    result, _ = tf.run(ROUND_TRIP, ROWS, commission=0.001, **kw)
    buy, sell = result.fills
    assert buy.price == pytest.approx(buy_price) and sell.price == pytest.approx(sell_price)
    assert buy.fee == pytest.approx(10 * buy_price * 0.001) and sell.fee == pytest.approx(10 * sell_price * 0.001)
    assert result.cash[-1] == pytest.approx(10_000 - 10 * buy_price + 10 * sell_price - sum(fees(result)))
    tf.assert_fills_inside_bars(result)


def test_slippage_does_not_touch_limit_fills_but_does_touch_stops(tf: Any) -> None:
    script = {1: [lambda s: s.buy(10, limit=99.0), lambda s: s.buy(5, stop=103.0)]}
    result, _ = tf.run(script, ROWS, slippage=0.01)
    limit_fill, stop_fill = sorted(result.fills, key=lambda f: f.order_id)
    assert limit_fill.price == 99.0
    assert stop_fill.price == pytest.approx(103.0 * 1.01)


def test_slippage_on_a_short_entry_and_cover(tf: Any) -> None:
    script = {1: lambda s: s.sell(10), 3: lambda s: s.close()}
    result, _ = tf.run(script, ROWS, slippage=0.01)
    sell, buy = result.fills
    assert sell.price == pytest.approx(99.0) and buy.price == pytest.approx(111.1)
    assert result.trades[0].pnl == pytest.approx(-10 * (111.1 - 99.0))


def test_close_timing_slippage_is_clamped_to_the_bar(tf: Any) -> None:
    result, _ = tf.run({1: lambda s: s.buy(1)}, ROWS, fill_timing="close", slippage=0.05)
    # close 102 * 1.05 = 107.1 > high 103
    assert result.fills[0].price == 103.0 and result.fills[0].bar == 1
