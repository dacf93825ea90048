"""SimulatedBroker: matches working orders against bars with the core fill model. Backtest and paper use it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeforge.core.clock import NS_PER_DAY, floor_ns
from tradeforge.core.fees import CallableFee, FeeModel, PercentFee
from tradeforge.core.fills import FillModel, match_bar, update_trailing
from tradeforge.core.orders import Order
from tradeforge.core.series import Stream
from tradeforge.core.types import FillTiming, Liquidity, OrderStatus, OrderType, PositionMode, TimeInForce

if TYPE_CHECKING:
    from tradeforge.core.engine import Engine

_REASON_BY_ROLE = {
    "stop_loss": "stop_loss",
    "take_profit": "take_profit",
    "kill_switch": "kill_switch",
    "exit": "exit",
}


class SimulatedBroker:
    def __init__(self, fill_model: FillModel | None = None, fees: FeeModel | None = None) -> None:
        self.fill_model = fill_model or FillModel()
        self.fees: FeeModel = fees or PercentFee(0.0)
        self._fee_is_callable = isinstance(self.fees, CallableFee)
        self.working: list[Order] = []
        self._taker_adjust = self.fill_model.slippage != 0.0 or self.fill_model.spread != 0.0

    engine: Engine  # set by bind(); the engine this broker reports fills and status changes to

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------- orders in
    def submit(self, order: Order) -> None:
        engine = self.engine
        engine.order_status(order, OrderStatus.ACCEPTED)
        if (
            order.type is OrderType.MARKET
            and self.fill_model.timing is FillTiming.CLOSE
            and order.role not in ("stop_loss", "take_profit")
            and engine.has_bar_now(order.symbol)  # else its last close is stale: wait for its next bar's open
        ):
            stream = engine.base[order.symbol]
            i = stream.n - 1
            col = stream.column
            price = float(col("close")[i])
            self._execute(order, stream, i, price, Liquidity.TAKER, float(col("low")[i]), float(col("high")[i]))
            if order.is_open and order.tif is TimeInForce.IOC:
                engine.order_status(order, OrderStatus.EXPIRED, "IOC: not filled at once")
        if order.is_open:
            self.working.append(order)

    def cancel(self, order: Order, reason: str) -> None:
        if order in self.working:
            self.working.remove(order)
        if order.is_open:
            self.engine.order_status(order, OrderStatus.CANCELLED, reason)

    # -------------------------------------------------------------- bars in
    def on_bar(self, stream: Stream, i: int) -> None:
        """Match working orders against bar i. What trades at the open (market orders, gaps) comes first, in
        the order it was placed; intrabar fills follow. Exits attached to entries filled on this bar come last."""
        symbol = stream.symbol
        col = stream.column
        ts = int(col("ts")[i])
        o = float(col("open")[i])
        h = float(col("high")[i])
        low = float(col("low")[i])
        # entry order id -> (fill price, filled at the open?), for exits attached to entries filled on this bar
        opened_here: dict[int, tuple[float, bool]] = {}
        candidates = [w for w in self.working if w.symbol == symbol]
        traded: set[int] = set()  # each order (or OCO pair) trades at most once per bar: volume caps, partials
        gtc = TimeInForce.GTC
        for order in candidates:
            if order.is_open and order.id not in traded and (order.tif is gtc or not self._expired(order, ts)):
                self._traded(self._match(order, stream, i, o, h, low, opened_here, at_open_only=True), traded)
        for order in candidates:
            if order.is_open and order.id not in traded:
                self._traded(self._match(order, stream, i, o, h, low, opened_here, at_open_only=False), traded)
            if order.tif is TimeInForce.IOC and order.is_open:
                self._drop(order, OrderStatus.EXPIRED, "IOC: not filled on the first bar")
        if not opened_here:
            return
        step = self.engine.step
        for order in [w for w in self.working if w.parent_id in opened_here and w.created_bar == step]:
            if not order.is_open or order.parent_id is None:
                continue
            entry_price, at_open = opened_here[order.parent_id]
            if at_open:  # entered at the open: the whole bar comes after the entry
                self._match(order, stream, i, o, h, low, None, at_open_only=False)
            elif order.role == "stop_loss":
                # entered inside the bar: only the stop-loss is assumed reachable afterwards (pessimistic)
                self._match(order, stream, i, entry_price, h, low, None, at_open_only=False, pair=False)

    def after_bar(self, stream: Stream, i: int) -> None:
        h = float(stream.column("high")[i])
        low = float(stream.column("low")[i])
        step = self.engine.step
        for order in self.working:
            # the bar an order was placed on does not move it: its extreme starts at that bar's close
            if order.type is OrderType.TRAILING_STOP and order.symbol == stream.symbol and order.created_bar < step:
                update_trailing(order, h, low)

    # ------------------------------------------------------------- matching
    def _expired(self, order: Order, ts: int) -> bool:
        if order.tif is TimeInForce.GTT and order.expire_at is not None and ts >= order.expire_at:
            self._drop(order, OrderStatus.EXPIRED, "good-till-time reached")
            return True
        if order.tif is TimeInForce.DAY and floor_ns(ts, NS_PER_DAY) > floor_ns(order.created_ts, NS_PER_DAY):
            self._drop(order, OrderStatus.EXPIRED, "day order: the day ended")
            return True
        return False

    def _match(
        self,
        order: Order,
        stream: Stream,
        i: int,
        o: float,
        h: float,
        low: float,
        opened_here: dict[int, tuple[float, bool]] | None,
        *,
        at_open_only: bool,
        pair: bool = True,
    ) -> tuple[Order, Order | None] | None:
        """Fill order (or its one-cancels-other sibling, whichever trades first) if the bar reaches it.
        With at_open_only, only fills at the open price happen; a stop-limit's trigger is then left untouched."""
        sibling = self._sibling(order) if pair and order.oco_id is not None else None
        legs = (order, sibling)
        saved = (order.triggered, sibling.triggered if sibling is not None else False)
        hit = match_bar(order, o, h, low)
        if sibling is not None:
            other = match_bar(sibling, o, h, low)
            if other is not None and (hit is None or self._first(sibling, other[0], order, hit[0], o)):
                order, hit = sibling, other
        if at_open_only and (hit is None or hit[0] != o):
            # only fills at the open happen in this pass: undo a stop-limit trigger seen inside the bar
            legs[0].triggered = saved[0]
            if legs[1] is not None:
                legs[1].triggered = saved[1]
            return None
        if hit is None:
            return None
        price, liquidity = hit
        self._execute(order, stream, i, price, liquidity, low, h)
        if opened_here is not None and order.filled_qty > 0 and (order.sl is not None or order.tp is not None):
            opened_here[order.id] = (order.avg_fill_price, price == o)
        return legs

    @staticmethod
    def _traded(legs: tuple[Order, Order | None] | None, traded: set[int]) -> None:
        if legs is not None:
            for leg in legs:
                if leg is not None:
                    traded.add(leg.id)

    def _sibling(self, order: Order) -> Order | None:
        if order.oco_id is None:
            return None
        sib = self.engine.open.get(order.oco_id)
        return sib if sib is not None and sib.is_open else None

    @staticmethod
    def _first(a: Order, a_price: float, b: Order, b_price: float, o: float) -> bool:
        """Did leg a fill before leg b in this bar? A gap at the open is known first; otherwise the
        stop-loss is assumed first (pessimistic)."""
        if a_price == o and b_price != o:
            return True
        if b_price == o and a_price != o:
            return False
        return a.role == "stop_loss"

    def _execute(
        self, order: Order, stream: Stream, i: int, price: float, liquidity: Liquidity, low: float, high: float
    ) -> None:
        """Trade order at price inside bar i (whose range is [low, high]): size it, check it, book it."""
        engine = self.engine
        fm = self.fill_model
        if liquidity is Liquidity.TAKER and self._taker_adjust:
            price = fm.taker_price(order.side, price, low, high)
        if price < low:
            price = low
        elif price > high:
            price = high
        inst = engine.instruments[order.symbol]
        sized_here = order.qty is None
        if sized_here:
            qty = engine.affordable_qty(order, price, self.fees.unit_rate(liquidity), self.fees.fixed())
            if qty <= 0:
                self._drop(
                    order,
                    OrderStatus.REJECTED,
                    f"insufficient margin: not enough to buy one lot of {order.symbol} at {price:g}",
                )
                return
            order.qty = qty
        qty = order.remaining
        if order.reduce_only:
            limit = self._reducible(order)
            if limit <= 0:
                self._drop(order, OrderStatus.CANCELLED, "nothing left to reduce")
                return
            qty = min(qty, limit)
            if order.filled_qty + qty < (order.qty or 0.0):
                order.qty = order.filled_qty + qty  # shrink to what the position holds
        if fm.max_volume_fraction is not None:
            cap = inst.round_qty_down(float(stream.column("volume")[i]) * fm.max_volume_fraction)
            if cap <= 0:
                return
            qty = min(qty, cap)
        fee = self.fees.fee(qty, price * inst.multiplier, liquidity)  # fees are on the contract value
        if order.filled_qty > 0 and not self._fee_is_callable:
            fee -= self.fees.fixed()  # the fixed part is per order: charged on its first fill only
        # an order sized from the available margin fits it by construction (unless a fee function misreports)
        shortfall = (
            None if sized_here and not self._fee_is_callable else engine.margin_shortfall(order, qty, price, fee)
        )
        if shortfall is not None:
            self._drop(order, OrderStatus.REJECTED if order.filled_qty == 0 else OrderStatus.CANCELLED, shortfall)
            return
        reason = _REASON_BY_ROLE.get(order.role) or order.type._value_  # (not .value: a slow enum property)
        engine.order_filled(order, qty, price, fee, liquidity, reason)
        if not order.is_open and order in self.working:
            self.working.remove(order)

    def _reducible(self, order: Order) -> float:
        engine = self.engine
        book = engine.portfolio.books[order.strategy]
        if order.trade_id is not None:
            trade = next((t for t in book.open_trades if t.id == order.trade_id), None)
            if trade is None:
                return 0.0
            if engine.portfolio.mode is PositionMode.HEDGING or order.role in ("stop_loss", "take_profit"):
                return abs(trade.size)
        pos = book.position(order.symbol).qty
        return abs(pos) if pos * int(order.side) < 0 else 0.0

    def _drop(self, order: Order, status: OrderStatus, reason: str) -> None:
        if order in self.working:
            self.working.remove(order)
        self.engine.order_status(order, status, reason)
