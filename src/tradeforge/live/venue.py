"""VenueGateway: real orders through ccxt, written ahead, kept in step with the exchange, resumable after a crash.

It is the ExecutionGateway of a live run: the same engine and Strategy objects as a backtest, with orders sent to
an exchange instead of a simulated broker. Called from the engine (in the runner's worker thread), it reaches the
exchange through an ``ExchangeBridge`` (retries of temporary failures).

Sending an order (live phase):
1. fraction orders are sized from the book's margin at the last close and the taker fee; the quantity and prices are
   rounded to the market's precision (``amount_to_precision`` / ``price_to_precision``) and checked against the
   market's minimum amount and cost: an order that cannot be sent is REJECTED with the reason, before it is stored;
2. the order is stored (write-ahead, ``journal.before_send``), then sent with its client order id;
3. a time-out or dropped connection is ambiguous (the order may exist): the gateway looks it up by client order id
   and only sends again when the exchange does not know it, so an order never exists twice;
4. insufficient funds, invalid orders and other refusals become REJECTED orders with the exchange's message (the
   strategy sees them in ``on_order``); what the exchange answered (exchange id, fills) is applied at once.

Stops go to the exchange as native stop orders where the exchange has them (ccxt's ``stopLossPrice``: binance's
STOP_LOSS / STOP_LOSS_LIMIT), so they work between bars and while the bot is down (``native_stops``, on by
default): the stop-loss of a trade whose entry has completely filled, with no take-profit beside it, on a long
position; and stop or stop-limit buys of a fixed size. A spot account cannot back two sell orders with one
balance: before an order that needs the base asset a native stop holds is sent (an exit, a take-profit added to
the trade), the stop is cancelled on the exchange and replaced by a new stop-loss order the bot holds ("moved off
the exchange"). A stop the exchange refuses (say its price is already passed) is held by the bot instead.

Held orders (every other stop, stop-limit and trailing stop, fraction-sized stops, and take-profit legs) are
emulated: the gateway checks each closed bar's range (the simulated broker's rule, ``core.fills.match_bar``); once
triggered it sends a market order (a limit order at the limit price for a stop-limit) under the same client order
id. A stop-loss and its take-profit never both execute: only one is ever sent.

Fills: before each step's bars are revealed, the gateway asks the exchange about its working orders (one
``fetch_open_orders`` per symbol, ``fetch_order`` and ``fetch_my_trades`` for those that changed) and books every
exchange trade it has not booked yet (by the exchange's trade id) at the exchange's price and fee. Cancels are
sent and their answer applied; an order the exchange no longer finds is looked up, never assumed cancelled.

Restarts (``scripts``, from the database): a resumed run replays its bars from the deployment's origin through a
new engine. While it replays steps an earlier run recorded (up to ``replay_until``), nothing reaches the exchange:
each order the strategy places must be one an earlier run stored (matched by the journal) and gets the stored
answers and fills at the steps they were booked at (a cancel the bot asked for within a step at the point the
replay asks for it again), so the strategy's state, the positions and the cash are those
the earlier runs had. Then the catch-up phase (bars that closed while the bot was down): the orders still open are
looked up on the exchange (fills that happened while down are booked; an order stored but never sent is REJECTED
"never reached the exchange"; an emulated stop keeps waiting), emulated stops trigger, but new orders are not sent
(they would act on stale bars): they are refused ("catch-up"), as are orders placed during a first run's warm-up,
and not stored. Live bars follow (``on_live``): from then on orders are sent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from tradeforge.core.clock import NS_PER_DAY, floor_ns, iso
from tradeforge.core.errors import ConfigError
from tradeforge.core.fills import match_bar, update_trailing
from tradeforge.core.orders import Order
from tradeforge.core.series import Stream
from tradeforge.core.trades import Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, TimeInForce
from tradeforge.live.bridge import ExchangeBridge, ExchangeUnavailable
from tradeforge.live.replay_script import OrderScript, asked_for, gross_filled

if TYPE_CHECKING:
    from tradeforge.core.engine import Engine

log = logging.getLogger("tradeforge.live.venue")
S = OrderStatus
REPLAY, CATCHUP, LIVE = "replay", "catch-up", "live"
EMULATED_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)
_FINAL = {"canceled": S.CANCELLED, "cancelled": S.CANCELLED, "expired": S.EXPIRED, "rejected": S.REJECTED}
_FILL_STATUSES = (S.PARTIALLY_FILLED, S.FILLED)
_EPS = 1e-12


class VenueJournal(Protocol):
    """What the gateway needs from the run's recorder (``live.recorder.RunRecorder``)."""

    exchange_ids: dict[int, str]
    fill_ids: dict[int, list[str]]
    fill_raw: dict[int, list[dict[str, Any]]]
    order_raw: dict[int, dict[str, Any]]

    def before_send(self, order: Order) -> None: ...

    def client_order_id(self, order_id: int) -> str: ...

    def skip(self, order_id: int) -> None: ...


