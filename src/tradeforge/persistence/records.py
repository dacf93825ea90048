"""What the repositories store and return: frozen, ORM-free records, and their conversions to and from core objects.

Records are plain dataclasses, so the domain never sees SQLAlchemy (cosmicpython's rule). Ids are assigned by
the store: a record built by the caller has ``id=None``; ``add`` returns the stored copy with its id. Fields the
store maintains (an order's status, filled quantity, exchange id...) change only through repository methods.
Timestamps are int ns UTC, as in core. Money and quantities are floats; "no value" is None (never NaN).
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.trades import Position, Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, Side, TimeInForce

JSON = dict[str, Any]

CLIENT_ORDER_ID_MAX = 36  # Binance's limit, the tightest of the large venues
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,36}$")


class RunMode(Enum):
    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class RunStatus(Enum):
    RUNNING = "running"
    STOPPED = "stopped"  # stopped on request (SIGINT/SIGTERM, kill switch)
    COMPLETED = "completed"  # ran out of data (a backtest)
    FAILED = "failed"  # stopped by an error it reported
    CRASHED = "crashed"  # found still "running" with a stale heartbeat after a restart


class SignalKind(Enum):
    ENTRY = "entry"
    EXIT = "exit"


class SignalStatus(Enum):
    PENDING = "pending"  # waiting for a decision (e.g. the model's prediction)
    ACCEPTED = "accepted"  # acted upon: orders follow
    REJECTED = "rejected"  # vetoed (by a model, risk...): still blocks new signals during its validity window
    EXPIRED = "expired"  # its window passed without a decision


SIDE_NAMES = {Side.BUY: "buy", Side.SELL: "sell"}
SIDES = {v: k for k, v in SIDE_NAMES.items()}


def new_run_key() -> str:
    """A fresh random run key: 10 lowercase hex characters (40 bits), short enough for client order ids."""
    return secrets.token_hex(5)


def make_client_order_id(run_key: str, seq: int, prefix: str = "tf") -> str:
    """The client order id of the seq-th order of a run: ``{prefix}{run_key}-{seq}``, e.g. ``tf3fa9c01b2e-17``.

    A run key is unique in the database and random across databases, and seq never repeats within a run, so an id
    is never used twice; a restart starts a new run (a new key), so ids stay fresh after a crash.
    """
    cid = f"{prefix}{run_key}-{seq}"
    check_client_order_id(cid)
    return cid


def check_client_order_id(cid: str) -> None:
    if not isinstance(cid, str) or not _CLIENT_ID_RE.match(cid):
        raise ConfigError(
            f"client order id {cid!r} is not valid: use 1 to {CLIENT_ORDER_ID_MAX} characters among letters, "
            "digits and . _ : / - (make_client_order_id(run_key, seq) builds one)"
        )


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of value: NaN and infinities become None, mapping keys strings, tuples lists, anything
    else its str(). Used for exchange answers, which must be stored whatever they contain."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return jsonable(value.value)
    return str(value)


def check_json(value: Any, what: str) -> None:
    """Raise DataError unless value survives a JSON round trip unchanged (parameters must be exact)."""
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{what} must be JSON data (str, number, bool, None, lists, dicts with str keys): {exc}"
        ) from exc
    if json.loads(text) != value:
        raise DataError(f"{what} does not survive JSON unchanged (tuples or non-str keys?): use lists and str keys")


def opt_float(x: float | None) -> float | None:
    """None for a missing or NaN value, else the float."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


