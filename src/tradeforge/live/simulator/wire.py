"""binance spot's JSON shapes (numbers as strings with 8 decimals, times in ms), built from the book's objects."""

from __future__ import annotations

from typing import Any

from tradeforge.live.simulator.book import Book
from tradeforge.live.simulator.model import ORDER_TYPES, Balance, MarketRules, SimOrder, SimTrade
from tradeforge.live.simulator.tape import Candle


def num(x: float) -> str:
    return f"{x:.8f}"


def exchange_info(market: MarketRules, now_ms: int) -> dict[str, Any]:
    """GET /api/v3/exchangeInfo: the one market with binance's filters."""
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [
            {
                "symbol": market.id,
                "status": "TRADING",
                "baseAsset": market.base,
                "baseAssetPrecision": 8,
                "quoteAsset": market.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": list(ORDER_TYPES),
                "icebergAllowed": False,
                "ocoAllowed": False,
                "otoAllowed": False,
                "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": False,
                "cancelReplaceAllowed": False,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": num(market.tick_size),
                        "maxPrice": num(1_000_000.0),
                        "tickSize": num(market.tick_size),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": num(market.min_qty),
                        "maxQty": num(market.max_qty),
                        "stepSize": num(market.step_size),
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": num(market.min_notional),
                        "applyMinToMarket": True,
                        "maxNotional": num(market.max_notional),
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
            }
        ],
    }


def kline_row(c: Candle) -> list[Any]:
    """One row of GET /api/v3/klines."""
    return [
        c.open_ms,
        num(c.open),
        num(c.high),
        num(c.low),
        num(c.close),
        num(c.volume),
        c.close_ms,
        "0",
        0,
        "0",
        "0",
        "0",
    ]


def kline_event(symbol_id: str, interval: str, c: Candle, closed: bool, now_ms: int) -> dict[str, Any]:
    """One message of the <symbol>@kline_<interval> stream."""
    return {
        "e": "kline",
        "E": now_ms,
        "s": symbol_id,
        "k": {
            "t": c.open_ms,
            "T": c.close_ms,
            "s": symbol_id,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": num(c.open),
            "c": num(c.close),
            "h": num(c.high),
            "l": num(c.low),
            "v": num(c.volume),
            "n": 0,
            "x": closed,
            "q": "0",
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }


def ticker(symbol_id: str, day: Candle) -> dict[str, Any]:
    """GET /api/v3/ticker/24hr for one symbol: bid = ask = last = the current price (there is no order book)."""
    change = day.close - day.open
    return {
        "symbol": symbol_id,
        "priceChange": num(change),
        "priceChangePercent": f"{100.0 * change / day.open:.3f}" if day.open else "0.000",
        "weightedAvgPrice": num(day.close),
        "prevClosePrice": num(day.open),
        "lastPrice": num(day.close),
        "lastQty": num(0.0),
        "bidPrice": num(day.close),
        "bidQty": num(0.0),
        "askPrice": num(day.close),
        "askQty": num(0.0),
        "openPrice": num(day.open),
        "highPrice": num(day.high),
        "lowPrice": num(day.low),
        "volume": num(day.volume),
        "quoteVolume": num(0.0),
        "openTime": day.open_ms,
        "closeTime": day.close_ms,
        "firstId": -1,
        "lastId": -1,
        "count": 0,
    }


def order(o: SimOrder, symbol_id: str) -> dict[str, Any]:
    """An order as GET /api/v3/order, /openOrders and /allOrders report it."""
    return {
        "symbol": symbol_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": num(o.price),
        "origQty": num(o.qty),
        "executedQty": num(o.executed_qty),
        "cummulativeQuoteQty": num(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "stopPrice": num(o.stop_price),
        "icebergQty": num(0.0),
        "time": o.time_ms,
        "updateTime": o.update_ms,
        "isWorking": o.is_open and (o.triggered or not o.stop_price),
        "workingTime": o.time_ms,
        "origQuoteOrderQty": num(o.quote_qty),
        "selfTradePreventionMode": "NONE",
    }


def order_result(o: SimOrder, symbol_id: str) -> dict[str, Any]:
    """The answer to POST /api/v3/order with newOrderRespType=FULL (RESULT without 'fills', ACK shorter)."""
    return {
        "symbol": symbol_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": o.time_ms,
        "price": num(o.price),
        "origQty": num(o.qty),
        "executedQty": num(o.executed_qty),
        "origQuoteOrderQty": num(o.quote_qty),
        "cummulativeQuoteQty": num(o.cum_quote),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side,
        "workingTime": o.time_ms,
        "selfTradePreventionMode": "NONE",
        "fills": [
            {
                "price": num(t.price),
                "qty": num(t.qty),
                "commission": num(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.id,
            }
            for t in o.fills
        ],
    }


def order_ack(o: SimOrder, symbol_id: str, resp_type: str) -> dict[str, Any]:
    if resp_type == "ACK":
        return {
            "symbol": symbol_id,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_order_id,
            "transactTime": o.time_ms,
        }
    body = order_result(o, symbol_id)
    if resp_type == "RESULT":
        del body["fills"]
    return body


def cancelled(o: SimOrder, symbol_id: str, now_ms: int) -> dict[str, Any]:
    """The answer to DELETE /api/v3/order."""
    body = order_result(o, symbol_id)
    del body["fills"], body["workingTime"]
    body["origClientOrderId"] = o.client_order_id
    body["transactTime"] = now_ms
    return body


def trade(t: SimTrade, symbol_id: str) -> dict[str, Any]:
    """A fill as GET /api/v3/myTrades reports it."""
    return {
        "symbol": symbol_id,
        "id": t.id,
        "orderId": t.order_id,
        "orderListId": -1,
        "price": num(t.price),
        "qty": num(t.qty),
        "quoteQty": num(t.quote_qty),
        "commission": num(t.commission),
        "commissionAsset": t.commission_asset,
        "time": t.time_ms,
        "isBuyer": t.side == "BUY",
        "isMaker": t.is_maker,
        "isBestMatch": True,
    }


def account(book: Book, now_ms: int, omit_zero: bool) -> dict[str, Any]:
    """GET /api/v3/account."""
    balances: dict[str, Balance] = book.balances
    rows = [
        {"asset": asset, "free": num(b.free), "locked": num(b.locked)}
        for asset, b in sorted(balances.items())
        if not (omit_zero and b.free == 0.0 and b.locked == 0.0)
    ]
    return {
        "makerCommission": round(book.maker_fee * 10_000),
        "takerCommission": round(book.taker_fee * 10_000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": num(book.maker_fee),
            "taker": num(book.taker_fee),
            "buyer": num(0.0),
            "seller": num(0.0),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": rows,
        "permissions": ["SPOT"],
        "uid": 1,
    }