@dataclass
class _Remote:
    cid: str
    exchange_id: str | None = None
    sent: bool = False
    unknown: bool = False  # a send whose fate is not known yet (the look-up failed): looked up at each bar
    filled: float = 0.0  # what the exchange filled that is booked (gross: before fees taken in the base asset)
    trades: set[str] = field(default_factory=set)  # exchange trade ids booked
    native: bool = False  # a stop resting on the exchange as a native stop order (not triggered by the bot)


def is_emulated(order: Order) -> bool:
    return order.type in EMULATED_TYPES or (order.type is OrderType.LIMIT and order.role == "take_profit")


class VenueGateway:
    def __init__(
        self,
        bridge: ExchangeBridge,
        journal: VenueJournal | None = None,
        *,
        scripts: dict[int, OrderScript] | None = None,
        replay_until: int | None = None,
        taker_fee: float = 0.0,
        native_stops: bool = True,
    ) -> None:
        self.bridge = bridge
        self.exchange = bridge.exchange
        self._journal = journal
        self.scripts = scripts or {}
        self.replay_until = replay_until
        self.taker_fee = taker_fee
        self.phase = REPLAY if replay_until is not None else CATCHUP
        self._live = False
        self._stepping = False  # inside on_bar (matching a step's bars)
        self.working: list[Order] = []
        self._remote: dict[int, _Remote] = {}
        self._warned_fee: set[str] = set()
        self.refused_not_live = 0  # orders refused during warm-up / catch-up
        self.native_stops = native_stops and bool(self.exchange.has.get("createStopLossOrder"))
        self._holding = False  # a replacement stop-loss is being submitted: the bot holds it
        self._replaces: str | None = None  # the client order id of the native stop it replaces
        self._in_cancel = False  # inside cancel(): what it learns is an answer to a cancel the bot asked for
        self._rates: dict[str, tuple[int, float | None]] = {}  # fee currency -> (step, its price in quote)

    engine: Engine

    def bind(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def journal(self) -> VenueJournal:
        if self._journal is None:
            raise ConfigError("the venue gateway has no journal: set gateway.journal = the run's recorder")
        return self._journal

    @journal.setter
    def journal(self, journal: VenueJournal) -> None:
        self._journal = journal

    # ------------------------------------------------------------------------------------------------ phases
    def _check_phase(self) -> None:
        until = self.replay_until
        if self.phase != REPLAY or until is None or self.engine.step < 0:
            return
        if self.engine.now > until or (self._live and not self._stepping):
            # past the recorded steps; or live and called between steps (a kill): the replay is over either way
            self.leave_replay()

    def leave_replay(self) -> None:
        """The replay of recorded steps is over: look the orders still open up on the exchange. Called at the first
        step after the recorded ones, before its bars are revealed, so what it books lands where a later replay
        puts it too."""
        if self.phase != REPLAY:
            return
        for order in list(self.working):  # a kill between steps: its cancels were stored after the last step
            if order.id in self.scripts:
                self._play(order)
        self.phase = LIVE if self._live else CATCHUP
        for order in list(self.working):
            self._look_up_adopted(order)
        log.info("replay of recorded steps done: %d order(s) open, %d on the exchange", len(self.working),
                 sum(1 for o in self.working if self._remote[o.id].sent))  # fmt: skip

    def _look_up_adopted(self, order: Order) -> None:
        """An order an earlier run stored, still open after its stored answers: what the exchange says of it."""
        import ccxt

        remote = self._remote.get(order.id)
        if remote is None or not order.is_open:
            return
        try:
            info = self._lookup(order)
        except (ExchangeUnavailable, ccxt.ExchangeError) as exc:
            log.error("looking up %s failed (%s): kept open, looked up at the next bar", remote.cid, exc)
            self._mark_unknown(order, remote)
            return
        if info is None:
            if is_emulated(order) and remote.exchange_id is None:
                return  # an emulated stop that had not triggered: it keeps waiting
            self._drop(order, S.REJECTED, "never reached the exchange (the bot stopped between storing and sending)")
            return
        remote.sent = True
        remote.native = _is_native(order, info)
        self._apply(order, info)

    def go_live(self) -> None:
        """Live bars follow: from now on new orders are sent. A replay still under way (the bot came back within
        the bar it stopped in) ends at the next step, where the orders left open are looked up."""
        self._live = True
        if self.phase == CATCHUP:
            self.phase = LIVE

    def unbooked(self) -> dict[str, float]:
        """Per symbol, the signed quantity the exchange has filled of working orders and the bot has not booked
        yet (it books fills before each step): reconciliation counts them without booking them between steps."""
        out: dict[str, float] = {}
        mine = [o for o in self.working if o.is_open and o.id in self._remote]
        if not mine:
            return out
        rows = self.open_orders_on_exchange(sorted({o.symbol for o in mine}))
        by_cid = {r.get("clientOrderId"): r for r in rows}
        for order in mine:
            remote = self._remote[order.id]
            row = by_cid.get(remote.cid)
            if row is None:
                if is_emulated(order) and not remote.sent and remote.exchange_id is None and self.phase != REPLAY:
                    continue  # held here, not triggered
                row = self._lookup(order)
            if row is None:
                continue
            delta = float(row.get("filled") or 0.0) - remote.filled
            if delta > _EPS:
                out[order.symbol] = out.get(order.symbol, 0.0) + delta * int(order.side)
        return out

    # ------------------------------------------------------------------------------------------ orders in
    def submit(self, order: Order) -> None:
        self._check_phase()
        engine = self.engine
        script = self.scripts.get(order.id)
        if script is not None:  # placed by an earlier run (on a bar it ran, or the one it stopped in)
            self._adopt(order, script)
            return
        refusal = self._refusal(order)
        if refusal is not None:
            if self._replacement_here() is not None:
                self._make_room(order)  # a crash stored the stop-loss this sell moved, not the sell itself
            self._not_sent(order, refusal)
            return
        if is_emulated(order):
            self._make_room(order)
            native = self._armable(order)
            if native or (self._holding and self._replaces is not None):
                # noted on the stored order, so that a replay knows what was decided here
                self.journal.order_raw[order.id] = {"native": True} if native else {"replaces": self._replaces}
            self.journal.before_send(order)
            self._remote[order.id] = _Remote(self.journal.client_order_id(order.id))
            engine.order_status(order, S.ACCEPTED)
            self.working.append(order)
            if native and order.is_open:
                self._send(order, order.type, native=True)
            return
        problem = self._prepare(order)
        if problem is not None:
            engine.order_status(order, S.REJECTED, problem)
            return
        self._make_room(order)
        self.journal.before_send(order)
        self._send(order, order.type)

    def _refusal(self, order: Order) -> str | None:
        """Why a new order is not sent in this phase (warm-up, catch-up), or None."""
        if self.phase == REPLAY:
            return "warm-up: orders are sent from the first live bar on"
        if self.phase == CATCHUP and order.role not in ("stop_loss", "take_profit"):
            what = "warm-up" if self.replay_until is None else "catch-up after a restart"
            return f"{what}: orders are sent from the first live bar on (this bar closed before)"
        return None

    def _trade_of(self, order: Order) -> Trade | None:
        """The open trade an exit leg belongs to."""
        book = self.engine.portfolio.books[order.strategy]
        return next((t for t in book.open_trades if t.id == order.trade_id), None)

    # ------------------------------------------------------------------------------------ native stops
    def _armable(self, order: Order) -> bool:
        """Whether this stop goes to the exchange as a native stop order (decided when it is placed): a trade's
        stop-loss, or a stop (-limit) buy of a fixed size."""
        if not self.native_stops or self._holding or self.phase == REPLAY or not _native_kind(order):
            return False
        if not order.is_open:
            return False
        if order.oco_id is not None:
            return False  # paired with a take-profit: one balance cannot back two sells
        if order.parent_id is not None and order.parent_id in self.engine.open:
            return False  # its entry is still filling: its size would change
        last = self.engine.last_price_or_none(order.symbol)
        if last is None or order.stop is None:
            return False
        # else it would trigger at once: held, triggered by the bot at the next closed bar
        return order.stop > last if int(order.side) > 0 else order.stop < last

    def _make_room(self, order: Order) -> None:
        """Before a sell is stored and sent: native stops that hold the base asset it needs (or that belong to the
        same trade) move off the exchange. Decided from the engine's state alone, so a replay decides the same."""
        if int(order.side) > 0 or self._holding:
            return
        try:
            self._move_armed(order)
        finally:
            self._restore_replacement()

    def _move_armed(self, order: Order) -> None:
        armed = [
            w
            for w in self.working
            if w is not order
            and w.symbol == order.symbol
            and w.is_open
            and int(w.side) < 0
            and self._remote[w.id].native
        ]
        if not armed:
            return
        held = abs(self.engine.portfolio.books[order.strategy].position(order.symbol).qty)
        amount = order.remaining if order.qty is not None else held
        locked = sum(w.remaining for w in armed)
        # a sell that names no trade reduces the oldest trades first (netting): any armed stop's size could change
        fifo = order.trade_id is None and order.role not in ("stop_loss", "take_profit")
        if fifo or locked + amount > held * (1 + 1e-9) + _EPS:
            moving = armed
        else:
            moving = [w for w in armed if w.trade_id == order.trade_id]
        for stop in moving:
            self._disarm(stop, f"moved off the exchange: a {order.role} sell of {order.symbol} needs what it held")

    def _restore_replacement(self) -> None:
        """A run stopped after storing the held replacement of a native stop and before storing the stop's cancel,
        and the stop is known closed by now (looked up after the replay): place the replacement again."""
        script = self._replacement_here()
        stop = script.record.stop if script is not None else None
        if script is None or stop is None:
            return
        rec = script.record
        replaces = str(script.created["replaces"])
        for trade in self.engine.portfolio.books[rec.strategy].open_trades:
            old = self.scripts.get(trade.sl_order_id) if trade.sl_order_id is not None else None
            if old is None or old.record.client_order_id != replaces or trade.sl_order_id in self.engine.open:
                continue
            self._place_replacement(trade, stop, replaces)
            return

    def _replacement_here(self) -> OrderScript | None:
        """The stored order the engine places next, when an earlier run placed it at this step as the held
        replacement of a native stop it moved off the exchange (its NEW row names that stop: "replaces")."""
        script = self.scripts.get(self.engine.next_order_id)
        if script is None or "replaces" not in script.created or script.record.created_ts != self.engine.now:
            return None
        return script

    def _disarm(self, stop: Order, reason: str) -> None:
        """Cancel a native stop on the exchange; a new stop-loss at the same price, held by the bot, replaces it."""
        trade = self._trade_of(stop)
        cid = self._remote[stop.id].cid
        self.cancel(stop, reason)
        replacement = self._replacement_here() if stop.is_open and self.phase == REPLAY else None
        if replacement is not None and replacement.created["replaces"] == cid:
            # the run that moved it stopped before storing the cancel's answer, after storing its replacement: the
            # exchange had cancelled it
            self._drop(stop, S.CANCELLED, reason)
        if stop.is_open:
            log.error("%s could not be cancelled: it stays on the exchange", cid)
            return
        if stop.status is not S.CANCELLED or trade is None or not trade.is_open or stop.stop is None:
            return  # it filled (or the trade closed) meanwhile
        if trade.sl_order_id != stop.id:
            return  # no longer the trade's stop-loss (the strategy is replacing it)
        self._place_replacement(trade, stop.stop, cid)

    def _place_replacement(self, trade: Trade, price: float, replaces: str) -> None:
        """A stop-loss the bot holds for trade, at the price of the native stop (replaces) moved off the exchange."""
        held, noted = self._holding, self._replaces
        self._holding, self._replaces = True, replaces
        try:
            self.engine.set_trade_exit(trade, "stop_loss", price)
        finally:
            self._holding, self._replaces = held, noted

    def _adopt(self, order: Order, script: OrderScript) -> None:
        """Take back an order an earlier run stored: its stored answers, then (past the replay) the exchange's."""
        rec = script.record
        # what the live run decided when it sent the order: its size (a fraction order) and rounded prices, and
        # its quantity net of the fees an exchange keeps in the asset bought
        sized = order.qty is None and order.fraction == rec.fraction
        net = order.qty is not None and rec.qty is not None and 0.98 * order.qty <= rec.qty < order.qty
        if rec.qty is not None and (sized or net):
            order.qty = rec.qty
        if order.limit is not None and rec.limit is not None:
            rounded = float(self.exchange.price_to_precision(order.symbol, order.limit))
            if rounded == rec.limit or math.isclose(order.limit, rec.limit, rel_tol=1e-9):
                order.limit = rec.limit
        self._make_room(order)
        self.journal.before_send(order)  # checks it is the stored order
        remote = _Remote(rec.client_order_id, rec.exchange_order_id, rec.exchange_order_id is not None)
        remote.native = remote.sent and script.created.get("native") is True  # sent as a native stop
        remote.trades.update(f.fill_id for f in script.fills)
        remote.filled = sum(gross_filled(f) for f in script.fills)
        self._remote[order.id] = remote
        if rec.exchange_order_id is not None:
            self.journal.exchange_ids[order.id] = rec.exchange_order_id
        self.working.append(order)
        self._play(order, hold_asked=True)  # a cancel asked later is asked again
        if self.phase != REPLAY:
            self._look_up_adopted(order)

    def _not_sent(self, order: Order, reason: str) -> None:
        self.refused_not_live += 1
        self.journal.skip(order.id)
        self.engine.order_status(order, S.REJECTED, reason)

    def _prepare(self, order: Order) -> str | None:
        """Size a fraction order, round to the market's precision, check its minimums. A reason when it can't go."""
        import ccxt

        engine, ex, symbol = self.engine, self.exchange, order.symbol
        price = order.limit if order.limit is not None else engine.last_price(symbol)
        if order.qty is None:
            qty = engine.affordable_qty(order, price, self.taker_fee, 0.0)
            if qty <= 0:
                return f"insufficient margin: not enough to buy one lot of {symbol} at {price:g}"
            order.qty = qty
        try:
            qty = float(ex.amount_to_precision(symbol, order.qty))
            if order.limit is not None:
                order.limit = float(ex.price_to_precision(symbol, order.limit))
        except ccxt.BaseError as exc:  # ccxt raises InvalidOrder/ArgumentsRequired below the precision
            return f"{ex.id} cannot take {order.qty:g} {symbol}: {type(exc).__name__}: {exc}"
        if qty <= 0:
            return f"order size {order.qty:g} rounds to 0 at {symbol}'s amount precision"
        limits = ex.market(symbol).get("limits") or {}
        min_amount = (limits.get("amount") or {}).get("min")
        min_cost = (limits.get("cost") or {}).get("min")
        if min_amount is not None and qty < float(min_amount) - _EPS:
            return f"order size {qty:g} is below {ex.id}'s minimum amount {float(min_amount):g} for {symbol}"
        if min_cost is not None and qty * price < float(min_cost) - _EPS:
            return f"order value {qty * price:,.2f} is below {ex.id}'s minimum cost {float(min_cost):g} for {symbol}"
        order.qty = qty
        return None

    def _send(self, order: Order, kind: OrderType, *, native: bool = False) -> None:
        """Send order as a market or limit order under its client order id (native: as the exchange's stop or
        stop-limit order, kind STOP or STOP_LIMIT); apply the answer."""
        import ccxt

        engine, ex = self.engine, self.exchange
        remote = self._remote.get(order.id) or _Remote(self.journal.client_order_id(order.id))
        self._remote[order.id] = remote
        side = "buy" if int(order.side) > 0 else "sell"
        price = order.limit if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        ex_type = "limit" if price is not None else "market"
        arming = native
        amount = order.remaining
        if order.reduce_only:  # never more than the position holds (a spot account cannot go short)
            held = abs(engine.portfolio.books[order.strategy].position(order.symbol).qty)
            amount = min(amount, held)
            try:  # whole steps of the market's amount precision (a fee kept in the asset leaves a fraction: dust)
                amount = float(ex.amount_to_precision(order.symbol, amount))
            except ccxt.BaseError:
                amount = 0.0
            if amount <= 0:
                self._drop(order, S.CANCELLED, f"nothing left to reduce above {ex.id}'s amount precision (dust)")
                return
        params: dict[str, Any] = {"clientOrderId": remote.cid}
        if arming and order.stop is not None:
            try:
                params["stopLossPrice"] = ex.price_to_precision(order.symbol, order.stop)
            except ccxt.BaseError as exc:
                log.warning("%s: %s cannot take stop %g (%s): held by the bot instead", remote.cid, ex.id,
                            order.stop, exc)  # fmt: skip
                return
        if ex_type == "limit" and order.tif is TimeInForce.IOC:
            params["timeInForce"] = "IOC"  # one chance on the exchange too; the rest expires there
        info: dict[str, Any] | None = None
        for attempt in range(1, self.bridge.attempts + 1):
            try:
                info = self.bridge.run(lambda: ex.create_order(order.symbol, ex_type, side, amount, price, params))
                break
            except (ccxt.NetworkError, ccxt.InvalidOrder, ccxt.ExchangeError) as exc:
                ambiguous = isinstance(exc, ccxt.NetworkError) or "uplicate" in str(exc)
                if not ambiguous:
                    log.warning("%s refused %s (%s): %s: %s", ex.id, remote.cid, order.describe(),
                                type(exc).__name__, exc)  # fmt: skip
                    if arming:
                        log.warning("%s: held by the bot instead (triggered on closed bars)", remote.cid)
                        return
                    self._drop(order, S.REJECTED, f"{ex.id} refused it: {type(exc).__name__}: {exc}")
                    return
                log.warning("sending %s: %s: %s; looking it up by its client order id", remote.cid,
                            type(exc).__name__, exc)  # fmt: skip
                try:
                    info = self._lookup(order)
                except (ExchangeUnavailable, ccxt.ExchangeError) as lost:
                    # it may exist: never send it again blind; it stays working, looked up at the next bar
                    log.error("%s: the exchange cannot be reached to look it up (%s): kept as sent, looked up at "
                              "the next bar", remote.cid, lost)  # fmt: skip
                    remote.native = arming
                    self._mark_unknown(order, remote)
                    return
                if info is not None:
                    log.info("%s reached the exchange after all (id %s): not sent again", remote.cid, info.get("id"))
                    break
                if attempt == self.bridge.attempts:
                    if arming:
                        log.error("%s: could not reach %s: held by the bot instead", remote.cid, ex.id)
                        return
                    self._drop(order, S.REJECTED, f"could not reach {ex.id} after {attempt} attempts: {exc}")
                    return
                self.bridge.sleep(self.bridge.delay(attempt))
        if info is None:  # pragma: no cover - the loop returns or breaks
            return
        remote.sent = True
        remote.native = arming
        if arming:
            log.info("%s %s: native stop at %s on %s (id %s)", remote.cid, order.role, params["stopLossPrice"],
                     ex.id, info.get("id"))  # fmt: skip
        if order.status is S.SUBMITTED:
            engine.order_status(order, S.ACCEPTED)
        if order not in self.working:
            self.working.append(order)
        self._apply(order, info)

    def _mark_unknown(self, order: Order, remote: _Remote) -> None:
        remote.sent = True
        remote.unknown = True
        if order.status is S.SUBMITTED:
            self.engine.order_status(order, S.ACCEPTED)
        if order not in self.working:
            self.working.append(order)

    def cancel(self, order: Order, reason: str) -> None:
        was, self._in_cancel = self._in_cancel, True
        try:
            self._cancel(order, reason)
        finally:
            self._in_cancel = was

    def _cancel(self, order: Order, reason: str) -> None:
        import ccxt

        self._check_phase()
        if not order.is_open:
            return
        remote = self._remote.get(order.id)
        if self.phase == REPLAY and order.id in self.scripts:
            self._play(order)  # the stored answer to this cancel, if it was stored
            return
        if remote is None or not remote.sent:
            self._drop(order, S.CANCELLED, reason)
            return
        ex = self.exchange
        try:
            info = self.bridge.call(f"cancel {remote.cid}", lambda: ex.cancel_order(remote.exchange_id, order.symbol))
        except ccxt.OrderNotFound:
            try:
                info = self._lookup(order)  # it filled or was cancelled meanwhile: learn which
            except (ExchangeUnavailable, ccxt.ExchangeError) as exc:
                log.error("cancelling %s: it is gone and the look-up failed (%s): looked up at the next bar",
                          remote.cid, exc)  # fmt: skip
                return
            if info is None:
                log.error("%s: the exchange knows no order %s (%s): left open, reconciliation will look again",
                          ex.id, remote.cid, remote.exchange_id)  # fmt: skip
                return
        except (ccxt.ExchangeError, ExchangeUnavailable) as exc:
            log.error("cancelling %s failed: %s: %s; it stays open until the exchange answers", remote.cid,
                      type(exc).__name__, exc)  # fmt: skip
            return
        self._apply(order, info, reason=reason)

    # --------------------------------------------------------------------------------------------- bars in
    def on_bar(self, stream: Stream, i: int) -> None:
        self._stepping = True
        try:
            self._on_bar(stream, i)
        finally:
            self._stepping = False

    def _on_bar(self, stream: Stream, i: int) -> None:
        self._check_phase()
        symbol = stream.symbol
        mine = [o for o in self.working if o.symbol == symbol and o.is_open]
        col = stream.column
        if self.phase == REPLAY:
            for order in mine:
                if order.id in self.scripts:
                    self._play(order, hold_asked=True)
            self._expire(symbol, int(col("ts")[i]))
            return
        self.sync(symbol)
        self._expire(symbol, int(col("ts")[i]))
        o, h, low = float(col("open")[i]), float(col("high")[i]), float(col("low")[i])
        for order in [w for w in self.working if w.symbol == symbol and w.is_open and is_emulated(w)]:
            remote = self._remote[order.id]
            if remote.sent or not order.is_open:
                continue
            if order.oco_id is not None:
                sibling = self.engine.open.get(order.oco_id)
                if sibling is not None and self._remote.get(sibling.id, remote).sent:
                    continue  # its one-cancels-other partner went out first
            was = order.triggered
            hit = match_bar(order, o, h, low)
            fired = hit is not None or (order.type is OrderType.STOP_LIMIT and order.triggered and not was)
            if not fired:
                continue
            kind = OrderType.LIMIT if order.type is OrderType.STOP_LIMIT else OrderType.MARKET
            if order.qty is None:  # a fraction order: sized now, at the price it triggered
                problem = self._prepare(order)
                if problem is not None:
                    self._drop(order, S.REJECTED, problem)
                    continue
            log.info("%s %s triggered by the bar at %s (low %g, high %g): sent as a %s order", remote.cid,
                     order.role, iso(int(col("ts")[i])), low, h, kind.value)  # fmt: skip
            self._send(order, kind)

    def _expire(self, symbol: str, ts: int) -> None:
        """Good-till-time and day orders whose time is up at the bar opening at ts (the simulated broker's rule):
        held ones expire, sent ones are cancelled on the exchange."""
        for order in [w for w in self.working if w.symbol == symbol and w.is_open]:
            if order.tif is TimeInForce.GTT and order.expire_at is not None and ts >= order.expire_at:
                why = "good-till-time reached"
            elif order.tif is TimeInForce.DAY and floor_ns(ts, NS_PER_DAY) > floor_ns(order.created_ts, NS_PER_DAY):
                why = "day order: the day ended"
            else:
                continue
            remote = self._remote.get(order.id)
            if remote is None or not remote.sent:
                self._drop(order, S.EXPIRED, why)
            else:
                self.cancel(order, why)

    def after_bar(self, stream: Stream, i: int) -> None:
        h, low = float(stream.column("high")[i]), float(stream.column("low")[i])
        step = self.engine.step
        for order in self.working:
            remote = self._remote.get(order.id)
            held = remote is None or not remote.sent
            trailing = order.type is OrderType.TRAILING_STOP and order.symbol == stream.symbol
            if trailing and held and order.created_bar < step:
                update_trailing(order, h, low)

    # ------------------------------------------------------------------------------------- exchange state
    def sync(self, symbol: str | None = None) -> None:
        """Book what the exchange did with the working orders sent (of one symbol, or all)."""
        import ccxt

        sent = [o for o in self.working if o.is_open and self._remote[o.id].sent and symbol in (None, o.symbol)]
        if not sent:
            return
        ex = self.exchange
        for sym in sorted({o.symbol for o in sent}):
            try:
                rows = self.bridge.call(f"open orders of {sym}", partial(ex.fetch_open_orders, sym))
            except ExchangeUnavailable as exc:
                log.error("cannot learn the state of the open orders: %s; trying again at the next bar", exc)
                return
            by_cid = {r.get("clientOrderId"): r for r in rows}
            for order in [o for o in sent if o.symbol == sym]:
                row = by_cid.get(self._remote[order.id].cid)
                if row is not None and float(row.get("filled") or 0.0) <= self._remote[order.id].filled + _EPS:
                    continue  # still working, nothing new
                remote = self._remote[order.id]
                try:
                    info = row if row is not None else self._lookup(order)
                except (ExchangeUnavailable, ccxt.ExchangeError) as exc:
                    log.error("looking up %s failed (%s): trying again at the next bar", remote.cid, exc)
                    continue
                if info is None:
                    if remote.unknown and remote.native:  # a native stop that never got there: held here
                        remote.sent = remote.unknown = remote.native = False
                        log.warning("%s never reached the exchange: held by the bot instead", remote.cid)
                        continue
                    if remote.unknown:  # its send failed and the exchange does not have it
                        self._drop(order, S.REJECTED, "never reached the exchange (its send failed)")
                        continue
                    log.error("%s: the exchange no longer knows order %s: left open, looked up again later",
                              ex.id, remote.cid)  # fmt: skip
                    continue
                remote.unknown = False
                self._apply(order, info)

    def open_orders_on_exchange(self, symbols: Sequence[str]) -> list[dict[str, Any]]:
        ex = self.exchange
        out: list[dict[str, Any]] = []
        for sym in symbols:
            out.extend(self.bridge.call(f"open orders of {sym}", partial(ex.fetch_open_orders, sym)))
        return out

    def known_client_ids(self) -> set[str]:
        return {r.cid for r in self._remote.values()}

    def _lookup(self, order: Order) -> dict[str, Any] | None:
        """The order as the exchange knows it (by client order id), or None when it does not know it."""
        import ccxt

        remote = self._remote[order.id]
        ex = self.exchange
        params = {"clientOrderId": remote.cid}
        try:
            info: dict[str, Any] = self.bridge.call(
                f"look up {remote.cid}", lambda: ex.fetch_order(remote.exchange_id, order.symbol, params)
            )
        except ccxt.OrderNotFound:
            return None
        return info

    def _apply(self, order: Order, info: dict[str, Any], reason: str = "") -> None:
        """Book the exchange's view of order: its id, every trade not booked yet, its final status."""
        import ccxt

        engine = self.engine
        remote = self._remote[order.id]
        if order.status is S.SUBMITTED:  # the exchange has it: it was accepted (the answer may have been lost)
            engine.order_status(order, S.ACCEPTED)
        exid = info.get("id")
        if exid is not None and remote.exchange_id != str(exid):
            remote.exchange_id = str(exid)
            self.journal.exchange_ids[order.id] = remote.exchange_id
        filled = float(info.get("filled") or 0.0)
        if filled > remote.filled + _EPS:
            trades = [t for t in (info.get("trades") or []) if str(t.get("id")) not in remote.trades]
            if sum(float(t.get("amount") or 0.0) for t in trades) < filled - remote.filled - 1e-9:
                try:
                    trades = self._trades_of(order)
                except (ExchangeUnavailable, ccxt.ExchangeError) as exc:
                    log.error("%s: cannot fetch its trades (%s): booked at the next bar", remote.cid, exc)
                    return
            for t in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
                if order.is_open and str(t.get("id")) not in remote.trades:
                    self._book(order, t)
            missing = filled - remote.filled
            if missing > 1e-9 and order.is_open:
                log.error("%s: the exchange reports %g filled, its trades only %g: waiting for the rest", remote.cid,
                          filled, order.filled_qty)  # fmt: skip
        status = str(info.get("status") or "")
        if not order.is_open:
            self._forget(order)
            return
        if status in _FINAL:
            why = reason if status in ("canceled", "cancelled") and reason else f"{status} on the exchange"
            self._drop(order, _FINAL[status], why)
            if why.endswith(" on the exchange") and order.role == "stop_loss":
                trade = self._trade_of(order)
                if trade is not None and trade.sl_order_id == order.id:
                    log.error("%s: the stop-loss of trade %d was %s on the exchange: the trade has no stop-loss now "
                              "(set one again, e.g. trade.sl = ...)", remote.cid, trade.id, status)  # fmt: skip
        elif status == "closed" and filled <= remote.filled + 1e-9:
            # closed with less than asked (rounding on the exchange's side): the rest will not fill
            self._drop(order, S.CANCELLED, f"closed on the exchange with {order.filled_qty:g} of {order.qty:g} filled")

    def _trades_of(self, order: Order) -> list[dict[str, Any]]:
        remote = self._remote[order.id]
        ex = self.exchange
        params = {"orderId": remote.exchange_id} if remote.exchange_id is not None else {}
        rows: list[dict[str, Any]] = self.bridge.call(
            f"trades of {remote.cid}", lambda: ex.fetch_my_trades(order.symbol, None, None, params)
        )
        return [t for t in rows if str(t.get("order")) == str(remote.exchange_id)]

    def _book(self, order: Order, trade: dict[str, Any]) -> None:
        remote = self._remote[order.id]
        amount = float(trade["amount"])
        price = float(trade["price"])
        fee = self._fee_in_quote(order.symbol, trade.get("fee"), price)
        fee_info = trade.get("fee") or {}
        in_base = fee_info.get("currency") == self.exchange.market(order.symbol).get("base") and fee_info.get("cost")
        qty = amount
        if in_base and int(order.side) > 0:
            # the exchange kept part of what was bought as its fee: the position grows by what arrived, the order
            # is done when its net quantity has arrived, and the fee (valued in quote) is what the rest cost
            kept = float(fee_info["cost"])
            qty = amount - kept
            if order.qty is not None:
                order.qty = max(order.qty - kept, order.filled_qty + qty)
        if order.qty is not None:
            qty = min(qty, order.remaining)
        tid = str(trade.get("id"))
        remote.filled += amount
        remote.trades.add(tid)
        if qty <= 0:
            return
        raw: dict[str, Any] = {"gross": amount, "fee_currency": fee_info.get("currency")}
        if self._in_cancel:
            raw["asked"] = True  # learned from a cancel's answer: a replay books it when it asks again
        self.journal.fill_raw.setdefault(order.id, []).append(raw)
        liquidity = Liquidity.MAKER if trade.get("takerOrMaker") == "maker" else Liquidity.TAKER
        self.journal.fill_ids.setdefault(order.id, []).append(tid)
        log.info("%s %s: %s %g of %g at %g, fee %g (trade %s)", remote.cid, order.symbol, order.side.name.lower(), qty,
                 order.qty or 0.0, price, fee, tid)  # fmt: skip
        reason = order.role if order.role in ("stop_loss", "take_profit", "kill_switch", "exit") else order.type.value
        self.engine.order_filled(order, qty, price, fee, liquidity, reason)
        if not order.is_open:
            self._forget(order)

    def _fee_in_quote(self, symbol: str, fee: Any, price: float) -> float:
        if not fee or fee.get("cost") is None:
            return 0.0
        cost = float(fee["cost"])
        market = self.exchange.market(symbol)
        currency = fee.get("currency")
        if currency in (None, market.get("quote")):
            return cost
        if currency == market.get("base"):
            return cost * price
        rate = self._rate(str(currency), str(market.get("quote")))
        if rate is not None:
            return cost * rate
        if currency not in self._warned_fee:
            self._warned_fee.add(currency)
            log.warning("%s charged a fee in %s, which tradeforge cannot value in %s (no %s/%s price): it is left "
                        "out of the P&L", self.exchange.id, currency, market.get("quote"), currency,
                        market.get("quote"))  # fmt: skip
        return 0.0

    def _rate(self, currency: str, quote: str) -> float | None:
        """What one unit of a fee currency (BNB) is worth in quote: the last price of its market on the exchange."""
        import ccxt

        pair = f"{currency}/{quote}"
        if pair not in (self.exchange.markets or {}):
            return None
        step = self.engine.step if hasattr(self, "engine") else -1
        cached = self._rates.get(pair)
        if cached is not None and cached[0] == step:
            return cached[1]  # asked once per bar
        rate = None
        try:
            ticker = self.bridge.call(f"price of {pair}", partial(self.exchange.fetch_ticker, pair))
            last = ticker.get("last") or ticker.get("close")
            rate = float(last) if last else None
        except (ExchangeUnavailable, ccxt.ExchangeError) as exc:
            log.warning("cannot price a fee in %s (%s): left out of the P&L", currency, exc)
        self._rates[pair] = (step, rate)
        return rate

    # ------------------------------------------------------------------------------------------------ replay
    def _play(self, order: Order, hold_asked: bool = False) -> None:
        """Apply the stored answers and fills of order booked at or before the engine's current step. With
        hold_asked (the step's bars), a cancel the bot asked for within this step waits for the replay to ask."""
        script = self.scripts[order.id]
        now = self.engine.now
        changes = script.changes
        while script.pos < len(changes) and order.is_open:
            change = changes[script.pos]
            if change.ts > now or (hold_asked and change.ts == now and asked_for(change)):
                return
            script.pos += 1
            if change.status is S.SUBMITTED:
                continue
            if change.status in _FILL_STATUSES:
                if script.fills_used >= len(script.fills):
                    return  # the fill row is stored after its status row: not there, so not stored
                fill = script.fills[script.fills_used]
                if hold_asked and change.ts == now and isinstance(fill.raw, dict) and fill.raw.get("asked"):
                    script.pos -= 1  # learned from a cancel asked later in this step: booked when it is asked
                    return
                script.fills_used += 1
                self.journal.fill_ids.setdefault(order.id, []).append(fill.fill_id)
                self.journal.fill_raw.setdefault(order.id, []).append(fill.raw if isinstance(fill.raw, dict) else {})
                self.engine.order_filled(order, fill.qty, fill.price, fill.fee, fill.liquidity, fill.reason)
            else:
                self.engine.order_status(order, change.status, change.reason)
        if not order.is_open:
            self._forget(order)

    # ---------------------------------------------------------------------------------------------- helpers
    def _drop(self, order: Order, status: OrderStatus, reason: str) -> None:
        if order.is_open:
            self.engine.order_status(order, status, reason)
        self._forget(order)

    def _forget(self, order: Order) -> None:
        if order in self.working:
            self.working.remove(order)


def _native_kind(order: Order) -> bool:
    """A stop the exchange can hold (spot): a trade's stop-loss (a sell), or a stop (-limit) buy of a fixed size."""
    if order.qty is None or order.stop is None:
        return False  # a fraction order is sized when it triggers
    if order.role == "stop_loss":
        return order.type is OrderType.STOP and int(order.side) < 0
    return order.role == "entry" and order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and int(order.side) > 0


def _is_native(order: Order, info: dict[str, Any]) -> bool:
    """The exchange's order is a native stop (it has a trigger price)."""
    return _native_kind(order) and bool(info.get("triggerPrice") or info.get("stopPrice") or info.get("stopLossPrice"))
