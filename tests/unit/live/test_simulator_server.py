"""The simulator's server seen from plain HTTP and websocket clients on 127.0.0.1: binance's wire format and errors,
the lifecycle, the clock and the fault API. (ccxt's own client is exercised in tests/integration.)"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.live.simulator import ExchangeSimulator, SimulatorError

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
N = 40
SIGNED = {"timestamp": "1", "signature": "x"}


def bars(n: int = N) -> BarSeries:
    o = 100.0 + np.arange(n, dtype=np.float64)
    ts = (T0 + 60_000 * np.arange(n)) * 1_000_000
    return BarSeries.from_arrays("TEST", 60_000_000_000, ts, o, o + 2.0, o - 1.0, o + 1.0, np.full(n, 5.0))


@pytest.fixture
def sim() -> Iterator[ExchangeSimulator]:
    with ExchangeSimulator(bars(), start=10, balances={"USDT": 1000.0}, push_interval=None) as s:
        yield s


def call(sim: ExchangeSimulator, method: str, path: str, params: dict[str, str], key: bool = True) -> tuple[int, Any]:
    req = urllib.request.Request(f"{sim.url}{path}?{urlencode(params)}", method=method)
    if key:
        req.add_header("X-MBX-APIKEY", "anything")
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_private_endpoints_want_a_key_and_a_signature_of_any_value(sim: ExchangeSimulator) -> None:
    assert call(sim, "GET", "/api/v3/account", SIGNED, key=False) == (
        401,
        {"code": -2014, "msg": "API-key format invalid."},
    )
    status, body = call(sim, "GET", "/api/v3/account", {"timestamp": "1"})
    assert (status, body["code"]) == (400, -1102) and "'signature'" in body["msg"]
    status, body = call(sim, "GET", "/api/v3/account", SIGNED)
    assert status == 200 and {"asset": "USDT", "free": "1000.00000000", "locked": "0.00000000"} in body["balances"]
    assert call(sim, "GET", "/api/v3/time", {}, key=False) == (200, {"serverTime": T0 + 10 * 60_000})


def test_wrong_requests_get_binance_errors(sim: ExchangeSimulator) -> None:
    status, body = call(sim, "GET", "/sapi/v1/capital/config/getall", SIGNED)
    assert status == 404 and "does not serve GET /sapi/v1/capital/config/getall" in body["msg"]
    assert call(sim, "GET", "/api/v3/exchangeInfo", {"symbol": "ETHUSDT"})[1]["code"] == -1121
    assert call(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"})[1]["code"] == -1120
    assert call(sim, "GET", "/api/v3/klines", {"interval": "1m"})[1]["code"] == -1102
    assert call(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "x"})[1]["code"] == -1100


def test_klines_rows_in_binance_format(sim: ExchangeSimulator) -> None:
    _, rows = call(sim, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "2"})
    assert rows == [
        [T0 + 8 * 60_000, "108.00000000", "110.00000000", "107.00000000", "109.00000000", "5.00000000",
         T0 + 9 * 60_000 - 1, "0", 0, "0", "0", "0"],
        [T0 + 9 * 60_000, "109.00000000", "111.00000000", "108.00000000", "110.00000000", "5.00000000",
         T0 + 10 * 60_000 - 1, "0", 0, "0", "0", "0"],
    ]  # fmt: skip


def test_orders_over_plain_http_and_cancel_all(sim: ExchangeSimulator) -> None:
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1", **SIGNED}
    status, body = call(sim, "POST", "/api/v3/order", {**order, "price": "50", "newClientOrderId": "a"})
    assert status == 200 and (body["status"], body["clientOrderId"], body["fills"]) == ("NEW", "a", [])
    status, body = call(sim, "POST", "/api/v3/order", {**order, "price": "60", "newOrderRespType": "ACK"})
    assert status == 200 and set(body) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    status, body = call(sim, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT", **SIGNED})
    assert status == 200 and [o["status"] for o in body] == ["CANCELED", "CANCELED"]
    assert sim.balance("USDT").free == pytest.approx(1000.0)
    assert [r.split("?")[0] for r in sim.requests()] == ["POST /api/v3/order"] * 2 + ["DELETE /api/v3/openOrders"]
    assert "newClientOrderId=a" in sim.requests()[0] and "signature" not in sim.requests()[0]


def test_a_disconnect_before_execution_loses_the_request(sim: ExchangeSimulator) -> None:
    fault = sim.inject("disconnect", on="create_order", executed=False)
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", **SIGNED}
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        call(sim, "POST", "/api/v3/order", order)
    assert sim.orders() == [] and fault.fired == 1 and not fault.active


def test_the_kline_stream_speaks_binance(sim: ExchangeSimulator) -> None:
    async def run() -> list[Any]:
        got = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{sim.ws_url}/btcusdt@kline_1m") as ws:
            got.append(await ws.receive_json(timeout=5))  # subscribed by the URL: the forming candle at once
            await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@kline_1m"], "id": 7})
            got.append(await ws.receive_json(timeout=5))
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
            got.append(await ws.receive_json(timeout=5))
            await asyncio.to_thread(sim.advance)
            got.append(await ws.receive_json(timeout=5))
            got.append(await ws.receive_json(timeout=5))
        return got

    forming, refused, listed, closed, nxt = asyncio.run(run())
    assert forming["e"] == "kline" and forming["s"] == "BTCUSDT"
    k = forming["k"]
    assert (k["t"], k["T"], k["i"], k["o"], k["h"], k["v"], k["x"]) == (
        T0 + 600_000, T0 + 660_000 - 1, "1m", "110.00000000", "110.00000000", "0.00000000", False
    )  # fmt: skip
    assert refused["id"] == 7 and "unknown stream 'ethusdt@kline_1m'" in refused["error"]["msg"]
    assert listed == {"result": ["btcusdt@kline_1m"], "id": 8}
    assert (closed["k"]["t"], closed["k"]["x"], closed["k"]["c"], closed["k"]["h"]) == (
        T0 + 600_000, True, "111.00000000", "112.00000000"
    )  # fmt: skip
    assert (nxt["k"]["t"], nxt["k"]["x"], nxt["E"]) == (T0 + 660_000, False, T0 + 660_000)


def test_the_clock_runs_by_itself_at_a_speed(sim: ExchangeSimulator) -> None:
    sim.run_clock(speed=1200)  # a 1m bar every 50 ms
    time.sleep(0.5)
    sim.stop_clock()
    moved = sim.cursor - 10
    time.sleep(0.15)
    assert moved >= 3 and sim.cursor - 10 <= moved + 1


def test_the_simulator_refuses_what_it_cannot_do(sim: ExchangeSimulator) -> None:
    with pytest.raises(SimulatorError, match=f"only {N - 10} bars of data are left"):
        sim.advance(N)
    with pytest.raises(ConfigError, match="bars >= 1"):
        sim.advance(0)
    with pytest.raises(ConfigError, match="unknown fault kind"):
        sim.inject("meteor")
    with pytest.raises(SimulatorError, match="no order with client order id 'nope'"):
        sim.order("nope")
    with pytest.raises(SimulatorError, match="already running"):
        sim.start()
    taken = ExchangeSimulator(bars(), port=sim.port)
    with pytest.raises(SimulatorError, match=f"cannot listen on 127.0.0.1:{sim.port}.*choose another port"):
        taken.start()
    with pytest.raises(ConfigError, match="symbol must look like 'BTC/USDT'"):
        ExchangeSimulator(bars(), symbol="BTCUSDT")


def test_stop_and_start_again_on_the_same_state() -> None:
    sim = ExchangeSimulator(bars(), start=10, push_interval=0.05)
    with sim:
        sim.advance(3)
        port = sim.port
    with pytest.raises(ConnectionError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    sim.advance(2)  # the state goes on without a server
    with sim:
        assert call(sim, "GET", "/api/v3/time", {})[1] == {"serverTime": T0 + 15 * 60_000}
