"""SQL repositories over one SQLAlchemy Connection (the unit of work's transaction). SQLAlchemy Core only: rows are
translated to the frozen records of records.py here and nowhere else.

Read-modify-write of an order locks its row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
serialises writers) and checks the row's version on write, so two processes cannot both apply an answer.
Inserts that may hit a unique constraint run in a SAVEPOINT, so the clear error we raise leaves the outer
transaction usable (PostgreSQL aborts a transaction on any error otherwise).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.types import OrderStatus
from tradeforge.persistence import rules
from tradeforge.persistence import tables as T
from tradeforge.persistence.errors import ConcurrentUpdate, DuplicateClientOrderId, DuplicateRecord, RecordNotFound
from tradeforge.persistence.records import (
    SIDE_NAMES,
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
from tradeforge.persistence.rows import (
    FILL_COLUMNS,
    change_from_row,
    change_values,
    deployment_from_row,
    deployment_values,
    equity_from_row,
    fill_from_row,
    order_from_row,
    order_values,
    position_from_row,
    prediction_from_row,
    run_from_row,
    signal_from_row,
    trade_from_row,
    trade_values,
)

_TERMINAL = [s.value for s in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)]


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def _require(self, table: Table, key: int | None, what: str) -> Row[Any]:
        row = self._c.execute(select(table).where(table.c.id == key)).first() if key is not None else None
        if row is None:
            raise RecordNotFound(f"no {what} with id {key}")
        return row

    @contextmanager
    def _savepoint(self, duplicate: str) -> Iterator[None]:
        """Run an insert in a savepoint; a unique-constraint violation becomes DuplicateRecord(duplicate)."""
        try:
            with self._c.begin_nested():
                yield
        except IntegrityError as exc:
            raise DuplicateRecord(f"{duplicate} ({exc.orig})") from exc

    def _insert(self, table: Table, values: Mapping[str, Any]) -> int:
        result = self._c.execute(insert(table).values(**values))
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])


# ----------------------------------------------------------------------------------------------- deployments
class SqlDeployments(_Repo):
    def add(self, deployment: DeploymentRecord) -> DeploymentRecord:
        message = f"a deployment is already named {deployment.name!r}: choose another name"
        if self.by_name(deployment.name) is not None:
            raise DuplicateRecord(message)
        with self._savepoint(message):
            new_id = self._insert(T.deployments, deployment_values(deployment))
        return dataclasses.replace(deployment, id=new_id)

    def get(self, deployment_id: int) -> DeploymentRecord:
        return deployment_from_row(self._require(T.deployments, deployment_id, "deployment"))

    def by_name(self, name: str) -> DeploymentRecord | None:
        row = self._c.execute(select(T.deployments).where(T.deployments.c.name == name)).first()
        return None if row is None else deployment_from_row(row)

    def list(self, *, enabled: bool | None = None) -> builtins.list[DeploymentRecord]:
        query = select(T.deployments).order_by(T.deployments.c.name)
        if enabled is not None:
            query = query.where(T.deployments.c.enabled == enabled)
        return [deployment_from_row(r) for r in self._c.execute(query)]

    def update(self, deployment: DeploymentRecord) -> DeploymentRecord:
        self.get(deployment.id)  # type: ignore[arg-type]
        other = self.by_name(deployment.name)
        message = f"a deployment is already named {deployment.name!r}: choose another name"
        if other is not None and other.id != deployment.id:
            raise DuplicateRecord(message)
        with self._savepoint(message):
            self._c.execute(
                update(T.deployments).where(T.deployments.c.id == deployment.id).values(**deployment_values(deployment))
            )
        return deployment


# ------------------------------------------------------------------------------------------------------ runs
class SqlRuns(_Repo):
    def add(self, run: RunRecord) -> RunRecord:
        if run.deployment_id is not None:
            self._require(T.deployments, run.deployment_id, "deployment")
        key = run.key or new_run_key()
        message = f"a run already has key {key!r}: leave the key empty to get a fresh one"
        if self.by_key(key) is not None:
            raise DuplicateRecord(message)
        values = {
            "key": key,
            "deployment_id": run.deployment_id,
            "mode": run.mode.value,
            "status": run.status.value,
            "started_ts": run.started_ts,
            "stopped_ts": run.stopped_ts,
            "heartbeat_ts": run.heartbeat_ts,
            "stop_reason": run.stop_reason,
            "info": run.info,
        }
        with self._savepoint(message):
            new_id = self._insert(T.runs, values)
        return dataclasses.replace(run, key=key, id=new_id)

    def get(self, run_id: int) -> RunRecord:
        return run_from_row(self._require(T.runs, run_id, "run"))

    def by_key(self, key: str) -> RunRecord | None:
        row = self._c.execute(select(T.runs).where(T.runs.c.key == key)).first()
        return None if row is None else run_from_row(row)

    def heartbeat(self, run_id: int, ts: int) -> None:
        run = self.get(run_id)
        if run.status is not RunStatus.RUNNING:
            raise IllegalTransition(f"run {run.key} ended ({run.status.value}): it cannot report a heartbeat")
        self._c.execute(update(T.runs).where(T.runs.c.id == run_id).values(heartbeat_ts=ts))

    def finish(self, run_id: int, status: RunStatus, ts: int, reason: str = "") -> RunRecord:
        run = self.get(run_id)
        new = rules.finish_run(run, status, ts, reason)
        if new != run:
            self._c.execute(
                update(T.runs)
                .where(T.runs.c.id == run_id)
                .values(status=new.status.value, stopped_ts=new.stopped_ts, stop_reason=new.stop_reason)
            )
        return new

    def list(
        self,
        *,
        deployment_id: int | None = None,
        mode: RunMode | None = None,
        status: RunStatus | None = None,
    ) -> builtins.list[RunRecord]:
        query = select(T.runs).order_by(T.runs.c.started_ts, T.runs.c.id)
        if deployment_id is not None:
            query = query.where(T.runs.c.deployment_id == deployment_id)
        if mode is not None:
            query = query.where(T.runs.c.mode == mode.value)
        if status is not None:
            query = query.where(T.runs.c.status == status.value)
        return [run_from_row(r) for r in self._c.execute(query)]


# --------------------------------------------------------------------------------------- signals, predictions
class SqlSignals(_Repo):
    def add(self, signal: SignalRecord) -> SignalRecord:
        run = run_from_row(self._require(T.runs, signal.run_id, "run"))
        values = {
            "run_id": signal.run_id,
            "deployment_id": run.deployment_id,
            "strategy": signal.strategy,
            "symbol": signal.symbol,
            "side": SIDE_NAMES[signal.side],
            "kind": signal.kind.value,
            "ts": signal.ts,
            "valid_from": signal.valid_from,
            "valid_until": signal.valid_until,
            "price": signal.price,
            "strength": signal.strength,
            "status": signal.status.value,
            "reason": signal.reason,
            "data": signal.data,
            "decided_ts": signal.decided_ts,
        }
        return dataclasses.replace(signal, id=self._insert(T.signals, values), deployment_id=run.deployment_id)

    def get(self, signal_id: int) -> SignalRecord:
        return signal_from_row(self._require(T.signals, signal_id, "signal"))

    def decide(self, signal_id: int, status: SignalStatus, *, ts: int, reason: str = "") -> SignalRecord:
        signal = self.get(signal_id)
        new = rules.decide_signal(signal, status, ts, reason)
        if new is None:
            return signal
        self._c.execute(
            update(T.signals)
            .where(T.signals.c.id == signal_id)
            .values(status=new.status.value, reason=new.reason, decided_ts=new.decided_ts)
        )
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
        c = T.signals.c
        query = (
            select(T.signals)
            .where(c.strategy == strategy, c.symbol == symbol, c.valid_from <= ts, c.valid_until > ts)
            .order_by(c.valid_from, c.id)
        )
        if deployment_id is not None:
            query = query.where(c.deployment_id == deployment_id)
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        if kind is not None:
            query = query.where(c.kind == kind.value)
        return [signal_from_row(r) for r in self._c.execute(query)]

    def list(
        self, *, run_id: int | None = None, deployment_id: int | None = None, since_ts: int | None = None
    ) -> builtins.list[SignalRecord]:
        c = T.signals.c
        query = select(T.signals).order_by(c.ts, c.id)
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        if deployment_id is not None:
            query = query.where(c.deployment_id == deployment_id)
        if since_ts is not None:
            query = query.where(c.ts >= since_ts)
        return [signal_from_row(r) for r in self._c.execute(query)]


class SqlPredictions(_Repo):
    def add(self, prediction: PredictionRecord) -> PredictionRecord:
        self._require(T.runs, prediction.run_id, "run")
        if prediction.signal_id is not None:
            self._require(T.signals, prediction.signal_id, "signal")
        values = {
            "run_id": prediction.run_id,
            "signal_id": prediction.signal_id,
            "model": prediction.model,
            "model_version": prediction.model_version,
            "ts": prediction.ts,
            "value": prediction.value,
            "threshold": prediction.threshold,
            "accepted": prediction.accepted,
            "label": prediction.label,
            "details": prediction.details,
        }
        return dataclasses.replace(prediction, id=self._insert(T.predictions, values))

    def get(self, prediction_id: int) -> PredictionRecord:
        return prediction_from_row(self._require(T.predictions, prediction_id, "prediction"))

    def for_signal(self, signal_id: int) -> builtins.list[PredictionRecord]:
        c = T.predictions.c
        query = select(T.predictions).where(c.signal_id == signal_id).order_by(c.ts, c.id)
        return [prediction_from_row(r) for r in self._c.execute(query)]


# ---------------------------------------------------------------------------------------------------- orders
class SqlOrders(_Repo):
    def add(self, order: OrderRecord, *, raw: Any = None) -> OrderRecord:
        rules.check_new_order(order)
        run = run_from_row(self._require(T.runs, order.run_id, "run"))
        if self.find(order.client_order_id) is not None:
            raise DuplicateClientOrderId(rules.duplicate_client_id_message(order.client_order_id))
        if order.signal_id is not None:
            self._require(T.signals, order.signal_id, "signal")
        if order.parent_id is not None:
            self._require(T.orders, order.parent_id, "order")
        account = ""
        if run.deployment_id is not None:
            account = self._c.execute(
                select(T.deployments.c.account).where(T.deployments.c.id == run.deployment_id)
            ).scalar_one()
        if order.exchange_order_id is not None:
            self._check_exchange_id(account, order.exchange_order_id, None)
        stored = dataclasses.replace(
            order, deployment_id=run.deployment_id, account=account, updated_ts=order.created_ts, version=1
        )
        try:
            with self._c.begin_nested():
                oid = self._insert(T.orders, order_values(stored))
        except IntegrityError as exc:  # another process stored the same id between our check and our insert
            if self.find(order.client_order_id) is not None:
                raise DuplicateClientOrderId(rules.duplicate_client_id_message(order.client_order_id)) from exc
            raise
        self._c.execute(insert(T.order_events).values(**change_values(rules.initial_change(oid, order, raw))))
        return dataclasses.replace(stored, id=oid)

    def _check_exchange_id(self, account: str, exchange_order_id: str, own: int | None) -> None:
        other = self.by_exchange_id(exchange_order_id, account=account)
        if other is not None and other.id != own:
            raise DataError(rules.exchange_id_taken_message(exchange_order_id, account, other.client_order_id))

    def _load(self, client_order_id: str, *, lock: bool = False) -> OrderRecord:
        query = select(T.orders).where(T.orders.c.client_order_id == client_order_id)
        if lock:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        if row is None:
            raise RecordNotFound(f"no order has client order id {client_order_id!r}")
        return order_from_row(row)

    def find(self, client_order_id: str) -> OrderRecord | None:
        row = self._c.execute(select(T.orders).where(T.orders.c.client_order_id == client_order_id)).first()
        return None if row is None else order_from_row(row)

    def get(self, client_order_id: str) -> OrderRecord:
        return self._load(client_order_id)

    def get_by_id(self, order_id: int) -> OrderRecord:
        return order_from_row(self._require(T.orders, order_id, "order"))

    def by_exchange_id(self, exchange_order_id: str, *, account: str | None = None) -> OrderRecord | None:
        query = select(T.orders).where(T.orders.c.exchange_order_id == exchange_order_id).order_by(T.orders.c.id)
        if account is not None:
            query = query.where(T.orders.c.account == account)
        row = self._c.execute(query).first()
        return None if row is None else order_from_row(row)

    def _next_seq(self, order_id: int) -> int:
        last = self._c.execute(
            select(func.max(T.order_events.c.seq)).where(T.order_events.c.order_id == order_id)
        ).scalar()
        return 0 if last is None else int(last) + 1

    def _store(self, old: OrderRecord, new: OrderRecord, change: StatusChange | None) -> OrderRecord:
        if new.exchange_order_id != old.exchange_order_id and new.exchange_order_id is not None:
            self._check_exchange_id(new.account, new.exchange_order_id, old.id)
        new = dataclasses.replace(new, version=old.version + 1)
        values = order_values(new)
        result = self._c.execute(
            update(T.orders).where(T.orders.c.id == old.id, T.orders.c.version == old.version).values(**values)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(
                f"order {old.client_order_id} was changed by someone else meanwhile: reload it and apply the answer "
                "again"
            )
        if change is not None:
            self._c.execute(insert(T.order_events).values(**change_values(change)))
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
        order = self._load(client_order_id, lock=True)
        assert order.id is not None
        new, change = rules.status_update(
            order,
            status,
            ts=ts,
            seq=self._next_seq(order.id),
            reason=reason,
            raw=raw,
            exchange_order_id=exchange_order_id,
            qty=qty,
        )
        if new == order:
            return order
        return self._store(order, new, change)

    def record_fill(self, fill: FillRecord) -> bool:
        order = self._load(fill.client_order_id, lock=True)
        assert order.id is not None
        row = self._c.execute(
            select(*FILL_COLUMNS)
            .join(T.orders, T.orders.c.id == T.fills.c.order_id)
            .where(T.fills.c.order_id == order.id, T.fills.c.fill_id == fill.fill_id)
        ).first()
        existing = None if row is None else fill_from_row(row)
        result = rules.fill_update(order, fill, existing, seq=self._next_seq(order.id))
        if result is None:
            return False
        new, change = result
        values = {
            "order_id": order.id,
            "fill_id": fill.fill_id,
            "ts": fill.ts,
            "qty": fill.qty,
            "price": fill.price,
            "fee": fill.fee,
            "fee_currency": fill.fee_currency,
            "liquidity": fill.liquidity.value,
            "reason": fill.reason,
            "raw": fill.raw,
        }
        try:
            with self._c.begin_nested():
                self._c.execute(insert(T.fills).values(**values))
        except IntegrityError as exc:
            raise ConcurrentUpdate(
                f"fill {fill.fill_id!r} of order {order.client_order_id} was stored by someone else meanwhile"
            ) from exc
        self._store(order, new, change)
        return True

    def fills(self, client_order_id: str) -> builtins.list[FillRecord]:
        order = self._load(client_order_id)
        query = (
            select(*FILL_COLUMNS)
            .join(T.orders, T.orders.c.id == T.fills.c.order_id)
            .where(T.fills.c.order_id == order.id)
            .order_by(T.fills.c.ts, T.fills.c.id)
        )
        return [fill_from_row(r) for r in self._c.execute(query)]

    def history(self, client_order_id: str) -> builtins.list[StatusChange]:
        order = self._load(client_order_id)
        c = T.order_events.c
        query = select(T.order_events).where(c.order_id == order.id).order_by(c.seq)
        return [change_from_row(r) for r in self._c.execute(query)]

    def open_orders(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        account: str | None = None,
        symbol: str | None = None,
    ) -> builtins.list[OrderRecord]:
        c = T.orders.c
        query = select(T.orders).where(c.status.not_in(_TERMINAL)).order_by(c.id)
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        if deployment_id is not None:
            query = query.where(c.deployment_id == deployment_id)
        if account is not None:
            query = query.where(c.account == account)
        if symbol is not None:
            query = query.where(c.symbol == symbol)
        return [order_from_row(r) for r in self._c.execute(query)]

    def list(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        status: OrderStatus | None = None,
        since_ts: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[OrderRecord]:
        c = T.orders.c
        query = select(T.orders).order_by(c.id.desc())
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        if deployment_id is not None:
            query = query.where(c.deployment_id == deployment_id)
        if status is not None:
            query = query.where(c.status == status.value)
        if since_ts is not None:
            query = query.where(c.created_ts >= since_ts)
        if limit is not None:
            query = query.limit(limit)
        return [order_from_row(r) for r in reversed(self._c.execute(query).all())]

    def list_fills(
        self, *, run_id: int | None = None, deployment_id: int | None = None, since_ts: int | None = None
    ) -> builtins.list[FillRecord]:
        query = (
            select(*FILL_COLUMNS)
            .join(T.orders, T.orders.c.id == T.fills.c.order_id)
            .order_by(T.fills.c.ts, T.fills.c.id)
        )
        if run_id is not None:
            query = query.where(T.orders.c.run_id == run_id)
        if deployment_id is not None:
            query = query.where(T.orders.c.deployment_id == deployment_id)
        if since_ts is not None:
            query = query.where(T.fills.c.ts >= since_ts)
        return [fill_from_row(r) for r in self._c.execute(query)]


# ---------------------------------------------------------------------------------------------------- trades
class SqlTrades(_Repo):
    def _check_links(self, trade: TradeRecord) -> RunRecord:
        run = run_from_row(self._require(T.runs, trade.run_id, "run"))
        self._require(T.orders, trade.entry_order_id, "order")
        if trade.exit_order_id is not None:
            self._require(T.orders, trade.exit_order_id, "order")
        if trade.signal_id is not None:
            self._require(T.signals, trade.signal_id, "signal")
        if trade.prediction_id is not None:
            self._require(T.predictions, trade.prediction_id, "prediction")
        return run

    def add(self, trade: TradeRecord) -> TradeRecord:
        run = self._check_links(trade)
        message = f"run {trade.run_id} already has a trade with local id {trade.local_id}"
        if trade.local_id is not None and self.by_local_id(trade.run_id, trade.local_id) is not None:
            raise DuplicateRecord(message)
        stored = dataclasses.replace(trade, deployment_id=run.deployment_id)
        with self._savepoint(message):
            new_id = self._insert(T.trades, trade_values(stored))
        return dataclasses.replace(stored, id=new_id)

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
        self._c.execute(update(T.trades).where(T.trades.c.id == old.id).values(**trade_values(new)))
        return new

    def get(self, trade_id: int) -> TradeRecord:
        return trade_from_row(self._require(T.trades, trade_id, "trade"))

    def by_local_id(self, run_id: int, local_id: int) -> TradeRecord | None:
        row = self._c.execute(
            select(T.trades).where(T.trades.c.run_id == run_id, T.trades.c.local_id == local_id)
        ).first()
        return None if row is None else trade_from_row(row)

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
        c = T.trades.c
        query = select(T.trades).order_by(c.entry_ts, c.id)
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        if deployment_id is not None:
            query = query.where(c.deployment_id == deployment_id)
        if strategy is not None:
            query = query.where(c.strategy == strategy)
        if closed is not None:
            query = query.where(c.status == ("closed" if closed else "open"))
        return [trade_from_row(r) for r in self._c.execute(query)]


# ------------------------------------------------------------------------------------------------- snapshots
class SqlSnapshots(_Repo):
    def _runs_exist(self, run_ids: set[int]) -> None:
        for run_id in run_ids:
            self._require(T.runs, run_id, "run")

    def add_positions(self, snapshots: Sequence[PositionSnapshot]) -> None:
        if not snapshots:
            return
        self._runs_exist({s.run_id for s in snapshots})
        rows = [{k: v for k, v in dataclasses.asdict(s).items() if k != "id"} for s in snapshots]
        with self._savepoint("a position snapshot with the same run, time, strategy and symbol is stored already"):
            self._c.execute(insert(T.position_snapshots), rows)

    def add_equity(self, snapshots: Sequence[EquitySnapshot]) -> None:
        if not snapshots:
            return
        self._runs_exist({s.run_id for s in snapshots})
        rows = [{k: v for k, v in dataclasses.asdict(s).items() if k != "id"} for s in snapshots]
        with self._savepoint("an equity snapshot with the same run, time and strategy is stored already"):
            self._c.execute(insert(T.equity_snapshots), rows)

    def positions(self, run_id: int, *, at_ts: int | None = None) -> list[PositionSnapshot]:
        p = T.position_snapshots
        latest = select(p.c.strategy, p.c.symbol, func.max(p.c.ts).label("ts")).where(p.c.run_id == run_id)
        if at_ts is not None:
            latest = latest.where(p.c.ts <= at_ts)
        sub = latest.group_by(p.c.strategy, p.c.symbol).subquery()
        query = (
            select(p)
            .join(sub, and_(p.c.strategy == sub.c.strategy, p.c.symbol == sub.c.symbol, p.c.ts == sub.c.ts))
            .where(p.c.run_id == run_id)
            .order_by(p.c.strategy, p.c.symbol)
        )
        return [position_from_row(r) for r in self._c.execute(query)]

    def equity(
        self, run_id: int, *, strategy: str = "", since_ts: int | None = None, until_ts: int | None = None
    ) -> list[EquitySnapshot]:
        e = T.equity_snapshots.c
        query = select(T.equity_snapshots).where(e.run_id == run_id, e.strategy == strategy).order_by(e.ts)
        if since_ts is not None:
            query = query.where(e.ts >= since_ts)
        if until_ts is not None:
            query = query.where(e.ts <= until_ts)
        return [equity_from_row(r) for r in self._c.execute(query)]
