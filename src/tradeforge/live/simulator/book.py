"""The simulated exchange's book: one spot market, balances, orders, trades, and matching against the tape.

Pure state and rules, no I/O and no threads (the server holds a lock around every call). Matching follows
tradeforge's fill model (``tradeforge.core.fills``) so paper trading on the simulator can equal a backtest:

- an order placed while bar ``c`` is forming is first matched against bar ``c`` when the clock advances;
- market orders fill at that bar's open (taker). With ``market_fills="immediate"`` they fill at once, at the same
  price (the forming bar's open is the current price), the way a real exchange answers a market order;
- limit orders fill at the open when the bar opens through the limit, else at the limit when the bar's range
  reaches it (maker); LIMIT_MAKER likewise, and is refused when it would take at once;
- STOP_LOSS / TAKE_PROFIT trigger on the bar's range (at the open on a gap) and fill at the trigger (taker);
  the ``_LIMIT`` variants then work as a limit order (filling on the trigger bar only when the trigger price
  already satisfies the limit, or over the whole bar when triggered at the open);
- each order trades at most once per bar; a volume cap (``max_volume_fraction`` of the bar's volume) or an
  injected partial fill leaves the rest working for the next bars; IOC/FOK orders live for one bar only;
- fees are ``maker_fee`` / ``taker_fee`` of the traded value, charged in the quote asset (``fee_asset="quote"``,
  like tradeforge's portfolio) or, as binance does without BNB, in the asset received (``"received"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from tradeforge.core.errors import ConfigError
from tradeforge.core.fills import limit_touch, stop_touch
from tradeforge.core.types import Side
from tradeforge.live.simulator.errors import (
    ApiError,
    filter_failure,
    illegal,
    insufficient_balance,
    missing,
    unknown_order,
)
from tradeforge.live.simulator.model import (
    CLIENT_ID,
    EPS,
    NEEDS_PRICE,
    NEEDS_STOP,
    NEEDS_TIF,
    ORDER_TYPES,
    TIME_IN_FORCE,
    Balance,
    FeeAsset,
    MarketFills,
    MarketRules,
    SimOrder,
    SimTrade,
    decimals,
    integer,
    limit_param,
    number,
    on_grid,
    required,
)
from tradeforge.live.simulator.tape import Tape

__all__ = ["Balance", "Book", "FeeAsset", "MarketFills", "MarketRules", "SimOrder", "SimTrade"]


class Book:
    """Balances, orders and trades of one account on one market, matched against a Tape."""

    def __init__(
        self,
        tape: Tape,
        market: MarketRules,
        balances: Mapping[str, float],
        *,
        maker_fee: float,
        taker_fee: float,
        fee_asset: FeeAsset,
        market_fills: MarketFills,
        max_volume_fraction: float | None,
        partial: Callable[[SimOrder], float | None] | None = None,
    ) -> None:
        """``partial(order)`` is asked once before each fill and may return the fraction of the remaining
        quantity to fill (an injected partial fill); None lets the order fill what the bar allows."""
        for name, rate in (("maker_fee", maker_fee), ("taker_fee", taker_fee)):
            if not (math.isfinite(rate) and 0.0 <= rate < 0.1):
                raise ConfigError(f"{name} must be a fraction in [0, 0.1), e.g. 0.001 for 0.1%, got {rate!r}")
        if fee_asset not in ("quote", "received"):
            raise ConfigError(f"fee_asset must be 'quote' or 'received', got {fee_asset!r}")
        if market_fills not in ("next_open", "immediate"):
            raise ConfigError(f"market_fills must be 'next_open' or 'immediate', got {market_fills!r}")
        mvf = max_volume_fraction
        if mvf is not None and not (math.isfinite(mvf) and 0.0 < mvf <= 1.0):
            raise ConfigError(f"max_volume_fraction must be in (0, 1] or None, got {mvf!r}")
        self.tape = tape
        self.market = market
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.fee_asset = fee_asset
        self.market_fills = market_fills
        self.max_volume_fraction = mvf
        self.partial: Callable[[SimOrder], float | None] = partial or _no_partial
        self.balances: dict[str, Balance] = {market.base: Balance(), market.quote: Balance()}
        for asset, amount in balances.items():
            if not (math.isfinite(amount) and amount >= 0):
                raise ConfigError(f"the starting balance of {asset} must be >= 0, got {amount!r}")
            self.balances[asset.upper()] = Balance(float(amount))
        self.orders: list[SimOrder] = []
        self.trades: list[SimTrade] = []
        self._next_order_id = 1_000_001
        self._next_trade_id = 5_000_001
        self._generated_ids = 0

    # ------------------------------------------------------------------------------------------------ orders
    def place(self, p: Mapping[str, str]) -> SimOrder:
        """POST /api/v3/order: validate like binance, lock the funds, and (immediate market fills) trade."""
        self.check_symbol(p, required=True)
        side = required(p, "side")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        kind = required(p, "type")
        if kind not in ORDER_TYPES:
            raise ApiError(400, -1116, "Invalid orderType.")
        tif = p.get("timeInForce")
        if kind in NEEDS_TIF:
            if not tif:
                raise missing("timeInForce")
            if tif not in TIME_IN_FORCE:
                raise ApiError(400, -1115, "Invalid timeInForce.")
        elif tif:
            raise ApiError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        qty = number(p, "quantity")
        quote_qty = number(p, "quoteOrderQty")
        if kind == "MARKET":
            if qty is None and quote_qty is None:
                raise ApiError(
                    400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                )
            if qty is not None and quote_qty is not None:
                raise ApiError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
        else:
            if quote_qty is not None:
                raise ApiError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
            if qty is None:
                raise missing("quantity")
        price = number(p, "price")
        if kind in NEEDS_PRICE and price is None:
            raise missing("price")
        if kind not in NEEDS_PRICE and price is not None:
            raise ApiError(400, -1106, "Parameter 'price' sent when not required.")
        stop = number(p, "stopPrice")
        if kind in NEEDS_STOP and stop is None:
            raise missing("stopPrice")
        if kind not in NEEDS_STOP and stop is not None:
            raise ApiError(400, -1106, "Parameter 'stopPrice' sent when not required.")
        cid = p.get("newClientOrderId") or self._generate_client_id()
        if not CLIENT_ID.match(cid):
            raise illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
        if self.tape.exhausted:
            raise ApiError(400, -1013, "Market is closed.")
        now_price = self.tape.price
        for value in (price, stop):
            if value is not None and not on_grid(value, self.market.tick_size):
                raise filter_failure("PRICE_FILTER")
        if qty is not None:
            m = self.market
            if not (m.min_qty - EPS <= qty <= m.max_qty) or not on_grid(qty, m.step_size):
                raise filter_failure("LOT_SIZE")
        # the price the order is valued at: its limit, else its stop (a stop-market), else the current price
        ref = now_price
        if price is not None:
            ref = price
        elif stop is not None:
            ref = stop
        if quote_qty is not None:
            notional, size = quote_qty, self.market.floor_qty(quote_qty / now_price)
        else:
            notional, size = (qty or 0.0) * ref, qty or 0.0
        if not self.market.min_notional <= notional <= self.market.max_notional:
            raise filter_failure("NOTIONAL")
        if size < self.market.min_qty - EPS:
            raise filter_failure("LOT_SIZE")
        if kind == "LIMIT_MAKER" and price is not None and _crosses(side, price, now_price):
            raise ApiError(400, -2010, "Order would immediately match and take.")
        if stop is not None and self._would_trigger(kind, side, stop, now_price):
            raise ApiError(400, -2010, "Stop price would trigger immediately.")
        if any(o.client_order_id == cid and o.is_open for o in self.orders):
            raise ApiError(400, -2010, "Duplicate order sent.")
        asset, amount = self._needs(side, size, quote_qty, ref)
        bal = self.balances.setdefault(asset, Balance())
        if bal.free + EPS < amount:
            raise insufficient_balance()
        amount = min(amount, bal.free)
        bal.free -= amount
        bal.locked += amount
        now = self.tape.now_ms
        order = SimOrder(
            order_id=self._next_order_id,
            client_order_id=cid,
            side=side,
            type=kind,
            time_in_force=tif or "GTC",
            qty=size if quote_qty is None else 0.0,
            quote_qty=quote_qty or 0.0,
            price=price or 0.0,
            stop_price=stop or 0.0,
            time_ms=now,
            placed_bar=self.tape.cursor,
            update_ms=now,
            locked_asset=asset,
            locked=amount,
        )
        self._next_order_id += 1
        self.orders.append(order)
        if kind == "MARKET" and self.market_fills == "immediate":
            self._match([order], at_open_only=True)
        return order

    def find(self, p: Mapping[str, str], *, cancel: bool = False) -> SimOrder:
        """An order by orderId (wins) or origClientOrderId (the latest order with that id)."""
        self.check_symbol(p, required=True)
        oid, cid = p.get("orderId"), p.get("origClientOrderId")
        if not oid and not cid:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if oid:
            if not oid.isdigit():
                raise illegal("orderId", "^[0-9]{1,20}$")
            found = [o for o in self.orders if o.order_id == int(oid)]
        else:
            found = [o for o in self.orders if o.client_order_id == cid]
        if not found:
            raise unknown_order(cancel)
        return found[-1]

    def cancel(self, p: Mapping[str, str]) -> SimOrder:
        order = self.find(p, cancel=True)
        if not order.is_open:
            raise unknown_order(cancel=True)
        self._close(order, "CANCELED")
        return order

    def cancel_all(self, p: Mapping[str, str]) -> list[SimOrder]:
        self.check_symbol(p, required=True)
        open_orders = [o for o in self.orders if o.is_open]
        if not open_orders:
            raise unknown_order(cancel=True)
        for order in open_orders:
            self._close(order, "CANCELED")
        return open_orders

    def open_orders(self, p: Mapping[str, str]) -> list[SimOrder]:
        self.check_symbol(p, required=False)
        return [o for o in self.orders if o.is_open]

    def all_orders(self, p: Mapping[str, str]) -> list[SimOrder]:
        self.check_symbol(p, required=True)
        limit = limit_param(p, 500, 1000)
        rows = list(self.orders)
        if p.get("orderId"):
            rows = [o for o in rows if o.order_id >= integer(p, "orderId")]
            return rows[:limit]
        if p.get("startTime"):
            rows = [o for o in rows if o.time_ms >= integer(p, "startTime")]
        if p.get("endTime"):
            rows = [o for o in rows if o.time_ms <= integer(p, "endTime")]
        return rows[:limit] if p.get("startTime") else rows[-limit:]

    def my_trades(self, p: Mapping[str, str]) -> list[SimTrade]:
        self.check_symbol(p, required=True)
        limit = limit_param(p, 500, 1000)
        rows = list(self.trades)
        if p.get("orderId"):
            rows = [t for t in rows if t.order_id == integer(p, "orderId")]
        if p.get("fromId"):
            rows = [t for t in rows if t.id >= integer(p, "fromId")]
            return rows[:limit]
        if p.get("startTime"):
            rows = [t for t in rows if t.time_ms >= integer(p, "startTime")]
        if p.get("endTime"):
            rows = [t for t in rows if t.time_ms <= integer(p, "endTime")]
        return rows[:limit] if p.get("startTime") else rows[-limit:]

    def check_symbol(self, p: Mapping[str, str], *, required: bool) -> None:
        symbol = p.get("symbol")
        if not symbol:
            if required:
                raise missing("symbol")
            return
        if symbol != self.market.id:
            raise ApiError(400, -1121, "Invalid symbol.")

    # ---------------------------------------------------------------------------------------------- matching
    def step(self) -> list[SimTrade]:
        """Match the working orders against the forming bar, then close it: the clock moves one bar on."""
        working = [o for o in self.orders if o.is_open]
        before = len(self.trades)
        self._match(working, at_open_only=False)
        bar = self.tape.cursor
        for order in working:
            if order.is_open and order.time_in_force in ("IOC", "FOK") and order.placed_bar == bar:
                self._close(order, "EXPIRED")
        self.tape.cursor += 1
        return self.trades[before:]

    def _match(self, orders: list[SimOrder], *, at_open_only: bool) -> None:
        tape = self.tape
        i = tape.cursor
        o, h, low = float(tape.open[i]), float(tape.high[i]), float(tape.low[i])
        hits: list[tuple[SimOrder, float, bool]] = []
        for order in orders:
            if order.last_fill_bar == i or not order.is_open:
                continue
            hit = self._hit(order, o, h, low)
            if hit is not None:
                hits.append((order, hit[0], hit[1]))
        hits.sort(key=lambda x: x[1] != o)  # what trades at the open comes first, then intrabar, by placement
        base_ms = tape.base_ms
        for order, price, maker in hits:
            if at_open_only and price != o:
                continue
            when = int(tape.ts[i]) + (0 if price == o else base_ms // 2)
            self._execute(order, i, price, maker, when)

    def _hit(self, order: SimOrder, o: float, h: float, low: float) -> tuple[float, bool] | None:
        """(price, is_maker) where the order trades in the bar, or None."""
        side = Side.BUY if order.side == "BUY" else Side.SELL
        kind = order.type
        if kind == "MARKET":
            return o, False
        if kind in ("LIMIT", "LIMIT_MAKER") or order.triggered:
            price = limit_touch(side, order.price, o, h, low)
            return None if price is None else (price, True)
        if kind.startswith("STOP_LOSS"):
            trigger = stop_touch(side, order.stop_price, o, h, low)
        else:
            trigger = limit_touch(side, order.stop_price, o, h, low)
        if trigger is None:
            return None
        if kind in ("STOP_LOSS", "TAKE_PROFIT"):
            return trigger, False
        order.triggered = True
        if trigger == o:  # triggered at the open: the whole bar comes after the trigger
            price = limit_touch(side, order.price, o, h, low)
            return None if price is None else (price, True)
        marketable = trigger <= order.price if side is Side.BUY else trigger >= order.price
        return (trigger, False) if marketable else None

    def _execute(
        self,
        order: SimOrder,
        bar: int,
        price: float,
        maker: bool,
        when: int,
    ) -> None:
        m = self.market
        if order.qty == 0.0:  # a market order sized by quoteOrderQty: its size is known at its price
            order.qty = m.floor_qty(order.quote_qty / price)
            if order.qty < m.min_qty:
                self._close(order, "EXPIRED")
                return
        qty = order.remaining
        if self.max_volume_fraction is not None:
            qty = min(qty, m.floor_qty(float(self.tape.volume[bar]) * self.max_volume_fraction))
        if qty > 0:
            fraction = self.partial(order)
            if fraction is not None:
                qty = min(qty, max(m.step_size, m.floor_qty(order.remaining * fraction)))
                if qty >= order.remaining - EPS and order.remaining > m.step_size + EPS:
                    qty = m.floor_qty(order.remaining - m.step_size)
        if qty <= 0 or (order.time_in_force == "FOK" and qty < order.remaining - EPS):
            return
        if not self._fill(order, qty, price, maker, when):
            self._close(order, "EXPIRED")  # could not pay at the trigger (a stop that gapped): binance expires it
            return
        order.last_fill_bar = bar

    def _fill(self, order: SimOrder, qty: float, price: float, maker: bool, when: int) -> bool:
        m = self.market
        rate = self.maker_fee if maker else self.taker_fee
        value = qty * price
        fee = value * rate
        if order.side == "BUY":
            pay_asset, pay = m.quote, value + (fee if self.fee_asset == "quote" else 0.0)
            get_asset, get = m.base, qty - (qty * rate if self.fee_asset == "received" else 0.0)
            fee_asset, fee_amount = (m.quote, fee) if self.fee_asset == "quote" else (m.base, qty * rate)
        else:
            pay_asset, pay = m.base, qty
            get_asset, get = m.quote, value - fee
            fee_asset, fee_amount = m.quote, fee
        if not self._spend(order, pay_asset, pay):
            return False
        self.balances.setdefault(get_asset, Balance()).free += get
        trade = SimTrade(
            self._next_trade_id,
            order.order_id,
            order.client_order_id,
            order.side,
            price,
            qty,
            value,
            fee_amount,
            fee_asset,
            when,
            maker,
        )
        self._next_trade_id += 1
        self.trades.append(trade)
        order.fills.append(trade)
        order.executed_qty = round(order.executed_qty + qty, decimals(m.step_size))
        order.cum_quote += value
        order.update_ms = when
        if order.remaining <= EPS:
            self._close(order, "FILLED")
        else:
            order.status = "PARTIALLY_FILLED"
        return True

    def _spend(self, order: SimOrder, asset: str, amount: float) -> bool:
        """Pay `amount` of `asset` from the order's lock first, then from the free balance."""
        bal = self.balances.setdefault(asset, Balance())
        from_lock = min(order.locked, amount) if order.locked_asset == asset else 0.0
        rest = amount - from_lock
        if rest > bal.free + 1e-9:
            return False
        order.locked -= from_lock
        bal.locked = max(bal.locked - from_lock, 0.0)
        bal.free = max(bal.free - rest, 0.0)
        return True

    def _close(self, order: SimOrder, status: str) -> None:
        order.status = status
        if status != "FILLED":  # a fill already stamped its own time
            order.update_ms = self.tape.now_ms
        if order.locked > 0:
            bal = self.balances[order.locked_asset]
            bal.locked = max(bal.locked - order.locked, 0.0)
            bal.free += order.locked
            order.locked = 0.0

    # ----------------------------------------------------------------------------------------------- helpers
    def _needs(self, side: str, qty: float, quote_qty: float | None, ref: float) -> tuple[str, float]:
        """The asset and amount an order locks: the quote it may spend (with the fee when fees are paid in the
        quote asset) or the base it may sell."""
        if side == "SELL":
            return self.market.base, qty
        value = quote_qty if quote_qty is not None else qty * ref
        if self.fee_asset == "quote":
            value *= 1.0 + max(self.maker_fee, self.taker_fee)
        return self.market.quote, value

    @staticmethod
    def _would_trigger(kind: str, side: str, stop: float, now: float) -> bool:
        if kind.startswith("STOP_LOSS"):
            return now <= stop if side == "SELL" else now >= stop
        return now >= stop if side == "SELL" else now <= stop

    def _generate_client_id(self) -> str:
        self._generated_ids += 1
        return f"sim{self._generated_ids:019d}"


def _no_partial(order: SimOrder) -> float | None:
    return None


def _crosses(side: str, price: float, now: float) -> bool:
    return price >= now if side == "BUY" else price <= now
