"""RunRecorder: what the engine does in a live or paper run, persisted through the repositories.

Write-ahead: an order is stored (NEW, committed) by ``before_send``, which the gateway calls before it takes the
order; every later status change and fill is stored after the step that caused it (``on_step``), in the order it
happened, with fill ids ``<client order id>-<n>`` so storing a fill twice is a no-op. Trades are saved as they open,
grow, shrink and close, linked to their entry and exit orders, with their realized P&L after fees. Equity and
position snapshots and the run's heartbeat follow each live step; the run's end is recorded by ``on_stop``.

Client order ids are ``make_client_order_id(run.key, order.id)``: the engine numbers its orders, a run key is never
reused, so no id repeats.

Resuming (``PriorState``): a paper deployment that restarts replays its bars from its origin through a new engine.
Each replayed order is matched, by its engine id, with the order an earlier run stored: it must be the same order
(else ResumeError: the strategy, its parameters or the bars changed) and only what the earlier run had not stored
yet is written (a fill that happened while it was down, an answer lost in a crash). At the step an earlier run
recorded last, the replayed cash and positions must equal the stored ones.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tradeforge.core.clock import iso
from tradeforge.core.engine import Engine
from tradeforge.core.errors import DataError
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.ports import Clock
from tradeforge.core.trades import Trade
from tradeforge.core.types import OrderStatus
from tradeforge.persistence import (
    EquitySnapshot,
    FillRecord,
    OrderRecord,
    PositionSnapshot,
    PredictionRecord,
    RunRecord,
    RunStatus,
    SignalKind,
    SignalRecord,
    SignalStatus,
    TradeRecord,
    UnitOfWork,
    UnitOfWorkFactory,
    make_client_order_id,
)

log = logging.getLogger("tradeforge.live.recorder")
S = OrderStatus
_FILL_STATUSES = (S.PARTIALLY_FILLED, S.FILLED)
_REASON_STATUSES = (S.REJECTED, S.CANCELLED, S.EXPIRED)
RUN_STATUS = {"completed": RunStatus.COMPLETED, "stopped": RunStatus.STOPPED, "failed": RunStatus.FAILED}
_TOL = 1e-9
EXTERNAL_ROLE = "external"  # an order found on the exchange that no run placed (adopted by reconciliation)


class ResumeError(DataError):
    """A resumed run does not reproduce what earlier runs of its deployment stored."""


@dataclass
class PriorState:
    """What earlier runs of a deployment stored, to check a replay against and to continue from."""

    orders: dict[int, OrderRecord] = field(default_factory=dict)  # by engine order id
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)  # open orders: cid -> (changes, fills) stored
    trades: dict[int, TradeRecord] = field(default_factory=dict)  # by engine trade id
    last_ts: int | None = None  # the last step an earlier run recorded (its last equity snapshot)
    cash: float | None = None  # the account's cash then
    positions: dict[tuple[str, str], float] = field(default_factory=dict)  # (strategy, symbol) -> qty then
    signals: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # engine id -> (signal, prediction)

    @classmethod
    def load(cls, uow: UnitOfWork, deployment_id: int, runs: Sequence[RunRecord]) -> PriorState:
        """The state the given runs (of this deployment, oldest first) left in the database."""
        state = cls()
        run_ids = {r.id for r in runs}
        for rec in uow.orders.list(deployment_id=deployment_id):
            if rec.run_id not in run_ids or rec.role == EXTERNAL_ROLE:
                continue
            if rec.local_id is None:
                raise ResumeError(
                    f"order {rec.client_order_id} of deployment {deployment_id} has no engine id: it was not written "
                    "by a paper run and cannot be replayed; start a new deployment"
                )
            if rec.local_id in state.orders:
                raise ResumeError(
                    f"orders {state.orders[rec.local_id].client_order_id} and {rec.client_order_id} of deployment "
                    f"{deployment_id} have the same engine id {rec.local_id}: the deployment's runs did not continue "
                    "one another; start a new deployment"
                )
            state.orders[rec.local_id] = rec
            if rec.is_open:
                changes = len(uow.orders.history(rec.client_order_id)) - 1  # the NEW row is not an engine change
                state.progress[rec.client_order_id] = (changes, len(uow.orders.fills(rec.client_order_id)))
        for sig in uow.signals.list(deployment_id=deployment_id):
            local = sig.data.get("local_id") if isinstance(sig.data, dict) else None
            if sig.run_id in run_ids and isinstance(local, int) and sig.id is not None:
                predictions = uow.predictions.for_signal(sig.id)
                state.signals[local] = (sig.id, predictions[0].id if predictions else None)
        for trade in uow.trades.list(deployment_id=deployment_id):
            if trade.run_id in run_ids and trade.local_id is not None:
                state.trades[trade.local_id] = trade
        for run in reversed(runs):  # the latest run that recorded a step
            assert run.id is not None
            curve = uow.snapshots.equity(run.id)
            if not curve:
                continue
            last = curve[-1]
            state.last_ts, state.cash = last.ts, last.cash
            for snap in uow.snapshots.positions(run.id, at_ts=last.ts):
                state.positions[(snap.strategy, snap.symbol)] = snap.qty
            break
        return state


@dataclass
class _Tracked:
    """An engine order and how much of its life is stored."""

    cid: str
    stored_id: int
    synced: int = 0  # engine status changes stored
    fills: int = 0  # engine fills stored
    final: OrderRecord | None = None  # stored as finished by an earlier run: only checked, never written again
    exchange_id: str | None = None  # the exchange's id, once stored
    qty: float | None = None  # the quantity stored


class RunRecorder:
    """Persists a run's orders, fills, trades, snapshots and end (see the module doc). A RunListener for the
    LiveRunner and the write-ahead journal of the paper gateway."""

    def __init__(
        self,
        uows: UnitOfWorkFactory,
        run: RunRecord,
        engine: Engine,
        *,
        clock: Clock,
        prior: PriorState | None = None,
        deployment_id: int | None = None,
    ) -> None:
        if run.id is None:
            raise DataError("the run must be stored (uow.runs.add) before it is recorded")
        self.uows = uows
        self.run = run
        self.run_id: int = run.id
        self.engine = engine
        self.clock = clock
        self.deployment_id = deployment_id
        self.prior = prior or PriorState()
        self.quiet_until = self.prior.last_ts  # earlier runs recorded snapshots up to here
        self.orders_stored = 0  # new orders this run wrote (write-ahead or rejected before sending)
        self._tracked: dict[int, _Tracked] = {}
        self._active: dict[int, Order] = {}  # engine orders whose life is not fully stored yet
        self._fills: dict[int, list[Fill]] = {}
        self._orders_seen = 0
        self._fills_seen = 0
        self._closed_seen: dict[str, int] = {}
        self._trades: dict[int, TradeRecord] = dict(self.prior.trades)
        self._positions: dict[tuple[str, str], tuple[float, float, float]] = {}
        self._snapshot_ts: int | None = None
        self._checked_prior = self.prior.last_ts is None
        for local_id, rec in self.prior.orders.items():
            assert rec.id is not None
            tracked = _Tracked(rec.client_order_id, rec.id, qty=rec.qty)
            if rec.is_open:
                tracked.synced, tracked.fills = self.prior.progress.get(rec.client_order_id, (0, 0))
            else:
                tracked.final = rec
            self._tracked[local_id] = tracked
        self._unmatched = set(self.prior.orders)
        self._mismatch: ResumeError | None = None
        self._skipped: set[int] = set()  # engine orders not to store (refused before live trading)
        # what a venue gateway learnt from the exchange, stored with the order's changes and fills
        self.exchange_ids: dict[int, str] = {}
        self.fill_ids: dict[int, list[str]] = {}
        self.fill_raw: dict[int, list[dict[str, Any]]] = {}  # what else the venue said of each fill (gross qty...)
        self.order_raw: dict[int, dict[str, Any]] = {}  # what the gateway notes on an order's NEW row (native...)
        self._signal_ids: dict[int, tuple[int, int | None]] = dict(self.prior.signals)
        self._signals_seen = 0

    # ------------------------------------------------------------------------------------------ venue hooks
    def client_order_id(self, order_id: int) -> str:
        """The client order id of an engine order stored (before_send) or matched with an earlier run's."""
        tracked = self._tracked.get(order_id)
        if tracked is None:
            raise DataError(f"engine order {order_id} was not stored before sending (before_send)")
        return tracked.cid

    def skip(self, order_id: int) -> None:
        """Do not store this engine order (refused before live trading began: warm-up, catch-up)."""
        self._skipped.add(order_id)

    # -------------------------------------------------------------------------------------------- write-ahead
    def before_send(self, order: Order) -> None:
        """Store the order (NEW) and commit, before the gateway takes it. An order an earlier run stored is checked
        against the stored one instead."""
        if order.id in self._tracked:
            # a mismatch is raised by on_step, after the step: raised here, inside the strategy's call, it would
            # reach the caller as the strategy's error
            self._match(order, defer=True)
            return
        with self.uows() as uow:
            self._add(uow, order)
            uow.commit()

    def _add(self, uow: UnitOfWork, order: Order) -> _Tracked:
        cid = make_client_order_id(self.run.key, order.id)
        parent = self._tracked.get(order.parent_id) if order.parent_id is not None else None
        signal_id = None
        if order.signal_id is not None:
            self._sync_signals(uow)
            signal_id = self._signal_ids[order.signal_id][0]
        record = OrderRecord.from_order(
            order, client_order_id=cid, run_id=self.run_id, parent_id=None if parent is None else parent.stored_id,
            signal_id=signal_id,
        )  # fmt: skip
        stored = uow.orders.add(record, raw=self.order_raw.pop(order.id, None))
        assert stored.id is not None
        tracked = _Tracked(cid, stored.id, qty=order.qty)
        self._tracked[order.id] = tracked
        self._active[order.id] = order
        self.orders_stored += 1
        return tracked

    def _match(self, order: Order, *, defer: bool = False) -> None:
        """A replayed order an earlier run stored: it must be the same order."""
        if order.id not in self._unmatched:
            return
        rec = self.prior.orders[order.id]
        diffs = _differences(order, rec)
        if diffs:
            error = ResumeError(
                f"the replay does not reproduce order {rec.client_order_id} (engine id {order.id}): "
                f"{'; '.join(diffs)}. The strategy's code or parameters, the account settings or the stored bars "
                "changed since it was placed: start a new deployment (another name) to trade with the new ones"
            )
            if not defer:
                raise error
            self._mismatch = self._mismatch or error
            return
        self._unmatched.discard(order.id)
        self._active[order.id] = order

    # --------------------------------------------------------------------------------------------- listener
    def on_step(self, ts: int, live: bool) -> None:
        if self._mismatch is not None:
            raise self._mismatch
        self._ingest()
        if not self._checked_prior and self.prior.last_ts is not None and ts >= self.prior.last_ts:
            self._check_prior(ts)
        snapshot = ts != self._snapshot_ts and (self.quiet_until is None or ts > self.quiet_until)
        with self.uows() as uow:
            changed = self._sync_signals(uow)
            changed = self._sync_orders(uow) or changed
            changed = self._sync_trades(uow) or changed
            if snapshot and (live or changed):
                self._snapshot(uow, ts, force_positions=False)
            if live:
                uow.runs.heartbeat(self.run_id, self.clock.now())
            uow.commit()

    def _ingest(self) -> None:
        """Take in the engine's new orders and fills (since the last call)."""
        engine = self.engine
        for order in engine.orders[self._orders_seen :]:
            if order.id in self._skipped:
                continue
            if order.id in self._tracked:
                self._match(order)
                self._active[order.id] = order
            else:
                self._active[order.id] = order  # refused before sending: stored below with its rejection
        self._orders_seen = len(engine.orders)
        for fill in engine.fills[self._fills_seen :]:
            self._fills.setdefault(fill.order_id, []).append(fill)
        self._fills_seen = len(engine.fills)

    def on_live(self, last_warmup_ts: int | None) -> None:
        if not self._checked_prior and self.prior.last_ts is not None:
            raise ResumeError(
                f"earlier runs traded up to {iso(self.prior.last_ts)}, but the replay ended at "
                f"{iso(last_warmup_ts) if last_warmup_ts is not None else 'no bar at all'}: bars are missing from the "
                "bar store and the exchange's history; restore the store (or use the one the deployment ran with)"
            )
        if self._unmatched:
            missing = sorted(self._unmatched)
            sample = ", ".join(self.prior.orders[i].client_order_id for i in missing[:5])
            raise ResumeError(
                f"the replay did not place {len(missing)} order(s) earlier runs stored ({sample}): the strategy, its "
                "parameters or the bars changed; start a new deployment (another name) to trade with the new ones"
            )
        for local_id, tracked in self._tracked.items():
            final = tracked.final
            order = self._active.get(local_id)
            if final is not None and order is not None and order.status is not final.status:
                raise ResumeError(
                    f"order {final.client_order_id} was stored {final.status.value}, the replay made it "
                    f"{order.status.value}: the bars or the account settings changed; start a new deployment"
                )
        self._ingest()
        with self.uows() as uow:
            self._sync_signals(uow)
            self._sync_orders(uow)
            self._sync_trades(uow)
            due = last_warmup_ts is not None and last_warmup_ts != self._snapshot_ts
            if due and last_warmup_ts is not None and (self.quiet_until is None or last_warmup_ts > self.quiet_until):
                self._snapshot(uow, last_warmup_ts, force_positions=True)
            uow.runs.heartbeat(self.run_id, self.clock.now())
            uow.commit()
        log.info(
            "run %s: warm-up done at %s; %d earlier order(s) matched",
            self.run.key,
            iso(last_warmup_ts) if last_warmup_ts is not None else "no bar",
            len(self.prior.orders),
        )

    def on_kill(self, reason: str) -> None:
        self._ingest()
        with self.uows() as uow:
            self._sync_signals(uow)
            self._sync_orders(uow)
            self._sync_trades(uow)
            if self.deployment_id is not None:
                dep = uow.deployments.get(self.deployment_id)
                if dep.enabled:
                    uow.deployments.update(dataclasses.replace(dep, enabled=False, updated_ts=self.clock.now()))
            uow.commit()

    def on_heartbeat(self, now: int) -> None:
        with self.uows() as uow:
            uow.runs.heartbeat(self.run_id, now)
            uow.commit()

    def on_stop(self, status: str, reason: str, now: int) -> None:
        if status != "failed":
            self._ingest()
        with self.uows() as uow:
            if status != "failed":
                self._sync_signals(uow)
                self._sync_orders(uow)
                self._sync_trades(uow)
            uow.runs.finish(self.run_id, RUN_STATUS.get(status, RunStatus.FAILED), now, reason)
            uow.commit()

    # ------------------------------------------------------------------------------------------------ orders
    def _sync_orders(self, uow: UnitOfWork) -> bool:
        """Store every status change and fill of the active orders, in the order they happened."""
        changed = False
        for local_id, order in list(self._active.items()):
            tracked = self._tracked.get(local_id)
            if tracked is None:
                tracked = self._add(uow, order)
                changed = True
            if tracked.final is not None:
                if not order.is_open:
                    if order.status is not tracked.final.status:
                        raise ResumeError(
                            f"order {tracked.cid} was stored {tracked.final.status.value}, the replay made it "
                            f"{order.status.value}: the bars or the account settings changed; start a new deployment"
                        )
                    del self._active[local_id]
                continue
            changes = order.history
            fills = self._fills.get(local_id, [])
            if order.qty is not None and tracked.qty != order.qty:  # an attached exit grew with its entry's fills
                stored = changes[tracked.synced - 1][1] if tracked.synced else OrderStatus.NEW
                uow.orders.update_status(tracked.cid, stored, ts=order.updated_ts, qty=order.qty)
                tracked.qty = order.qty
            for k in range(tracked.synced, len(changes)):
                ts, status = changes[k]
                exchange_id = self.exchange_ids.get(local_id)
                if status in _FILL_STATUSES:
                    fill = fills[tracked.fills]
                    venue_ids = self.fill_ids.get(local_id, ())
                    n = tracked.fills
                    fill_id = venue_ids[n] if n < len(venue_ids) else f"{tracked.cid}-{n + 1}"
                    raws = self.fill_raw.get(local_id, ())
                    raw = raws[n] if n < len(raws) else None
                    uow.orders.record_fill(
                        FillRecord.from_fill(fill, client_order_id=tracked.cid, fill_id=fill_id, raw=raw)
                    )
                    tracked.fills += 1
                    if exchange_id is not None and tracked.exchange_id != exchange_id:
                        uow.orders.update_status(tracked.cid, status, ts=ts, exchange_order_id=exchange_id)
                else:
                    reason = order.reject_reason if status in _REASON_STATUSES else ""
                    uow.orders.update_status(tracked.cid, status, ts=ts, reason=reason, exchange_order_id=exchange_id)
                tracked.exchange_id = exchange_id
                tracked.synced = k + 1
                changed = True
            if not order.is_open and tracked.synced >= len(changes):
                del self._active[local_id]
                self._fills.pop(local_id, None)
        return changed

    # ----------------------------------------------------------------------------------------------- signals
    def _sync_signals(self, uow: UnitOfWork) -> bool:
        """Store the engine's new signals and the predictions that decided them (once: replayed ones are known)."""
        signals = self.engine.signals
        fresh = signals[self._signals_seen :]
        self._signals_seen = len(signals)
        stored = False
        for sig in fresh:
            if sig.id in self._signal_ids:
                continue
            status = (
                SignalStatus.PENDING
                if sig.accepted is None
                else (SignalStatus.ACCEPTED if sig.accepted else SignalStatus.REJECTED)
            )
            record = uow.signals.add(
                SignalRecord(
                    self.run_id, sig.strategy, sig.symbol, sig.side, sig.ts, sig.ts, sig.valid_until,
                    SignalKind(sig.kind), sig.price, sig.strength, status, sig.reason,
                    {**sig.data, "local_id": sig.id}, None if sig.accepted is None else sig.ts,
                )
            )  # fmt: skip
            assert record.id is not None
            prediction_id = None
            if sig.has_prediction:
                assert sig.value is not None
                pred = uow.predictions.add(
                    PredictionRecord(
                        self.run_id, sig.model, sig.ts, float(sig.value), signal_id=record.id,
                        threshold=sig.threshold, accepted=sig.accepted, label=sig.label,
                    )
                )  # fmt: skip
                prediction_id = pred.id
            self._signal_ids[sig.id] = (record.id, prediction_id)
            stored = True
        return stored

    # ------------------------------------------------------------------------------------------------ trades
    def _sync_trades(self, uow: UnitOfWork) -> bool:
        changed = False
        for name, book in self.engine.portfolio.books.items():
            seen = self._closed_seen.get(name, 0)
            fresh = book.closed_trades[seen:]
            self._closed_seen[name] = len(book.closed_trades)
            for trade in [*fresh, *book.open_trades]:
                changed = self._save_trade(uow, trade) or changed
        return changed

    def _save_trade(self, uow: UnitOfWork, trade: Trade) -> bool:
        entry = self._tracked[trade.entry_order_id].stored_id
        exit_id = None if trade.is_open else self._tracked[trade.exit_order_id].stored_id
        signal_id = prediction_id = None
        orders = self.engine.orders
        k = trade.entry_order_id - 1
        entry_order = orders[k] if 0 <= k < len(orders) and orders[k].id == trade.entry_order_id else None
        if entry_order is not None and entry_order.signal_id is not None:
            signal_id, prediction_id = self._signal_ids.get(entry_order.signal_id, (None, None))
        record = TradeRecord.from_trade(
            trade, run_id=self.run_id, entry_order_id=entry, exit_order_id=exit_id, signal_id=signal_id,
            prediction_id=prediction_id,
        )  # fmt: skip
        prev = self._trades.get(trade.id)
        if prev is not None:
            record = dataclasses.replace(record, run_id=prev.run_id, id=prev.id, deployment_id=prev.deployment_id)
            if record == prev:
                return False
            if not self._checked_prior and trade.id in self.prior.trades:
                if record.is_open:
                    return False  # an earlier run stored where this trade got to: the replay has not caught up yet
                if prev.is_open:
                    raise ResumeError(
                        f"trade {prev.id} ({prev.strategy} {prev.symbol}, engine id {trade.id}) was still open when "
                        f"earlier runs stopped; the replay closes it before that ({_describe_trade(record)}): the bars "
                        "or the account settings changed; start a new deployment"
                    )
            if not prev.is_open:
                raise ResumeError(
                    f"trade {prev.id} ({prev.strategy} {prev.symbol}, engine id {trade.id}) was stored closed as "
                    f"{_describe_trade(prev)}; the replay makes it {_describe_trade(record)}: the bars or the "
                    "account settings changed; start a new deployment"
                )
        self._trades[trade.id] = uow.trades.save(record)
        return True

    # --------------------------------------------------------------------------------------------- snapshots
    def _snapshot(self, uow: UnitOfWork, ts: int, *, force_positions: bool) -> None:
        engine = self.engine
        pf = engine.portfolio
        prices = engine.prices()
        mult = {s: i.multiplier for s, i in pf.instruments.items()}
        rows = []
        total_unrealized = 0.0
        for name, book in pf.books.items():
            unrealized = sum(
                (prices[t.symbol] - t.entry_price) * t.size * t.multiplier
                for t in book.open_trades
                if t.symbol in prices
            )
            total_unrealized += unrealized
            exposure = sum(abs(p.qty) * prices.get(s, 0.0) * mult[s] for s, p in book.positions.items() if p.qty)
            rows.append(
                EquitySnapshot(
                    self.run_id,
                    ts,
                    pf.book_equity(name, prices),
                    book.cash,
                    name,
                    book.realized_pnl,
                    unrealized,
                    book.fees,
                    exposure,
                )
            )
        realized = sum(b.realized_pnl for b in pf.books.values())
        equity, exposure = pf.equity(prices), pf.gross_exposure(prices)
        account = EquitySnapshot(self.run_id, ts, equity, pf.cash, "", realized, total_unrealized, pf.fees, exposure)
        uow.snapshots.add_equity([account, *rows] if len(pf.books) > 1 else [account])
        positions = []
        for book in pf.books.values():
            for symbol, pos in book.positions.items():
                key = (pos.strategy, symbol)
                state = (pos.qty, pos.realized_pnl, pos.fees)
                if not force_positions and self._positions.get(key) == state:
                    continue
                self._positions[key] = state
                positions.append(
                    PositionSnapshot.from_position(
                        pos, run_id=self.run_id, ts=ts, mark_price=prices.get(symbol), multiplier=mult[symbol]
                    )
                )
        if positions:
            uow.snapshots.add_positions(positions)
        self._snapshot_ts = ts

    def _check_prior(self, ts: int) -> None:
        """At the step an earlier run recorded last, the replayed account must be the stored one."""
        prior = self.prior
        self._checked_prior = True
        assert prior.last_ts is not None
        if ts != prior.last_ts:
            raise ResumeError(
                f"earlier runs recorded a step at {iso(prior.last_ts)}, which the replay did not run (it went on to "
                f"{iso(ts)}): the bar store lacks bars the deployment traded on; restore it"
            )
        pf = self.engine.portfolio
        if prior.cash is not None and not math.isclose(pf.cash, prior.cash, rel_tol=_TOL, abs_tol=_TOL):
            raise ResumeError(
                f"at {iso(ts)} earlier runs had {prior.cash!r} in cash, the replay has {pf.cash!r}: the bars or the "
                "account settings changed; start a new deployment"
            )
        for (strategy, symbol), qty in prior.positions.items():
            book = pf.books.get(strategy)
            now_qty = book.position(symbol).qty if book is not None else 0.0
            if not math.isclose(now_qty, qty, rel_tol=_TOL, abs_tol=_TOL):
                raise ResumeError(
                    f"at {iso(ts)} earlier runs held {qty:g} {symbol} in {strategy}, the replay holds {now_qty:g}: the "
                    "bars or the account settings changed; start a new deployment"
                )
        log.info("run %s: the replay reproduces the stored account at %s (cash %.2f)", self.run.key, iso(ts), pf.cash)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=_TOL, abs_tol=1e-12)


def _differences(order: Order, rec: OrderRecord) -> list[str]:
    out = []
    for name in ("strategy", "symbol", "side", "type", "created_ts", "role", "reduce_only", "tif"):
        mine, stored = getattr(order, name), getattr(rec, name)
        if mine != stored:
            out.append(f"{name} {stored!r} then, {mine!r} now")
    for name in ("qty", "fraction", "limit", "stop"):
        mine, stored = getattr(order, name), getattr(rec, name)
        if name == "qty" and mine is None and rec.fraction is not None:
            continue  # a fraction order not sized yet; the stored one was sized when it filled
        if not _same(mine, stored):
            out.append(f"{name} {stored!r} then, {mine!r} now")
    return out


def _describe_trade(t: TradeRecord) -> str:
    return (
        f"{t.size:g} @ {t.entry_price:g} -> {t.exit_price if t.exit_price is not None else 'open'} "
        f"(P&L {t.realized_pnl if t.realized_pnl is not None else 'open'})"
    )