# ------------------------------------------------------------------------------------------------ deployments
@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A strategy put to work: its parameters, symbols, time frames and the account it trades."""

    name: str
    strategy: str  # importable path or registered name of the Strategy class
    parameters: JSON = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ()
    account: str = ""  # e.g. "binance:main", "paper"
    enabled: bool = True
    created_ts: int = 0
    updated_ts: int = 0
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"a deployment needs a non-empty name, got {self.name!r}")
        if not self.strategy:
            raise ConfigError(f"deployment {self.name!r} needs a strategy (its class path or registered name)")
        check_json(self.parameters, f"the parameters of deployment {self.name!r}")
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "timeframes", tuple(self.timeframes))


# ------------------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True, slots=True)
class RunRecord:
    """One execution of a deployment (or of a bare backtest): a mode, a start, a stop and how it ended."""

    mode: RunMode
    started_ts: int
    deployment_id: int | None = None
    key: str = ""  # unique; generated when empty
    status: RunStatus = RunStatus.RUNNING
    stopped_ts: int | None = None
    heartbeat_ts: int | None = None
    stop_reason: str = ""
    info: JSON = field(default_factory=dict)  # version, host, pid, config digest...
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", jsonable(self.info))


# ---------------------------------------------------------------------------------------------------- signals
@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A strategy's intent to enter or exit, valid from valid_from (inclusive) until valid_until (exclusive).

    A rejected signal still blocks further signals of its strategy and symbol while its window lasts (see
    SignalRepository.active), so live trading and the backtest make the same once-per-window decisions.
    """

    run_id: int
    strategy: str
    symbol: str
    side: Side
    ts: int
    valid_from: int
    valid_until: int
    kind: SignalKind = SignalKind.ENTRY
    price: float | None = None
    strength: float | None = None
    status: SignalStatus = SignalStatus.PENDING
    reason: str = ""
    data: JSON = field(default_factory=dict)
    decided_ts: int | None = None
    id: int | None = None
    deployment_id: int | None = None  # set by the store from the run

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", jsonable(self.data))
        if self.valid_until < self.valid_from:
            raise DataError(
                f"signal {self.strategy}/{self.symbol}: valid_until {self.valid_until} is before valid_from "
                f"{self.valid_from}"
            )

    def is_active(self, ts: int) -> bool:
        return self.valid_from <= ts < self.valid_until


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """A model's prediction, usually about a signal: its score and whether it accepted the signal."""

    run_id: int
    model: str
    ts: int
    value: float  # score, probability or predicted return
    model_version: str = ""
    signal_id: int | None = None
    threshold: float | None = None
    accepted: bool | None = None  # None: informative only, no decision
    label: str = ""  # e.g. "buy", "sell", "hold"
    details: JSON = field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", jsonable(self.details))


