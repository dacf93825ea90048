"""Repository and unit-of-work protocols: what the live runner, the gateways, reconciliation and the service layer
may ask of a store. memory.py and sqlalchemy_repo.py implement them; both pass the same contract tests.

Use a unit of work for every change, cosmicpython-style. The write-ahead life of an order:

    with uow_factory() as uow:
        uow.orders.add(OrderRecord.from_order(order, client_order_id=cid, run_id=run.id))
        uow.commit()          # NEW: durable before it is sent
    answer = exchange.create_order(..., params={"clientOrderId": cid})
    with uow_factory() as uow:
        uow.orders.update_status(cid, OrderStatus.SUBMITTED, ts=now)
        uow.orders.update_status(cid, OrderStatus.ACCEPTED, ts=now, raw=answer, exchange_order_id=answer["id"])
        uow.commit()
    ... then record_fill() for every execution, update_status() for every later answer (cancelled, expired...).

After a crash, a NEW order may or may not have reached the exchange (look it up by client order id); a SUBMITTED
one reached it (or is in flight); open_orders() lists both for reconciliation.

Leaving the ``with`` block without commit() (or by an exception) rolls everything back: nothing half-written.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from tradeforge.core.types import OrderStatus
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
)


class DeploymentRepository(Protocol):
    def add(self, deployment: DeploymentRecord) -> DeploymentRecord:
        """Store a new deployment (its name must be unused: DuplicateRecord) and return it with its id."""
        ...

    def get(self, deployment_id: int) -> DeploymentRecord:
        """RecordNotFound when there is none."""
        ...

    def by_name(self, name: str) -> DeploymentRecord | None: ...

    def list(self, *, enabled: bool | None = None) -> builtins.list[DeploymentRecord]:
        """All deployments (or only enabled / disabled ones), by name."""
        ...

    def update(self, deployment: DeploymentRecord) -> DeploymentRecord:
        """Replace the stored deployment with the same id (parameters, symbols, enabled...)."""
        ...


class RunRepository(Protocol):
    def add(self, run: RunRecord) -> RunRecord:
        """Start a run (status RUNNING). An empty key is replaced by a fresh random one; a used key is refused."""
        ...

    def get(self, run_id: int) -> RunRecord: ...

    def by_key(self, key: str) -> RunRecord | None: ...

    def heartbeat(self, run_id: int, ts: int) -> None:
        """Record that the run is alive at ts (a run still RUNNING with an old heartbeat has crashed)."""
        ...

    def finish(self, run_id: int, status: RunStatus, ts: int, reason: str = "") -> RunRecord:
        """End a running run as stopped, completed, failed or crashed. Repeating the same end is a no-op."""
        ...

    def list(
        self,
        *,
        deployment_id: int | None = None,
        mode: RunMode | None = None,
        status: RunStatus | None = None,
    ) -> builtins.list[RunRecord]:
        """Runs matching every given filter, oldest first."""
        ...


class SignalRepository(Protocol):
    def add(self, signal: SignalRecord) -> SignalRecord: ...

    def get(self, signal_id: int) -> SignalRecord: ...

    def decide(self, signal_id: int, status: SignalStatus, *, ts: int, reason: str = "") -> SignalRecord:
        """PENDING -> ACCEPTED, REJECTED or EXPIRED, once (else IllegalTransition; the same decision is a no-op)."""
        ...

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
        """Signals whose window [valid_from, valid_until) contains ts, whatever their decision (a rejected signal
        still blocks new ones until it ends). Scope by deployment (across restarts) or by run."""
        ...

    def list(
        self, *, run_id: int | None = None, deployment_id: int | None = None, since_ts: int | None = None
    ) -> builtins.list[SignalRecord]: ...


class PredictionRepository(Protocol):
    def add(self, prediction: PredictionRecord) -> PredictionRecord: ...

    def get(self, prediction_id: int) -> PredictionRecord: ...

    def for_signal(self, signal_id: int) -> builtins.list[PredictionRecord]: ...


class OrderRepository(Protocol):
    """The order aggregate: the order, its status history and its fills."""

    def add(self, order: OrderRecord, *, raw: Any = None) -> OrderRecord:
        """Write-ahead: store a NEW order before it is sent. Its client order id must never have been used
        (DuplicateClientOrderId). The history gets its first row (NEW). Returns the stored record."""
        ...

    def get(self, client_order_id: str) -> OrderRecord:
        """RecordNotFound when unknown."""
        ...

    def find(self, client_order_id: str) -> OrderRecord | None: ...

    def get_by_id(self, order_id: int) -> OrderRecord: ...

    def by_exchange_id(self, exchange_order_id: str, *, account: str | None = None) -> OrderRecord | None:
        """The order the exchange knows by this id (in the given account, if one is given)."""
        ...

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
        """Record an answer: the status (legal per core's state machine, else IllegalTransition; the current status
        again is a no-op), the raw exchange answer in the history, the exchange id when first learnt, and a new
        quantity when given (an attached exit grows with its entry's fills)."""
        ...

    def record_fill(self, fill: FillRecord) -> bool:
        """Book a fill of the order named by fill.client_order_id: filled quantity, average price, fees and the
        implied status (PARTIALLY_FILLED or FILLED). Idempotent: a fill id already stored returns False and changes
        nothing (DataError if it comes back with another quantity or price)."""
        ...

    def fills(self, client_order_id: str) -> builtins.list[FillRecord]:
        """The order's fills, in time order."""
        ...

    def history(self, client_order_id: str) -> builtins.list[StatusChange]:
        """Every status the order went through, oldest first, with timestamps and raw answers."""
        ...

    def open_orders(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        account: str | None = None,
        symbol: str | None = None,
    ) -> builtins.list[OrderRecord]:
        """Orders not yet FILLED, CANCELLED, REJECTED or EXPIRED (NEW ones included: maybe sent, maybe not), oldest
        first."""
        ...

    def list(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        status: OrderStatus | None = None,
        since_ts: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[OrderRecord]:
        """Orders matching the filters, oldest first (the last `limit` of them when a limit is given)."""
        ...

    def list_fills(
        self, *, run_id: int | None = None, deployment_id: int | None = None, since_ts: int | None = None
    ) -> builtins.list[FillRecord]:
        """Fills of the matching orders, in time order."""
        ...


class TradeRepository(Protocol):
    def add(self, trade: TradeRecord) -> TradeRecord:
        """Store a new trade (open or closed). DuplicateRecord when its (run, local id) is stored already."""
        ...

    def save(self, trade: TradeRecord) -> TradeRecord:
        """Insert, or update the stored trade with the same id or (run, local id): grow, shrink, close. A closed
        trade is final (DataError if it would change)."""
        ...

    def get(self, trade_id: int) -> TradeRecord: ...

    def by_local_id(self, run_id: int, local_id: int) -> TradeRecord | None: ...

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
        """Close an open trade; its realized P&L (after entry and exit fees) is stored with it."""
        ...

    def open_trades(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> builtins.list[TradeRecord]: ...

    def list(
        self,
        *,
        run_id: int | None = None,
        deployment_id: int | None = None,
        strategy: str | None = None,
        closed: bool | None = None,
    ) -> builtins.list[TradeRecord]:
        """Trades by entry time."""
        ...


class SnapshotRepository(Protocol):
    def add_positions(self, snapshots: Sequence[PositionSnapshot]) -> None:
        """Store position snapshots; (run, ts, strategy, symbol) is unique (DuplicateRecord)."""
        ...

    def add_equity(self, snapshots: Sequence[EquitySnapshot]) -> None:
        """Store equity snapshots; (run, ts, strategy) is unique (DuplicateRecord)."""
        ...

    def positions(self, run_id: int, *, at_ts: int | None = None) -> builtins.list[PositionSnapshot]:
        """The latest snapshot of each (strategy, symbol) at or before at_ts (default: the latest)."""
        ...

    def equity(
        self, run_id: int, *, strategy: str = "", since_ts: int | None = None, until_ts: int | None = None
    ) -> builtins.list[EquitySnapshot]:
        """The equity curve of the account (strategy "") or of one strategy, in time order, since <= ts <= until."""
        ...


class UnitOfWork(Protocol):
    """One atomic transaction over every repository. Enter it, change things, commit(); leaving without commit
    (or by an exception) rolls back. commit() may be called more than once; each call makes the work so far
    durable."""

    @property
    def deployments(self) -> DeploymentRepository: ...

    @property
    def runs(self) -> RunRepository: ...

    @property
    def signals(self) -> SignalRepository: ...

    @property
    def predictions(self) -> PredictionRepository: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def trades(self) -> TradeRepository: ...

    @property
    def snapshots(self) -> SnapshotRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
