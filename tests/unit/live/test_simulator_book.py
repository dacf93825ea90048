"""The simulator's book and tape without a server: matching rules, balances, fees, binance's refusals, candles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.live.simulator.book import Book
from tradeforge.live.simulator.errors import ApiError, SimulatorError
from tradeforge.live.simulator.faults import make_fault
from tradeforge.live.simulator.model import MarketRules
from tradeforge.live.simulator.tape import Tape

MIN_MS = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
# open, high, low, close, volume (one row per minute)
ROWS = [
    (100.0, 101.0, 99.0, 100.5, 10.0),
    (100.5, 102.0, 100.0, 101.0, 11.0),
    (101.0, 103.0, 100.5, 102.0, 12.0),  # 2: the first bar the book trades on (start=2)
    (102.0, 102.5, 98.0, 99.0, 13.0),
    (97.0, 100.0, 96.5, 98.0, 14.0),  # 4: gaps down from 99
    (98.0, 99.0, 96.0, 97.0, 15.0),
    (97.0, 104.0, 97.0, 103.0, 16.0),
    (103.0, 105.0, 102.0, 104.0, 17.0),
    (104.0, 106.0, 103.5, 105.0, 18.0),
    (105.0, 105.5, 104.0, 104.5, 19.0),
    (104.5, 107.0, 104.0, 106.0, 20.0),
    (106.0, 106.5, 105.0, 105.5, 21.0),
]
MARKET = MarketRules(tick_size=0.5, step_size=0.001, min_qty=0.001, min_notional=1.0)


def bars(rows: list[tuple[float, float, float, float, float]] = ROWS) -> BarSeries:
    a = np.array(rows)
    ts = (T0 + MIN_MS * np.arange(len(rows))) * 1_000_000
    return BarSeries.from_arrays("TEST", 60_000_000_000, ts, a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


def make_book(start: int = 2, balances: dict[str, float] | None = None, **kw: Any) -> Book:
    options: dict[str, Any] = {
        "maker_fee": 0.001,
        "taker_fee": 0.002,
        "fee_asset": "quote",
        "market_fills": "next_open",
        "max_volume_fraction": None,
    }
    options.update(kw)
    return Book(Tape(bars(), start), MARKET, {"USDT": 1000.0} if balances is None else balances, **options)


def order(side: str = "BUY", kind: str = "MARKET", qty: str = "1", **extra: str) -> dict[str, str]:
    p = {"symbol": "BTCUSDT", "side": side, "type": kind, "quantity": qty, **extra}
    if kind in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and "timeInForce" not in p:
        p["timeInForce"] = "GTC"
    return p


def refusal(book: Book, p: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(ApiError) as info:
        book.place(p)
    return info.value.code, info.value.msg


# -- market orders --------------------------------------------------------------------------------------------


def test_a_market_order_waits_for_the_clock_and_fills_at_the_next_open() -> None:
    book = make_book()
    o = book.place(order("BUY", "MARKET", "2", newClientOrderId="e1"))
    assert (o.status, o.executed_qty, o.client_order_id) == ("NEW", 0.0, "e1")
    locked = 2 * 101.0 * 1.002  # the forming bar's open is the price, plus the larger fee rate
    assert book.balances["USDT"].locked == pytest.approx(locked)
    [trade] = book.step()
    assert (trade.price, trade.qty, trade.is_maker, trade.time_ms) == (101.0, 2.0, False, T0 + 2 * MIN_MS)
    assert trade.commission == pytest.approx(2 * 101.0 * 0.002) and trade.commission_asset == "USDT"
    assert o.status == "FILLED" and o.cum_quote == pytest.approx(202.0)
    assert book.balances["USDT"].free == pytest.approx(1000.0 - 202.0 - 0.404)
    assert book.balances["USDT"].locked == pytest.approx(0.0)
    assert book.balances["BTC"].free == pytest.approx(2.0)
    assert book.tape.cursor == 3 and book.tape.now_ms == T0 + 3 * MIN_MS


def test_immediate_market_fills_trade_at_once_at_the_same_price() -> None:
    book = make_book(market_fills="immediate")
    o = book.place(order("BUY", "MARKET", "2"))
    assert o.status == "FILLED" and o.fills[0].price == 101.0
    assert book.step() == []  # nothing left to do on the bar


def test_a_market_sell_pays_the_fee_out_of_the_proceeds() -> None:
    book = make_book(balances={"USDT": 0.0, "BTC": 3.0})
    book.place(order("SELL", "MARKET", "3"))
    book.step()
    assert book.balances["BTC"].total == pytest.approx(0.0)
    assert book.balances["USDT"].free == pytest.approx(3 * 101.0 * (1 - 0.002))


def test_quote_order_qty_buys_what_the_quote_amount_affords() -> None:
    book = make_book()
    p = order("BUY", "MARKET", "0")
    del p["quantity"]
    o = book.place({**p, "quoteOrderQty": "100"})
    book.step()
    assert o.qty == pytest.approx(0.99) and o.executed_qty == pytest.approx(0.99)  # floor(100 / 101, 0.001)
    assert o.quote_qty == 100.0


def test_fees_in_the_received_asset_as_binance_charges_them() -> None:
    book = make_book(fee_asset="received")
    book.place(order("BUY", "MARKET", "2"))
    [trade] = book.step()
    assert trade.commission_asset == "BTC" and trade.commission == pytest.approx(2 * 0.002)
    assert book.balances["BTC"].free == pytest.approx(2 - 0.004)
    assert book.balances["USDT"].free == pytest.approx(1000.0 - 202.0)


# -- limit and stop orders ------------------------------------------------------------------------------------


def test_a_limit_buy_fills_at_its_price_when_the_bar_trades_through_it() -> None:
    book = make_book()
    o = book.place(order("BUY", "LIMIT", "1", price="99.5"))
    assert book.balances["USDT"].locked == pytest.approx(99.5 * 1.002)
    assert book.step() == []  # bar 2's low is 100.5
    [trade] = book.step()  # bar 3 reaches 98
    assert (trade.price, trade.is_maker, trade.time_ms) == (99.5, True, T0 + 3 * MIN_MS + 30_000)
    assert trade.commission == pytest.approx(99.5 * 0.001)
    assert o.status == "FILLED"
    assert book.balances["USDT"].free == pytest.approx(1000.0 - 99.5 * 1.001)
    assert book.balances["USDT"].locked == pytest.approx(0.0)


def test_a_limit_the_bar_gaps_through_fills_at_the_open() -> None:
    book = make_book(start=3)
    book.place(order("BUY", "LIMIT", "1", price="97.5"))
    assert book.step() == []  # bar 3's low is 98
    [trade] = book.step()  # bar 4 opens at 97: better than the limit
    assert (trade.price, trade.time_ms, trade.is_maker) == (97.0, T0 + 4 * MIN_MS, True)


def test_a_sell_stop_triggers_on_the_range_or_at_the_open_on_a_gap() -> None:
    book = make_book(start=3, balances={"BTC": 2.0})
    book.place(order("SELL", "STOP_LOSS", "1", stopPrice="99"))  # bar 3: 102 down to 98
    book.place(order("SELL", "STOP_LOSS", "1", stopPrice="97.5"))  # bar 4 opens at 97, below it
    [trade] = book.step()
    assert (trade.price, trade.is_maker) == (99.0, False)
    [trade] = book.step()
    assert trade.price == 97.0


def test_a_take_profit_limit_works_as_a_limit_once_triggered() -> None:
    book = make_book(start=5, balances={"BTC": 1.0})
    o = book.place(order("SELL", "TAKE_PROFIT_LIMIT", "1", stopPrice="103", price="104.5"))
    assert book.step() == []  # bar 5 tops at 99
    assert book.step() == []  # bar 6 reaches 104 >= 103: triggered at 103, below the limit: it rests
    assert o.triggered and o.status == "NEW"
    [trade] = book.step()  # bar 7 reaches 105
    assert (trade.price, trade.is_maker, o.status) == (104.5, True, "FILLED")


def test_stops_and_post_only_orders_that_would_trade_at_once_are_refused() -> None:
    book = make_book(balances={"USDT": 1000.0, "BTC": 1.0})  # price 101
    assert refusal(book, order("SELL", "STOP_LOSS", "1", stopPrice="101.5")) == (
        -2010,
        "Stop price would trigger immediately.",
    )
    assert refusal(book, order("BUY", "LIMIT_MAKER", "1", price="101")) == (
        -2010,
        "Order would immediately match and take.",
    )
    assert book.place(order("BUY", "LIMIT_MAKER", "1", price="100.5")).status == "NEW"


def test_ioc_lives_for_one_bar_and_fok_fills_all_or_nothing() -> None:
    book = make_book()
    ioc = book.place(order("BUY", "LIMIT", "1", price="90", timeInForce="IOC"))
    book.step()
    assert ioc.status == "EXPIRED" and book.balances["USDT"].locked == pytest.approx(0.0)
    capped = make_book(max_volume_fraction=0.1)  # at most 1.2 of bar 2's volume of 12
    fok = capped.place(order("BUY", "LIMIT", "2", price="102", timeInForce="FOK"))
    capped.step()
    assert fok.status == "EXPIRED" and fok.executed_qty == 0.0


# -- partial fills ---------------------------------------------------------------------------------------------


def test_a_volume_cap_fills_part_now_and_the_rest_later() -> None:
    book = make_book(max_volume_fraction=0.1)  # bar 2 has volume 12: at most 1.2 per bar
    o = book.place(order("BUY", "MARKET", "2"))
    [first] = book.step()
    assert (first.qty, o.status, o.executed_qty) == (1.2, "PARTIALLY_FILLED", 1.2)
    [second] = book.step()
    assert second.qty == pytest.approx(0.8) and (second.price, o.status) == (102.0, "FILLED")


def test_an_injected_partial_fill_trades_a_fraction_of_what_is_left() -> None:
    book = make_book(partial=lambda o: 0.25 if o.client_order_id == "p1" else None)
    o = book.place(order("BUY", "MARKET", "2", newClientOrderId="p1"))
    book.step()
    assert o.status == "PARTIALLY_FILLED" and o.executed_qty == pytest.approx(0.5)


# -- refusals --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "code", "msg"),
    [
        (order("BUY", "MARKET", "20"), -2010, "Account has insufficient balance for requested action."),
        (order("SELL", "MARKET", "1"), -2010, "Account has insufficient balance for requested action."),
        (order("BUY", "MARKET", "0.0015"), -1013, "Filter failure: LOT_SIZE"),
        (order("BUY", "MARKET", "0.0001"), -1013, "Filter failure: LOT_SIZE"),
        (order("BUY", "LIMIT", "1", price="100.25"), -1013, "Filter failure: PRICE_FILTER"),
        (order("BUY", "MARKET", "0.005"), -1013, "Filter failure: NOTIONAL"),
        ({**order(), "symbol": "ETHUSDT"}, -1121, "Invalid symbol."),
        ({**order(), "side": "LONG"}, -1117, "Invalid side."),
        ({**order(), "type": "OCO"}, -1116, "Invalid orderType."),
        (order("BUY", "LIMIT", "1", price="100", timeInForce="GTX"), -1115, "Invalid timeInForce."),
        (order("BUY", "LIMIT", "1"), -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
        ({**order(), "quantity": "1e"}, -1100, "Illegal characters found in parameter 'quantity'; legal range is "),
        ({**order(), "newClientOrderId": "has space"}, -1100, "Illegal characters found in parameter 'newClient"),
    ],
)
def test_orders_binance_would_refuse_are_refused_with_its_codes(p: dict[str, str], code: int, msg: str) -> None:
    book = make_book()
    got_code, got_msg = refusal(book, p)
    assert got_code == code and got_msg.startswith(msg)
    assert book.orders == [] and book.balances["USDT"].free == 1000.0


def test_a_client_order_id_is_unique_among_open_orders() -> None:
    book = make_book()
    book.place(order("BUY", "LIMIT", "1", price="90", newClientOrderId="c1"))
    assert refusal(book, order("BUY", "LIMIT", "1", price="90", newClientOrderId="c1")) == (
        -2010,
        "Duplicate order sent.",
    )
    book.cancel({"symbol": "BTCUSDT", "origClientOrderId": "c1"})
    assert book.place(order("BUY", "LIMIT", "1", price="90", newClientOrderId="c1")).status == "NEW"


def test_look_ups_and_cancels_of_unknown_or_closed_orders() -> None:
    book = make_book()
    with pytest.raises(ApiError, match="Order does not exist") as info:
        book.find({"symbol": "BTCUSDT", "orderId": "42"})
    assert info.value.code == -2013
    o = book.place(order("BUY", "MARKET", "1"))
    book.step()
    with pytest.raises(ApiError, match="Unknown order sent") as info:
        book.cancel({"symbol": "BTCUSDT", "orderId": str(o.order_id)})
    assert info.value.code == -2011
    with pytest.raises(ApiError, match="'origClientOrderId' or 'orderId'"):
        book.find({"symbol": "BTCUSDT"})


def test_market_is_closed_at_the_end_of_the_data() -> None:
    book = make_book(start=len(ROWS) - 1)
    book.step()
    assert refusal(book, order()) == (-1013, "Market is closed.")


def test_history_queries_page_like_binance() -> None:
    book = make_book(balances={"USDT": 10_000.0})
    for k in range(3):
        book.place(order("BUY", "MARKET", "1", newClientOrderId=f"m{k}"))
        book.step()
    ids = [t.id for t in book.my_trades({"symbol": "BTCUSDT"})]
    assert len(ids) == 3 and ids == sorted(ids)
    assert [t.id for t in book.my_trades({"symbol": "BTCUSDT", "fromId": str(ids[1])})] == ids[1:]
    assert [t.id for t in book.my_trades({"symbol": "BTCUSDT", "limit": "1"})] == ids[-1:]
    since = str(T0 + 3 * MIN_MS)
    assert [t.id for t in book.my_trades({"symbol": "BTCUSDT", "startTime": since})] == ids[1:]
    first = book.orders[0].order_id
    assert [o.client_order_id for o in book.all_orders({"symbol": "BTCUSDT", "orderId": str(first + 1)})] == [
        "m1",
        "m2",
    ]


# -- the tape --------------------------------------------------------------------------------------------------


def test_klines_serve_closed_candles_only() -> None:
    tape = Tape(bars(), 5)
    got = tape.closed("1m", None, None, 500)
    assert [c.open_ms for c in got] == [T0 + k * MIN_MS for k in range(5)]
    assert (got[-1].open, got[-1].close, got[-1].close_ms) == (97.0, 98.0, T0 + 5 * MIN_MS - 1)
    assert [c.open_ms for c in tape.closed("1m", T0 + MIN_MS, None, 2)] == [T0 + MIN_MS, T0 + 2 * MIN_MS]
    assert [c.open_ms for c in tape.closed("1m", None, T0 + 2 * MIN_MS, 500)] == [T0 + k * MIN_MS for k in range(3)]
    assert tape.closed("1m", T0 + 30_000, None, 500)[0].open_ms == T0 + MIN_MS  # from the next candle


def test_longer_intervals_are_aggregated_and_close_when_their_end_passes() -> None:
    tape = Tape(bars(), 9)  # bars 0-8 closed: 0-4 make a complete 5m candle, 5-8 do not yet
    [five] = tape.closed("5m", None, None, 500)
    assert (five.open, five.high, five.low, five.close, five.volume, five.bars) == (100.0, 103.0, 96.5, 98.0, 60.0, 5)
    forming = tape.forming(5 * MIN_MS)
    assert forming is not None
    assert (forming.open_ms, forming.open, forming.high, forming.low, forming.close) == (
        T0 + 5 * MIN_MS,
        98.0,
        106.0,
        96.0,
        105.0,  # bar 9's open: the current price
    )
    tape.cursor = 10
    [done] = tape.closed_between(5 * MIN_MS, T0 + 9 * MIN_MS, T0 + 10 * MIN_MS)
    assert (done.open_ms, done.close, done.bars) == (T0 + 5 * MIN_MS, 104.5, 5)
    assert [c.open_ms for c in tape.closed("5m", None, None, 500)] == [T0, T0 + 5 * MIN_MS]


def test_the_forming_one_minute_candle_is_the_opening_tick() -> None:
    tape = Tape(bars(), 3)
    c = tape.forming(MIN_MS)
    assert c is not None and (c.open, c.high, c.low, c.close, c.volume) == (102.0, 102.0, 102.0, 102.0, 0.0)


def test_intervals_binance_does_not_have_or_finer_than_the_bars_are_refused() -> None:
    tape = Tape(bars(), 3)
    with pytest.raises(ApiError, match="Invalid interval") as info:
        tape.closed("7m", None, None, 10)
    assert info.value.code == -1120
    with pytest.raises(ApiError, match="whole multiple"):
        tape.closed("1s", None, None, 10)


def test_bad_settings_say_what_to_do() -> None:
    with pytest.raises(SimulatorError, match=r"start=0 is outside \[1, 11\]"):
        Tape(bars(), 0)
    with pytest.raises(ConfigError, match="maker_fee"):
        make_book(maker_fee=0.5)
    with pytest.raises(ConfigError, match="fee_asset"):
        make_book(fee_asset="bnb")
    with pytest.raises(ConfigError, match="max_volume_fraction"):
        make_book(max_volume_fraction=2.0)
    with pytest.raises(ConfigError, match="tick_size"):
        MarketRules(tick_size=0.0)


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"unknown fault kind 'timout' \(did you mean 'timeout'\?\)"):
        make_fault("timout", None, 1, delay=1, executed=True, fraction=0.5, down_for=0)
    with pytest.raises(ConfigError, match=r"cannot wait for 'create_ordr' \(did you mean 'create_order'\?\)"):
        make_fault("timeout", "create_ordr", 1, delay=1, executed=True, fraction=0.5, down_for=0)
    with pytest.raises(ConfigError, match="refuses an order"):
        make_fault("insufficient_funds", "fetch_balance", 1, delay=1, executed=True, fraction=0.5, down_for=0)
    with pytest.raises(ConfigError, match="count"):
        make_fault("rate_limit", None, 0, delay=1, executed=True, fraction=0.5, down_for=0)
    with pytest.raises(ConfigError, match="fraction"):
        make_fault("partial_fill", None, 1, delay=1, executed=True, fraction=1.0, down_for=0)
    assert make_fault("disconnect", "stream", None, delay=1, executed=True, fraction=0.5, down_for=0).active