# ----------------------------------------------------------------------------------------------------- orders
@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as stored: what was asked (from core's Order), where it is, and what it has done.

    The stored life starts at NEW ("written, maybe not sent yet"), whatever the status of the core Order it was
    built from: the write-ahead rule is to store the order, then send it, then record every answer.
    """

    client_order_id: str
    run_id: int
    strategy: str
    symbol: str
    side: Side
    type: OrderType
    qty: float | None
    created_ts: int
    fraction: float | None = None
    limit: float | None = None
    stop: float | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None
    tif: TimeInForce = TimeInForce.GTC
    expire_at: int | None = None
    sl: float | None = None
    tp: float | None = None
    reduce_only: bool = False
    role: str = "entry"
    tag: str = ""
    local_id: int | None = None  # the core Order's id within its run
    parent_id: int | None = None  # stored id of the entry an attached stop-loss / take-profit belongs to
    oco_group: str | None = None
    signal_id: int | None = None
    # maintained by the store
    id: int | None = None
    deployment_id: int | None = None
    account: str = ""
    status: OrderStatus = OrderStatus.NEW
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    fees: float = 0.0
    reject_reason: str = ""
    exchange_order_id: str | None = None
    updated_ts: int = 0
    version: int = 0

    def __post_init__(self) -> None:
        check_client_order_id(self.client_order_id)
        if self.qty is None:
            if self.fraction is None:
                raise DataError(f"order {self.client_order_id} needs a quantity (qty) or a fraction of equity")
        elif not (math.isfinite(self.qty) and self.qty > 0):
            raise DataError(f"order {self.client_order_id}: qty must be a positive number, got {self.qty!r}")

    @property
    def is_open(self) -> bool:
        return self.status not in _TERMINAL

    @property
    def remaining(self) -> float | None:
        return None if self.qty is None else self.qty - self.filled_qty

    @classmethod
    def from_order(
        cls,
        order: Order,
        *,
        client_order_id: str,
        run_id: int,
        signal_id: int | None = None,
        parent_id: int | None = None,
        oco_group: str | None = None,
    ) -> OrderRecord:
        """The write-ahead record of a core Order (status NEW, nothing filled)."""
        return cls(
            client_order_id=client_order_id,
            run_id=run_id,
            strategy=order.strategy,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            qty=order.qty,
            created_ts=order.created_ts,
            fraction=order.fraction,
            limit=order.limit,
            stop=order.stop,
            trail_amount=order.trail_amount,
            trail_percent=order.trail_percent,
            tif=order.tif,
            expire_at=order.expire_at,
            sl=order.sl,
            tp=order.tp,
            reduce_only=order.reduce_only,
            role=order.role,
            tag=order.tag,
            local_id=order.id,
            parent_id=parent_id,
            oco_group=oco_group if oco_group is not None else (None if order.oco_id is None else str(order.oco_id)),
            signal_id=signal_id,
        )

    def to_order(self, history: Sequence[StatusChange] = ()) -> Order:
        """A core Order in this record's state (id = local_id, or the stored id), e.g. to resume after a restart."""
        oid = self.local_id if self.local_id is not None else (self.id or 0)
        order = Order(
            oid, self.strategy, self.symbol, self.side, self.type, self.qty, self.created_ts, -1, self.fraction,
            self.limit, self.stop, self.trail_amount, self.trail_percent, self.tif, self.expire_at, self.sl, self.tp,
            self.reduce_only, None, None, None, self.role, self.tag,
        )  # fmt: skip
        order.status = self.status
        order.filled_qty = self.filled_qty
        order.avg_fill_price = math.nan if self.avg_fill_price is None else self.avg_fill_price
        order.fees = self.fees
        order.reject_reason = self.reject_reason
        order.updated_ts = self.updated_ts
        for change in history:
            if change.from_status is not None:  # the NEW row is the stored life's start, not a core transition
                order.log.append(change.ts)
                order.log.append(change.status)
        return order


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One row of an order's status history: from_status -> status at ts, with the raw answer that caused it.

    seq counts from 0 (the NEW row written with the order, from_status None)."""

    order_id: int
    seq: int
    ts: int
    status: OrderStatus
    from_status: OrderStatus | None = None
    filled_qty: float = 0.0
    reason: str = ""
    raw: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw", jsonable(self.raw))


@dataclass(frozen=True, slots=True)
class FillRecord:
    """An execution of part of an order. fill_id (the exchange's trade id) is unique per order: storing the same
    fill twice is a no-op, which makes replays after a crash safe."""

    client_order_id: str
    fill_id: str
    ts: int
    qty: float
    price: float
    fee: float = 0.0
    fee_currency: str | None = None
    liquidity: Liquidity = Liquidity.TAKER
    reason: str = ""
    raw: Any = None
    id: int | None = None
    order_id: int | None = None  # set by the store

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw", jsonable(self.raw))
        if not self.fill_id:
            raise DataError(f"a fill of order {self.client_order_id} needs a fill_id (the exchange's trade id)")
        if not (math.isfinite(self.qty) and self.qty > 0):
            raise DataError(f"fill {self.fill_id} of order {self.client_order_id}: qty must be > 0, got {self.qty}")
        if not (math.isfinite(self.price) and self.price > 0):
            raise DataError(f"fill {self.fill_id} of order {self.client_order_id}: price must be > 0, got {self.price}")
        if not math.isfinite(self.fee):
            raise DataError(f"fill {self.fill_id} of order {self.client_order_id}: fee must be finite, got {self.fee}")

    def same_execution(self, other: FillRecord) -> bool:
        """True when other describes the same execution (a replay), not a conflicting one."""
        return (
            self.fill_id == other.fill_id
            and math.isclose(self.qty, other.qty, rel_tol=1e-12, abs_tol=1e-15)
            and math.isclose(self.price, other.price, rel_tol=1e-12)
            and math.isclose(self.fee, other.fee, rel_tol=1e-12, abs_tol=1e-15)
        )

    @classmethod
    def from_fill(cls, fill: Fill, *, client_order_id: str, fill_id: str, raw: Any = None) -> FillRecord:
        return cls(
            client_order_id, fill_id, fill.ts, fill.qty, fill.price, fill.fee, None, fill.liquidity, fill.reason, raw
        )

    def to_fill(self, order: OrderRecord, bar: int = -1) -> Fill:
        oid = order.local_id if order.local_id is not None else (order.id or 0)
        return Fill(
            oid, order.strategy, order.symbol, order.side, self.qty, self.price, self.fee, self.ts, bar,
            self.liquidity, self.reason,
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------------- trades
@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A round trip linked to its entry and exit orders, its signal and prediction. size is signed (+ long).

    realized_pnl (None while open) is core's Trade.pnl: price move times size times multiplier, minus entry and
    exit fees."""

    run_id: int
    strategy: str
    symbol: str
    size: float
    entry_order_id: int  # stored order id
    entry_price: float
    entry_ts: int
    multiplier: float = 1.0
    entry_fee: float = 0.0
    exit_order_id: int | None = None
    exit_price: float | None = None
    exit_ts: int | None = None
    exit_fee: float = 0.0
    exit_reason: str = ""
    tag: str = ""
    signal_id: int | None = None
    prediction_id: int | None = None
    local_id: int | None = None  # core Trade id within the run
    id: int | None = None
    deployment_id: int | None = None  # set by the store from the run

    def __post_init__(self) -> None:
        if not (math.isfinite(self.size) and self.size != 0):
            raise DataError(f"trade {self.strategy}/{self.symbol}: size must be finite and non-zero, got {self.size}")
        if not (math.isfinite(self.entry_price) and self.entry_price > 0):
            raise DataError(f"trade {self.strategy}/{self.symbol}: entry price must be > 0, got {self.entry_price}")
        if (self.exit_price is None) != (self.exit_ts is None):
            raise DataError(
                f"trade {self.strategy}/{self.symbol}: a closed trade needs both exit_price and exit_ts "
                f"(got {self.exit_price}, {self.exit_ts})"
            )

    @property
    def is_open(self) -> bool:
        return self.exit_ts is None

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    @property
    def realized_pnl(self) -> float | None:
        if self.exit_price is None:
            return None
        return self.size * (self.exit_price - self.entry_price) * self.multiplier - self.fees

    @classmethod
    def from_trade(
        cls,
        trade: Trade,
        *,
        run_id: int,
        entry_order_id: int,
        exit_order_id: int | None = None,
        signal_id: int | None = None,
        prediction_id: int | None = None,
    ) -> TradeRecord:
        closed = not trade.is_open
        return cls(
            run_id=run_id,
            strategy=trade.strategy,
            symbol=trade.symbol,
            size=trade.size,
            entry_order_id=entry_order_id,
            entry_price=trade.entry_price,
            entry_ts=trade.entry_ts,
            multiplier=trade.multiplier,
            entry_fee=trade.entry_fee,
            exit_order_id=exit_order_id,
            exit_price=trade.exit_price if closed else None,
            exit_ts=trade.exit_ts if closed else None,
            exit_fee=trade.exit_fee,
            exit_reason=trade.exit_reason,
            tag=trade.tag,
            signal_id=signal_id,
            prediction_id=prediction_id,
            local_id=trade.id,
        )


# -------------------------------------------------------------------------------------------------- snapshots
@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    run_id: int
    ts: int
    strategy: str
    symbol: str
    qty: float
    avg_price: float | None = None
    mark_price: float | None = None
    realized_pnl: float = 0.0
    unrealized_pnl: float | None = None
    fees: float = 0.0
    id: int | None = None

    @classmethod
    def from_position(
        cls, pos: Position, *, run_id: int, ts: int, mark_price: float | None = None, multiplier: float = 1.0
    ) -> PositionSnapshot:
        avg = opt_float(pos.avg_price)
        unrealized = None
        if mark_price is not None and avg is not None:
            unrealized = pos.qty * (mark_price - avg) * multiplier
        return cls(
            run_id, ts, pos.strategy, pos.symbol, pos.qty, avg, mark_price, pos.realized_pnl, unrealized, pos.fees
        )


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    """The account's (strategy "") or one strategy's equity at ts."""

    run_id: int
    ts: int
    equity: float
    cash: float
    strategy: str = ""
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    fees: float = 0.0
    exposure: float = 0.0
    id: int | None = None
