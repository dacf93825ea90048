"""Positions, trades and P&L: long, short, netting (flip, FIFO), hedging, leverage, per-strategy books."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradeforge.core.types import Instrument, OrderStatus
from tradeforge.sim.backtest import run_backtest

S = OrderStatus
BAR0 = (100.0, 102.0, 98.0, 101.0)
BAR1 = (101.0, 103.0, 99.0, 102.0)
ROWS = [BAR0, BAR1, (104, 106, 100, 105), (105, 108, 101, 107), (100, 103, 99, 102), (102, 104, 100, 103)]


def test_long_round_trip_pnl_and_cash(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(10), 3: lambda s: s.close()}, ROWS, commission=0.001)
    (trade,) = result.trades
    assert (trade.size, trade.entry_price, trade.exit_price) == (10.0, 104.0, 100.0)
    assert (trade.entry_bar, trade.exit_bar) == (2, 4)
    assert trade.entry_fee == pytest.approx(1.04) and trade.exit_fee == pytest.approx(1.0)
    assert trade.pnl == pytest.approx(-40.0 - 2.04)
    assert trade.return_pct == pytest.approx(100 / 104 - 1 - 2.04 / 1040)
    assert result.cash[-1] == pytest.approx(10_000 - 42.04)
    assert result.equity[-1] == pytest.approx(10_000 - 42.04)
    assert strat.position().qty == 0.0 and result.closed_trades == [trade]


def test_short_round_trip_pnl(tf: Any) -> None:
    result, _strat = tf.run({1: lambda s: s.sell(10), 3: lambda s: s.close()}, ROWS)
    (trade,) = result.trades
    assert (trade.size, trade.entry_price, trade.exit_price) == (-10.0, 104.0, 100.0)
    assert trade.pnl == pytest.approx(40.0)
    # equity while short: cash 10000 + 1040, position -10 * close
    assert result.equity.tolist() == pytest.approx([10_000, 10_000, 9_990, 9_970, 10_040, 10_040])
    assert result.cash[2] == pytest.approx(11_040.0)


def test_open_trade_is_marked_to_market(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(10)}, ROWS)
    (trade,) = result.open_trades
    assert trade.is_open and np.isnan(trade.exit_price) and trade.exit_bar == -1
    assert trade.pnl_at(103.0) == pytest.approx(-10.0)
    assert result.equity[-1] == pytest.approx(10_000 - 1040 + 1030)
    pos = strat.position()
    assert pos.qty == 10.0 and pos.avg_price == 104.0 and pos.is_long


def test_netting_sell_bigger_than_the_long_flips_to_short(tf: Any) -> None:
    script = {1: lambda s: s.buy(10), 2: lambda s: s.sell(15), 3: lambda s: s.close()}
    result, strat = tf.run(script, ROWS)
    first, second = result.trades
    assert (first.size, first.entry_price, first.exit_price, first.exit_bar) == (10.0, 104.0, 105.0, 3)
    assert first.pnl == pytest.approx(10.0)
    assert (second.size, second.entry_price, second.entry_bar) == (-5.0, 105.0, 3)
    assert (second.exit_price, second.exit_bar) == (100.0, 4)
    assert second.pnl == pytest.approx(25.0)
    assert second.entry_order_id == first.exit_order_id == strat.first(2).id
    assert result.equity[-1] == pytest.approx(10_035.0)


def test_netting_position_after_flip(tf: Any) -> None:
    seen = {}
    script = {
        1: lambda s: s.buy(10),
        2: lambda s: s.sell(15),
        3: lambda s: seen.update(qty=s.position().qty, avg=s.position().avg_price, n=len(s.trades)),
    }
    tf.run(script, ROWS)
    assert seen == {"qty": -5.0, "avg": 105.0, "n": 1}


def test_netting_closes_trades_first_in_first_out_with_fees_split(tf: Any) -> None:
    script = {0: lambda s: s.buy(5), 1: lambda s: s.buy(5), 2: lambda s: s.sell(7)}
    result, strat = tf.run(script, ROWS, commission=0.01)
    closed = result.closed_trades
    assert [(t.size, t.entry_price, t.exit_price) for t in closed] == [(5.0, 101.0, 105.0), (2.0, 104.0, 105.0)]
    first, part = closed
    assert first.entry_fee == pytest.approx(5.05) and first.exit_fee == pytest.approx(5.25)
    assert first.pnl == pytest.approx(20.0 - 10.3)
    assert part.entry_fee == pytest.approx(2.08) and part.exit_fee == pytest.approx(2.1)
    assert part.pnl == pytest.approx(2.0 - 4.18)
    (rest,) = result.open_trades
    assert (rest.size, rest.entry_price, rest.entry_fee) == (3.0, 104.0, pytest.approx(3.12))
    assert rest.id != part.id and part.entry_order_id == rest.entry_order_id
    assert strat.position().qty == 3.0 and strat.position().avg_price == 104.0
    assert result.fees_paid == pytest.approx(5.05 + 5.2 + 7.35)


def test_hedging_keeps_opposite_trades_open_and_close_closes_each(tf: Any) -> None:
    seen = {}
    script = {
        1: lambda s: s.buy(10),
        2: lambda s: s.sell(4),
        3: [lambda s: seen.update(sizes=[t.size for t in s.trades], qty=s.position().qty), lambda s: s.close()],
    }
    result, strat = tf.run(script, ROWS, position_mode="hedging")
    assert seen == {"sizes": [10.0, -4.0], "qty": 6.0}
    exits = strat.placed[3][1]
    assert [(o.side.name, o.qty, o.trade_id) for o in exits] == [("SELL", 10.0, 1), ("BUY", 4.0, 2)]
    assert all(o.status is S.FILLED for o in exits)
    long_t, short_t = result.trades
    assert (long_t.size, long_t.entry_price, long_t.exit_price) == (10.0, 104.0, 100.0)
    assert (short_t.size, short_t.entry_price, short_t.exit_price) == (-4.0, 105.0, 100.0)
    assert long_t.pnl == pytest.approx(-40.0) and short_t.pnl == pytest.approx(20.0)
    assert strat.position().qty == 0.0 and strat.trades == []
    assert result.equity[-1] == pytest.approx(9_980.0)


def test_hedging_close_of_one_trade(tf: Any) -> None:
    script = {1: lambda s: s.buy(10), 2: lambda s: s.buy(5), 3: lambda s: s.close(trade=s.trades[1])}
    result, strat = tf.run(script, ROWS, position_mode="hedging")
    assert [(t.size, t.is_open) for t in result.trades] == [(10.0, True), (5.0, False)]
    assert result.trades[1].exit_price == 100.0 and strat.position().qty == 10.0


LEV_ROWS = [BAR0, BAR1, (100, 101, 99, 100), (100, 102, 99, 101)]


def test_leverage_two_allows_buying_twice_the_cash(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(20)}, LEV_ROWS, cash=1_000.0, leverage=2.0)
    assert strat.first(1).status is S.FILLED and result.fills[0].qty == 20.0
    assert result.cash[-1] == pytest.approx(-1_000.0)
    assert result.equity.tolist() == pytest.approx([1_000, 1_000, 1_000, 1_020])


def test_leverage_two_fraction_order_sizes_on_twice_the_cash(tf: Any) -> None:
    result, _ = tf.run({1: lambda s: s.buy()}, LEV_ROWS, cash=1_000.0, leverage=2.0)
    assert result.fills[0].qty == 20.0


def test_without_leverage_an_order_beyond_the_cash_is_rejected(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(20), 2: lambda s: s.buy(5)}, LEV_ROWS, cash=1_000.0, leverage=1.0)
    big = strat.first(1)
    assert big.status is S.REJECTED and "margin" in big.reject_reason
    assert big.history[-1][1] is S.REJECTED and big.filled_qty == 0.0
    assert (2, big.id, S.REJECTED, big.reject_reason) in strat.order_events
    # the run goes on: a later, affordable order fills
    assert strat.first(2).status is S.FILLED and [f.qty for f in result.fills] == [5.0]


def test_margin_counts_fees(tf: Any) -> None:
    # 10 units at 100 cost exactly the cash; a 1% fee makes it unaffordable
    _result, strat = tf.run({1: lambda s: s.buy(10)}, LEV_ROWS, cash=1_000.0, commission=0.01)
    assert strat.first(1).status is S.REJECTED and "margin" in strat.first(1).reject_reason


def test_two_strategies_have_separate_books(tf: Any) -> None:
    a = tf.Scripted({1: lambda s: s.buy()}, name="A")
    b = tf.Scripted({1: lambda s: s.buy(), 2: lambda s: s.close()}, name="B")
    result = run_backtest([a, b], tf.make_bars(LEV_ROWS), cash=10_000.0, capital={"A": 6_000.0, "B": 4_000.0})
    assert [(t.strategy, t.size) for t in result.trades] == [("A", 60.0), ("B", 40.0)]
    assert [t.strategy for t in a.trades] == ["A"] and a.closed_trades == []
    assert b.trades == [] and [t.strategy for t in b.closed_trades] == ["B"]
    assert {o.strategy for o in result.orders} == {"A", "B"}
    assert result.strategies["A"].initial_capital == 6_000.0 and result.strategies["B"].initial_capital == 4_000.0
    assert result.strategies["A"].equity.tolist() == pytest.approx([6_000, 6_000, 6_000, 6_060])
    assert result.strategies["B"].equity.tolist() == pytest.approx([4_000, 4_000, 4_000, 4_000])
    assert result.equity.tolist() == pytest.approx([10_000, 10_000, 10_000, 10_060])
    assert a.position().qty == 60.0 and b.position().qty == 0.0


def test_default_capital_is_split_equally(tf: Any) -> None:
    a = tf.Scripted({1: lambda s: s.buy()}, name="A")
    b = tf.Scripted({1: lambda s: s.buy()}, name="B")
    result = run_backtest([a, b], tf.make_bars(LEV_ROWS), cash=10_000.0)
    assert [(t.strategy, t.size) for t in result.trades] == [("A", 50.0), ("B", 50.0)]


def test_a_strategy_cannot_spend_another_books_cash(tf: Any) -> None:
    a = tf.Scripted({1: lambda s: s.buy(70)}, name="A")
    b = tf.Scripted({}, name="B")
    result = run_backtest([a, b], tf.make_bars(LEV_ROWS), cash=10_000.0, capital={"A": 6_000.0, "B": 4_000.0})
    assert a.first(1).status is S.REJECTED and "margin" in a.first(1).reject_reason
    assert result.fills == []


# ------------------------------------------------------------------------------------------ instruments
def test_contract_multiplier_scales_cash_pnl_and_equity(tf: Any) -> None:
    fut = Instrument("X", multiplier=50.0)
    result, _ = tf.run({1: lambda s: s.buy(2), 3: lambda s: s.close()}, ROWS, cash=100_000.0, instruments={"X": fut})
    (trade,) = result.trades
    assert trade.multiplier == 50.0 and trade.value == 2 * 104 * 50
    assert trade.pnl == pytest.approx(2 * (100 - 104) * 50)
    # cash moves by the full contract value: 2 * 104 * 50 = 10400
    assert result.cash.tolist() == pytest.approx([100_000, 100_000, 89_600, 89_600, 99_600, 99_600])
    assert result.equity.tolist() == pytest.approx([100_000, 100_000, 100_100, 100_300, 99_600, 99_600])


def test_percent_fee_is_charged_on_the_contract_value(tf: Any) -> None:
    # "commission: rate (0.002 = 0.2% of value per fill)": the value of 2 contracts at 104 with a multiplier of 50
    # is 10,400, so a 0.1% fee is 10.40 (the sizing code, Engine.affordable_qty, assumes exactly this)
    fut = Instrument("X", multiplier=50.0)
    result, _ = tf.run(
        {1: lambda s: s.buy(2), 3: lambda s: s.close()}, ROWS, cash=100_000.0, commission=0.001, instruments={"X": fut}
    )
    assert [f.fee for f in result.fills] == pytest.approx([10.4, 10.0])
    assert result.trades[0].pnl == pytest.approx(-400.0 - 20.4)


def test_fraction_sizing_rounds_down_to_the_lot_size(tf: Any) -> None:
    result, _ = tf.run({1: lambda s: s.buy()}, ROWS, cash=1_000.0, instruments={"X": Instrument("X", lot_size=0.01)})
    assert result.fills[0].qty == pytest.approx(9.61)  # 1000 / 104 = 9.615...


def test_lot_size_and_min_notional_reject_at_submission(tf: Any) -> None:
    inst = Instrument("X", min_notional=150.0)
    result, strat = tf.run(
        {1: [lambda s: s.buy(0.5), lambda s: s.buy(1), lambda s: s.buy(2)]}, ROWS, instruments={"X": inst}
    )
    small_lot, small_value, ok = strat.placed[1]
    assert small_lot.status is S.REJECTED and "lot size" in small_lot.reject_reason
    assert small_value.status is S.REJECTED and "minimum notional" in small_value.reject_reason
    assert ok.status is S.FILLED and [f.qty for f in result.fills] == [2.0]


def test_close_fraction_rounds_down_to_whole_lots(tf: Any) -> None:
    result, strat = tf.run({1: lambda s: s.buy(7), 2: lambda s: s.close(fraction=0.5)}, ROWS)
    (exit_order,) = strat.first(2)
    assert exit_order.qty == 3.0 and exit_order.status is S.FILLED
    assert strat.position().qty == 4.0
    assert sorted((t.size, t.is_open) for t in result.trades) == [(3.0, False), (4.0, True)]


def test_on_trade_reports_opened_and_closed_trades_of_a_flip(tf: Any) -> None:
    script = {1: lambda s: s.buy(10), 2: lambda s: s.sell(15)}
    _result, strat = tf.run(script, ROWS)
    first, flip = strat.trade_events
    assert first.fill.order_id == 1 and [t.id for t in first.opened] == [1] and first.closed == []
    assert flip.fill.qty == 15.0 and flip.fill.price == 105.0
    assert [t.size for t in flip.closed] == [10.0] and [t.size for t in flip.opened] == [-5.0]


def test_account_equity_and_margin_queries() -> None:
    from tradeforge.core.events import Fill
    from tradeforge.core.portfolio import Portfolio
    from tradeforge.core.types import Instrument, Liquidity, Side

    pf = Portfolio(10_000.0, {"A": Instrument("A"), "F": Instrument("F", multiplier=50.0)}, leverage=2.0)
    pf.add_book("s1", 6_000.0)
    pf.add_book("s2", 4_000.0)
    pf.apply_fill(Fill(1, "s1", "A", Side.BUY, 10.0, 100.0, 1.0, 0, 0, Liquidity.TAKER, "market"))
    pf.apply_fill(Fill(2, "s2", "F", Side.SELL, 1.0, 40.0, 0.0, 0, 0, Liquidity.TAKER, "market"))
    prices = {"A": 110.0, "F": 38.0}
    # cash: 10,000 - 1,000 - 1 + 2,000 (short proceeds); positions: 10 * 110 - 1 * 38 * 50
    assert pf.equity(prices) == 10_000.0 - 1_001.0 + 2_000.0 + 1_100.0 - 1_900.0
    assert pf.gross_exposure(prices) == 1_100.0 + 1_900.0
    assert pf.margin_available(prices) == pf.equity(prices) - 3_000.0 / 2.0
    assert pf.book_equity("s2", prices) == 4_000.0 + 2_000.0 - 1_900.0
