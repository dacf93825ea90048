"""A local exchange simulator: binance spot's REST and websocket API on 127.0.0.1, replaying real bars.

ccxt's real binance client (and ccxt.pro's ``watch_ohlcv``) talks to it over the loopback network, so the live
runner, the gateways and reconciliation can be tested, and rehearsed by users, without an exchange account.

    from tradeforge.live.simulator import ExchangeSimulator

    with ExchangeSimulator(balances={"USDT": 10_000}) as sim:   # BTC/USDT replaying the BTC-PERP 1m sample
        ex = sim.ccxt_exchange()
        ex.load_markets()
        ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "entry-1"})
        sim.advance()                    # the forming bar closes: the order filled at its open
        sim.inject("rate_limit")         # the next request gets HTTP 429

Endpoints: GET /api/v3/ping, /time (the simulated clock), /exchangeInfo, /klines (closed candles only),
/ticker/24hr, /account, /order, /openOrders, /allOrders, /myTrades; POST /api/v3/order; DELETE /api/v3/order,
/openOrders; websocket /ws and /ws/<stream> with SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS of
``<symbol>@kline_<interval>`` streams (the forming candle with x=false, the closed one with x=true). Signed
endpoints need an X-MBX-APIKEY header and timestamp and signature parameters, whose values are not checked.
Matching rules: ``tradeforge.live.simulator.book``; fault kinds: ``tradeforge.live.simulator.faults``. From a
shell: ``python -m tradeforge.live.simulator --help``.
"""

from tradeforge.live.simulator.errors import SimulatorError
from tradeforge.live.simulator.faults import KINDS as FAULT_KINDS
from tradeforge.live.simulator.faults import OPERATIONS, Fault
from tradeforge.live.simulator.model import Balance, MarketRules, SimOrder, SimTrade
from tradeforge.live.simulator.simulator import ExchangeSimulator, point_ccxt_at

__all__ = [
    "FAULT_KINDS",
    "OPERATIONS",
    "Balance",
    "ExchangeSimulator",
    "Fault",
    "MarketRules",
    "SimOrder",
    "SimTrade",
    "SimulatorError",
    "point_ccxt_at",
]
