"""Fees an exchange charges in a third currency (binance's BNB) are valued at that currency's last price in the
quote currency (its market on the same exchange); without such a market they are left out, with one warning."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("ccxt")

import ccxt

from tradeforge.live.bridge import ExchangeBridge
from tradeforge.live.venue import VenueGateway


class FakeExchange:
    id = "fakex"

    def __init__(self, prices: dict[str, float], failing: bool = False) -> None:
        self.has = {"createStopLossOrder": True}
        self.markets = {s: {"symbol": s, "base": s.split("/")[0], "quote": s.split("/")[1]} for s in prices}
        self.markets["BTC/USDT"] = {"symbol": "BTC/USDT", "base": "BTC", "quote": "USDT"}
        self.prices = prices
        self.failing = failing
        self.asked: list[str] = []

    def market(self, symbol: str) -> dict[str, Any]:
        return self.markets[symbol]

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        self.asked.append(symbol)
        if self.failing:
            raise ccxt.BadSymbol(f"{symbol} is not traded right now")
        return {"symbol": symbol, "last": self.prices[symbol]}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def gateway(exchange: FakeExchange, loop: asyncio.AbstractEventLoop) -> VenueGateway:
    bridge = ExchangeBridge(exchange, attempts=1, sleep=lambda _: None)
    bridge.bind(loop)
    return VenueGateway(bridge)


def test_fees_in_quote_base_and_a_third_currency_are_valued_in_quote(loop: asyncio.AbstractEventLoop) -> None:
    ex = FakeExchange({"BNB/USDT": 612.5})
    gw = gateway(ex, loop)
    assert gw._fee_in_quote("BTC/USDT", {"cost": 1.25, "currency": "USDT"}, 40_000.0) == 1.25
    assert gw._fee_in_quote("BTC/USDT", {"cost": 0.0001, "currency": "BTC"}, 40_000.0) == pytest.approx(4.0)
    assert gw._fee_in_quote("BTC/USDT", {"cost": 0.002, "currency": "BNB"}, 40_000.0) == pytest.approx(1.225)
    assert ex.asked == ["BNB/USDT"]
    assert gw._fee_in_quote("BTC/USDT", None, 40_000.0) == 0.0


def test_a_fee_currency_without_a_price_is_left_out_with_one_warning(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tradeforge.live.venue")
    gw = gateway(FakeExchange({}), loop)  # no XYZ/USDT market
    assert gw._fee_in_quote("BTC/USDT", {"cost": 3.0, "currency": "XYZ"}, 40_000.0) == 0.0
    assert gw._fee_in_quote("BTC/USDT", {"cost": 3.0, "currency": "XYZ"}, 40_000.0) == 0.0
    assert caplog.text.count("charged a fee in XYZ") == 1 and "no XYZ/USDT price" in caplog.text
    failing = gateway(FakeExchange({"BNB/USDT": 600.0}, failing=True), loop)
    assert failing._fee_in_quote("BTC/USDT", {"cost": 0.01, "currency": "BNB"}, 40_000.0) == 0.0
    assert "cannot price a fee in BNB" in caplog.text
