"""In-memory store: the same contract as the SQL store (the shared contract tests prove it), for unit tests and
for backtests that want the repository API without a database.

A MemoryUnitOfWork works on a copy of the store's tables and swaps it in on commit(), so a unit of work that is
left without commit (or by an exception) changes nothing, exactly like a database transaction. Records are frozen,
so copying the tables is cheap (dicts of references). Not thread-safe: one writer at a time.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.types import OrderStatus
from tradeforge.persistence import rules
from tradeforge.persistence.errors import DuplicateClientOrderId, DuplicateRecord, RecordNotFound
from tradeforge.persistence.records import (
    DeploymentRecord,
    EquitySnapshot,
    FillRecord,
    OrderRecord,
    PositionSnapshot,
    PredictionRecord,
    RunMode,
    RunRecord,
    RunStatus,
    SignalKind,
    SignalRecord,
    SignalStatus,
    StatusChange,
    TradeRecord,
    new_run_key,
)

R = TypeVar("R")


@dataclass
class _Tables:
    deployments: dict[int, DeploymentRecord] = field(default_factory=dict)
    runs: dict[int, RunRecord] = field(default_factory=dict)
    signals: dict[int, SignalRecord] = field(default_factory=dict)
    predictions: dict[int, PredictionRecord] = field(default_factory=dict)
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    order_ids: dict[str, int] = field(default_factory=dict)  # client order id -> id
    history: dict[int, list[StatusChange]] = field(default_factory=dict)
    fills: dict[int, list[FillRecord]] = field(default_factory=dict)
    fill_seq: int = 0
    trades: dict[int, TradeRecord] = field(default_factory=dict)
    positions: list[PositionSnapshot] = field(default_factory=list)
    equity: list[EquitySnapshot] = field(default_factory=list)
    snapshot_seq: int = 0

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.deployments),
            dict(self.runs),
            dict(self.signals),
            dict(self.predictions),
            dict(self.orders),
            dict(self.order_ids),
            {k: list(v) for k, v in self.history.items()},
            {k: list(v) for k, v in self.fills.items()},
            self.fill_seq,
            dict(self.trades),
            list(self.positions),
            list(self.equity),
            self.snapshot_seq,
        )


class MemoryStore:
    """The committed state, shared by the units of work made from it."""

    def __init__(self) -> None:
        self.tables = _Tables()

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    __call__ = uow  # a MemoryStore is a UnitOfWorkFactory


def _get(table: dict[int, R], key: int | None, what: str) -> R:
    if key is None or key not in table:
        raise RecordNotFound(f"no {what} with id {key}")
    return table[key]


def _next_id(table: dict[int, Any]) -> int:
    return max(table, default=0) + 1


class MemoryDeployments:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def add(self, deployment: DeploymentRecord) -> DeploymentRecord:
        if self.by_name(deployment.name) is not None:
            raise DuplicateRecord(f"a deployment is already named {deployment.name!r}: choose another name")
        stored = dataclasses.replace(deployment, id=_next_id(self._t.deployments))
        self._t.deployments[stored.id] = stored  # type: ignore[index]
        return stored

    def get(self, deployment_id: int) -> DeploymentRecord:
        return _get(self._t.deployments, deployment_id, "deployment")

    def by_name(self, name: str) -> DeploymentRecord | None:
        return next((d for d in self._t.deployments.values() if d.name == name), None)

    def list(self, *, enabled: bool | None = None) -> builtins.list[DeploymentRecord]:
        found = [d for d in self._t.deployments.values() if enabled is None or d.enabled == enabled]
        return sorted(found, key=lambda d: d.name)

    def update(self, deployment: DeploymentRecord) -> DeploymentRecord:
        self.get(deployment.id)  # type: ignore[arg-type]
        other = self.by_name(deployment.name)
        if other is not None and other.id != deployment.id:
            raise DuplicateRecord(f"a deployment is already named {deployment.name!r}: choose another name")
        self._t.deployments[deployment.id] = deployment  # type: ignore[index]
        return deployment


class MemoryRuns:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def add(self, run: RunRecord) -> RunRecord:
        if run.deployment_id is not None:
            _get(self._t.deployments, run.deployment_id, "deployment")
        key = run.key or new_run_key()
        if self.by_key(key) is not None:
            raise DuplicateRecord(f"a run already has key {key!r}: leave the key empty to get a fresh one")
        stored = dataclasses.replace(run, key=key, id=_next_id(self._t.runs))
        self._t.runs[stored.id] = stored  # type: ignore[index]
        return stored

    def get(self, run_id: int) -> RunRecord:
        return _get(self._t.runs, run_id, "run")

    def by_key(self, key: str) -> RunRecord | None:
        return next((r for r in self._t.runs.values() if r.key == key), None)

    def heartbeat(self, run_id: int, ts: int) -> None:
        run = self.get(run_id)
        if run.status is not RunStatus.RUNNING:
            raise IllegalTransition(f"run {run.key} ended ({run.status.value}): it cannot report a heartbeat")
        self._t.runs[run_id] = dataclasses.replace(run, heartbeat_ts=ts)

    def finish(self, run_id: int, status: RunStatus, ts: int, reason: str = "") -> RunRecord:
        new = rules.finish_run(self.get(run_id), status, ts, reason)
        self._t.runs[run_id] = new
        return new

    def list(
        self,
        *,
        deployment_id: int | None = None,
        mode: RunMode | None = None,
        status: RunStatus | None = None,
    ) -> builtins.list[RunRecord]:
        return [
            r
            for r in sorted(self._t.runs.values(), key=lambda r: (r.started_ts, r.id or 0))
            if (deployment_id is None or r.deployment_id == deployment_id)
            and (mode is None or r.mode is mode)
            and (status is None or r.status is status)
        ]


class MemorySignals:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def add(self, signal: SignalRecord) -> SignalRecord:
        run = _get(self._t.runs, signal.run_id, "run")
        stored = dataclasses.replace(signal, id=_next_id(self._t.signals), deployment_id=run.deployment_id)
        self._t.signals[stored.id] = stored  # type: ignore[index]
        return stored

    def get(self, signal_id: int) -> SignalRecord:
        return _get(self._t.signals, signal_id, "signal")

    def decide(self, signal_id: int, status: SignalStatus, *, ts: int, reason: str = "") -> SignalRecord:
        signal = self.get(signal_id)
        new = rules.decide_signal(signal, status, ts, reason)
        if new is None:
            return signal
        self._t.signals[signal_id] = new
        return new

    def active(
        self,
        *,
        strategy: str,
        symbol: str,
        ts: int,
        deployment_id: int | None = None,
        run_id: int | None = None,
        kind: SignalKind | None = None,
    ) -> builtins.list[SignalRecord]:
        found = [
            s
            for s in self._t.signals.values()
            if s.strategy == strategy
            and s.symbol == symbol
            and s.is_active(ts)
            and (deployment_id is None or s.deployment_id == deployment_id)
            and (run_id is None or s.run_id == run_id)
            and (kind is None or s.kind is kind)
        ]
        return sorted(found, key=lambda s: (s.valid_from, s.id or 0))

    def list(
        self, *, run_id: int | None = None, deployment_id: int | None = None, since_ts: int | None = None
    ) -> builtins.list[SignalRecord]:
        found = [
            s
            for s in self._t.signals.values()
            if (run_id is None or s.run_id == run_id)
            and (deployment_id is None or s.deployment_id == deployment_id)
            and (since_ts is None or s.ts >= since_ts)
        ]
        return sorted(found, key=lambda s: (s.ts, s.id or 0))


class MemoryPredictions:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def add(self, prediction: PredictionRecord) -> PredictionRecord:
        _get(self._t.runs, prediction.run_id, "run")
        if prediction.signal_id is not None:
            _get(self._t.signals, prediction.signal_id, "signal")
        stored = dataclasses.replace(prediction, id=_next_id(self._t.predictions))
        self._t.predictions[stored.id] = stored  # type: ignore[index]
        return stored

    def get(self, prediction_id: int) -> PredictionRecord:
        return _get(self._t.predictions, prediction_id, "prediction")

    def for_signal(self, signal_id: int) -> builtins.list[PredictionRecord]:
        found = [p for p in self._t.predictions.values() if p.signal_id == signal_id]
        return sorted(found, key=lambda p: (p.ts, p.id or 0))


class MemoryOrders:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def add(self, order: OrderRecord, *, raw: Any = None) -> OrderRecord:
        rules.check_new_order(order)
        run = _get(self._t.runs, order.run_id, "run")
        if order.client_order_id in self._t.order_ids:
            raise DuplicateClientOrderId(rules.duplicate_client_id_message(order.client_order_id))
        if order.signal_id is not None:
            _get(self._t.signals, order.signal_id, "signal")
        if order.parent_id is not None:
            _get(self._t.orders, order.parent_id, "order")
        account = self._t.deployments[run.deployment_id].account if run.deployment_id is not None else ""
        if order.exchange_order_id is not None:
            self._check_exchange_id(account, order.exchange_order_id, None)
        oid = _next_id(self._t.orders)
        stored = dataclasses.replace(
            order, id=oid, deployment_id=run.deployment_id, account=account, updated_ts=order.created_ts, version=1
        )
        self._t.orders[oid] = stored
        self._t.order_ids[order.client_order_id] = oid
        self._t.history[oid] = [rules.initial_change(oid, order, raw)]
        self._t.fills[oid] = []
        return stored

    def _check_exchange_id(self, account: str, exchange_order_id: str, own: int | None) -> None:
        other = self.by_exchange_id(exchange_order_id, account=account)
        if other is not None and other.id != own:
            raise DataError(rules.exchange_id_taken_message(exchange_order_id, account, other.client_order_id))

    def find(self, client_order_id: str) -> OrderRecord | None:
        oid = self._t.order_ids.get(client_order_id)
        return None if oid is None else self._t.orders[oid]

    def get(self, client_order_id: str) -> OrderRecord:
        order = self.find(client_order_id)
        if order is None:
            raise RecordNotFound(f"no order has client order id {client_order_id!r}")
        return order

    def get_by_id(self, order_id: int) -> OrderRecord:
        return _get(self._t.orders, order_id, "order")

    def by_exchange_id(self, exchange_order_id: str, *, account: str | None = None) -> OrderRecord | None:
        return next(
            (
                o
                for o in self._t.orders.values()
                if o.exchange_order_id == exchange_order_id and (account is None or o.account == account)
            ),
            None,
        )

    def _store(self, old: OrderRecord, new: OrderRecord, change: StatusChange | None) -> OrderRecord:
        assert old.id is not None
        if new.exchange_order_id != old.exchange_order_id and new.exchange_order_id is not None:
            self._check_exchange_id(new.account, new.exchange_order_id, old.id)
        new = dataclasses.replace(new, version=old.version + 1)
        self._t.orders[old.id] = new
        if change is not None:
            self._t.history[old.id].append(change)
        return new

    def update_status(
        self,
        client_order_id: str,
        status: OrderStatus,
        *,
        ts: int,
        reason: str = "",
        raw: Any = None,
        exchange_order_id: str | None = None,
        qty: float | None = None,
    ) -> OrderRecord:
        order = self.get(client_order_id)
        assert order.id is not None
        seq = len(self._t.history[order.id])
        new, change = rules.status_update(
            order, status, ts=ts, seq=seq, reason=reason, raw=raw, exchange_order_id=exchange_order_id, qty=qty
        )
        if new == order:
            return order
        return self._store(order, new, change)

    def record_fill(self, fill: FillRecord) -> bool:
        order = self.get(fill.client_order_id)
        assert order.id is not None
        fills = self._t.fills[order.id]
        existing = next((f for f in fills if f.fill_id == fill.fill_id), None)
        result = rules.fill_update(order, fill, existing, seq=len(self._t.history[order.id]))
        if result is None:
            return False
        new, change = result
        self._t.fill_seq += 1
        fills.append(dataclasses.replace(fill, id=self._t.fill_seq, order_id=order.id))
        self._store(order, new, change)
        return True

    def fills(self, client_order_id: str) -> builtins.list[FillRecord]:
        order = self.get(client_order_id)
        return sorted(self._t.fills[order.id], key=lambda f: (f.ts, f.id or 0))  # type: ignore[index]

    def history(self, client_order_id: str) -> builtins.list[StatusChange]:
        order = self.get(client_order_id)
        return list(self._t.history[order.id])  # type: ignore[index]

    def open_orders(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        account: str | None = None,
        symbol: str | None = None,
    ) -> builtins.list[OrderRecord]:
        return [
            o
            for o in sorted(self._t.orders.values(), key=lambda o: o.id or 0)
            if o.is_open
            and (run_id is None or o.run_id == run_id)
            and (deployment_id is None or o.deployment_id == deployment_id)
            and (account is None or o.account == account)
            and (symbol is None or o.symbol == symbol)
        ]

    def list(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        status: OrderStatus | None = None,
        since_ts: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[OrderRecord]:
        found = [
            o
            for o in sorted(self._t.orders.values(), key=lambda o: o.id or 0)
            if (run_id is None or o.run_id == run_id)
            and (deployment_id is None or o.deployment_id == deployment_id)
            and (status is None or o.status is status)
            and (since_ts is None or o.created_ts >= since_ts)
        ]
        return found if limit is None else found[max(0, len(found) - limit) :]

    def list_fills(
        self, *, run_id: int | None = None, deployment_id: int | None = None, since_ts: int | None = None
    ) -> builtins.list[FillRecord]:
        found = [
            f
            for o in self._t.orders.values()
            if (run_id is None or o.run_id == run_id) and (deployment_id is None or o.deployment_id == deployment_id)
            for f in self._t.fills[o.id]  # type: ignore[index]
            if since_ts is None or f.ts >= since_ts
        ]
        return sorted(found, key=lambda f: (f.ts, f.id or 0))


class MemoryTrades:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def _check_links(self, trade: TradeRecord) -> RunRecord:
        run = _get(self._t.runs, trade.run_id, "run")
        _get(self._t.orders, trade.entry_order_id, "order")
        if trade.exit_order_id is not None:
            _get(self._t.orders, trade.exit_order_id, "order")
        if trade.signal_id is not None:
            _get(self._t.signals, trade.signal_id, "signal")
        if trade.prediction_id is not None:
            _get(self._t.predictions, trade.prediction_id, "prediction")
        return run

    def add(self, trade: TradeRecord) -> TradeRecord:
        run = self._check_links(trade)
        if trade.local_id is not None and self.by_local_id(trade.run_id, trade.local_id) is not None:
            raise DuplicateRecord(f"run {trade.run_id} already has a trade with local id {trade.local_id}")
        stored = dataclasses.replace(trade, id=_next_id(self._t.trades), deployment_id=run.deployment_id)
        self._t.trades[stored.id] = stored  # type: ignore[index]
        return stored

    def _existing(self, trade: TradeRecord) -> TradeRecord | None:
        if trade.id is not None:
            return self.get(trade.id)
        if trade.local_id is not None:
            return self.by_local_id(trade.run_id, trade.local_id)
        return None

    def save(self, trade: TradeRecord) -> TradeRecord:
        old = self._existing(trade)
        if old is None:
            return self.add(trade)
        if not rules.check_trade_change(old, trade):
            return old
        self._check_links(trade)
        new = dataclasses.replace(trade, id=old.id, deployment_id=old.deployment_id)
        self._t.trades[old.id] = new  # type: ignore[index]
        return new

    def get(self, trade_id: int) -> TradeRecord:
        return _get(self._t.trades, trade_id, "trade")

    def by_local_id(self, run_id: int, local_id: int) -> TradeRecord | None:
        return next((t for t in self._t.trades.values() if t.run_id == run_id and t.local_id == local_id), None)

    def close(
        self,
        trade_id: int,
        *,
        exit_price: float,
        exit_ts: int,
        exit_order_id: int | None = None,
        exit_fee: float = 0.0,
        exit_reason: str = "",
    ) -> TradeRecord:
        old = self.get(trade_id)
        closed = dataclasses.replace(
            old,
            exit_price=exit_price,
            exit_ts=exit_ts,
            exit_order_id=exit_order_id,
            exit_fee=exit_fee,
            exit_reason=exit_reason,
        )
        return self.save(closed)

    def open_trades(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> builtins.list[TradeRecord]:
        return [
            t
            for t in self.list(run_id=run_id, deployment_id=deployment_id, strategy=strategy, closed=False)
            if symbol is None or t.symbol == symbol
        ]

    def list(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        strategy: str | None = None,
        closed: bool | None = None,
    ) -> builtins.list[TradeRecord]:
        found = [
            t
            for t in self._t.trades.values()
            if (run_id is None or t.run_id == run_id)
            and (deployment_id is None or t.deployment_id == deployment_id)
            and (strategy is None or t.strategy == strategy)
            and (closed is None or t.is_open != closed)
        ]
        return sorted(found, key=lambda t: (t.entry_ts, t.id or 0))


class MemorySnapshots:
    def __init__(self, t: _Tables) -> None:
        self._t = t

    def add_positions(self, snapshots: Sequence[PositionSnapshot]) -> None:
        keys = {(s.run_id, s.ts, s.strategy, s.symbol) for s in self._t.positions}
        for snap in snapshots:
            _get(self._t.runs, snap.run_id, "run")
            key = (snap.run_id, snap.ts, snap.strategy, snap.symbol)
            if key in keys:
                raise DuplicateRecord(f"a position snapshot of {snap.strategy}/{snap.symbol} at {snap.ts} exists")
            keys.add(key)
            self._t.snapshot_seq += 1
            self._t.positions.append(dataclasses.replace(snap, id=self._t.snapshot_seq))

    def add_equity(self, snapshots: Sequence[EquitySnapshot]) -> None:
        keys = {(s.run_id, s.ts, s.strategy) for s in self._t.equity}
        for snap in snapshots:
            _get(self._t.runs, snap.run_id, "run")
            key = (snap.run_id, snap.ts, snap.strategy)
            if key in keys:
                raise DuplicateRecord(f"an equity snapshot of {snap.strategy or 'the account'} at {snap.ts} exists")
            keys.add(key)
            self._t.snapshot_seq += 1
            self._t.equity.append(dataclasses.replace(snap, id=self._t.snapshot_seq))

    def positions(self, run_id: int, *, at_ts: int | None = None) -> list[PositionSnapshot]:
        latest: dict[tuple[str, str], PositionSnapshot] = {}
        for snap in sorted(self._t.positions, key=lambda s: s.ts):
            if snap.run_id == run_id and (at_ts is None or snap.ts <= at_ts):
                latest[(snap.strategy, snap.symbol)] = snap
        return [latest[k] for k in sorted(latest)]

    def equity(
        self, run_id: int, *, strategy: str = "", since_ts: int | None = None, until_ts: int | None = None
    ) -> list[EquitySnapshot]:
        found = [
            s
            for s in self._t.equity
            if s.run_id == run_id
            and s.strategy == strategy
            and (since_ts is None or s.ts >= since_ts)
            and (until_ts is None or s.ts <= until_ts)
        ]
        return sorted(found, key=lambda s: s.ts)


class MemoryUnitOfWork:
    """A transaction over a MemoryStore: work on a copy, swap it in on commit()."""

    deployments: MemoryDeployments
    runs: MemoryRuns
    signals: MemorySignals
    predictions: MemoryPredictions
    orders: MemoryOrders
    trades: MemoryTrades
    snapshots: MemorySnapshots

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._work: _Tables | None = None

    def _begin(self) -> None:
        work = self._work = self._store.tables.copy()
        self.deployments = MemoryDeployments(work)
        self.runs = MemoryRuns(work)
        self.signals = MemorySignals(work)
        self.predictions = MemoryPredictions(work)
        self.orders = MemoryOrders(work)
        self.trades = MemoryTrades(work)
        self.snapshots = MemorySnapshots(work)

    def __enter__(self) -> MemoryUnitOfWork:
        if self._work is not None:
            raise DataError("this unit of work is already in use: make one per `with` block")
        self._begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._work = None  # uncommitted work is dropped

    def commit(self) -> None:
        if self._work is None:
            raise DataError("commit() outside a `with uow:` block")
        self._store.tables = self._work
        self._begin()  # carry on from the committed state

    def rollback(self) -> None:
        if self._work is None:
            raise DataError("rollback() outside a `with uow:` block")
        self._begin()
