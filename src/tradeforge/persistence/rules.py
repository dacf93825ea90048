"""The rules every store applies, in one place: order status changes (core's state machine), fills (idempotent,
never more than the order's quantity), run and signal life cycles, what may change in a trade.

Pure functions from the stored record and the request to the new record (plus the history row to append). The
memory and SQL stores both call them, so they cannot disagree.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.orders import LEGAL
from tradeforge.core.types import OrderStatus
from tradeforge.persistence.records import (
    FillRecord,
    OrderRecord,
    RunRecord,
    RunStatus,
    SignalRecord,
    SignalStatus,
    StatusChange,
    TradeRecord,
    jsonable,
)

S = OrderStatus
# a fill reported after one of these is booked without a status change: exchanges report executions that
# happened before a cancel took effect, and after an order they already called closed; losing them would
# leave positions wrong
LATE_FILL_STATUSES = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED})
_REASON_STATUSES = frozenset({S.REJECTED, S.CANCELLED, S.EXPIRED})
_QTY_TOL = 1e-9


def _describe(order: OrderRecord) -> str:
    return f"order {order.client_order_id} ({order.symbol} {order.side.name} {order.type.value})"


def check_new_order(order: OrderRecord) -> None:
    """add() takes an order that has done nothing yet: the write-ahead record."""
    if order.status is not S.NEW or order.filled_qty != 0.0 or order.fees != 0.0:
        raise DataError(
            f"{_describe(order)} must be stored before it is sent: add() takes a NEW order with nothing filled "
            f"(got status {order.status.value}, filled {order.filled_qty}); record answers with update_status() "
            "and fills with record_fill()"
        )


def initial_change(order_id: int, order: OrderRecord, raw: Any = None) -> StatusChange:
    return StatusChange(order_id, 0, order.created_ts, S.NEW, None, 0.0, "stored", raw)


def status_update(
    order: OrderRecord,
    status: OrderStatus,
    *,
    ts: int,
    seq: int,
    reason: str = "",
    raw: Any = None,
    exchange_order_id: str | None = None,
    qty: float | None = None,
) -> tuple[OrderRecord, StatusChange | None]:
    """Apply an answer saying the order is now `status` (and, with qty, that its quantity is now qty: an attached
    stop-loss / take-profit grows with its entry's fills; never below what has filled).

    The same status again is a repeated answer: nothing changes (except a newly learnt exchange id). Otherwise the
    change must be legal in core's table (orders.LEGAL), else IllegalTransition.
    """
    new = order
    if exchange_order_id is not None and exchange_order_id != order.exchange_order_id:
        if order.exchange_order_id is not None:
            raise DataError(
                f"{_describe(order)} already has exchange id {order.exchange_order_id!r}; an answer gave "
                f"{exchange_order_id!r}: the answer belongs to another order"
            )
        new = dataclasses.replace(new, exchange_order_id=exchange_order_id)
    if qty is not None and qty != order.qty:
        if not (math.isfinite(qty) and qty > 0 and qty >= order.filled_qty - 1e-12):
            raise DataError(f"{_describe(order)}: quantity {qty!r} is not a positive number at least what has filled "
                            f"({order.filled_qty})")  # fmt: skip
        new = dataclasses.replace(new, qty=qty)
    if status is order.status:
        return new, None
    if status not in LEGAL[order.status]:
        raise IllegalTransition(f"{_describe(order)} cannot go from {order.status.value} to {status.value}")
    new = dataclasses.replace(
        new,
        status=status,
        updated_ts=ts,
        reject_reason=reason if (reason and status in _REASON_STATUSES) else order.reject_reason,
    )
    assert order.id is not None
    return new, StatusChange(order.id, seq, ts, status, order.status, order.filled_qty, reason, jsonable(raw))


def fill_update(
    order: OrderRecord, fill: FillRecord, existing: FillRecord | None, *, seq: int
) -> tuple[OrderRecord, StatusChange | None] | None:
    """Book a fill. None when it is already stored (a replay); DataError when a different fill has its id.

    The implied status (FILLED once the quantity is reached, else PARTIALLY_FILLED) must be legal from the current
    one, except after FILLED, CANCELLED or EXPIRED, where a late fill is booked and the status stays.
    """
    if existing is not None:
        if existing.same_execution(fill):
            return None
        raise DataError(
            f"fill {fill.fill_id!r} of {_describe(order)} is already stored as {existing.qty} @ {existing.price} "
            f"(fee {existing.fee}); now reported as {fill.qty} @ {fill.price} (fee {fill.fee}): check the exchange's "
            "trade ids"
        )
    total = order.filled_qty + fill.qty
    if order.qty is not None and total > order.qty * (1.0 + _QTY_TOL) + 1e-12:
        raise DataError(
            f"fill {fill.fill_id!r} of {fill.qty} would bring {_describe(order)} to {total}, above its quantity "
            f"{order.qty}: the fill belongs to another order, or the order's quantity is wrong"
        )
    done = order.qty is None or total >= order.qty - 1e-12 * max(1.0, order.qty)
    implied = S.FILLED if done else S.PARTIALLY_FILLED
    late = order.status in LATE_FILL_STATUSES
    if not late and implied not in LEGAL[order.status]:
        raise IllegalTransition(
            f"{_describe(order)} cannot take fill {fill.fill_id!r} while {order.status.value} (it would go to "
            f"{implied.value}): record the exchange's acceptance first"
        )
    if order.filled_qty == 0.0:
        avg = fill.price
    else:
        prev = order.avg_fill_price if order.avg_fill_price is not None else fill.price
        avg = (prev * order.filled_qty + fill.price * fill.qty) / total
    new = dataclasses.replace(
        order,
        filled_qty=total,
        avg_fill_price=avg,
        fees=order.fees + fill.fee,
        status=order.status if late else implied,
        updated_ts=order.updated_ts if late else fill.ts,
    )
    if late:
        return new, None
    assert order.id is not None
    change = StatusChange(order.id, seq, fill.ts, implied, order.status, total, f"fill {fill.fill_id}", fill.raw)
    return new, change


def duplicate_client_id_message(cid: str) -> str:
    return (
        f"client order id {cid!r} is already stored: an id is never reused, even after a crash; "
        "make a fresh one with make_client_order_id(run.key, seq)"
    )


def exchange_id_taken_message(exchange_order_id: str, account: str, owner: str) -> str:
    return (
        f"exchange order id {exchange_order_id!r} (account {account!r}) already belongs to order {owner}: "
        "an answer was matched to the wrong order"
    )


# ------------------------------------------------------------------------------------------------------ runs
def finish_run(run: RunRecord, status: RunStatus, ts: int, reason: str) -> RunRecord:
    if status is RunStatus.RUNNING:
        raise DataError(f"finish() needs how run {run.key} ended (stopped, completed, failed, crashed), not running")
    if run.status is not RunStatus.RUNNING:
        if run.status is status:
            return run  # repeated (e.g. a signal handler and a finally block)
        raise IllegalTransition(
            f"run {run.key} already ended as {run.status.value}; it cannot end again as {status.value}"
        )
    return dataclasses.replace(run, status=status, stopped_ts=ts, stop_reason=reason)


# --------------------------------------------------------------------------------------------------- signals
def decide_signal(signal: SignalRecord, status: SignalStatus, ts: int, reason: str) -> SignalRecord | None:
    """PENDING -> ACCEPTED / REJECTED / EXPIRED once; the same decision again is a no-op (None)."""
    if status is signal.status:
        return None
    if signal.status is not SignalStatus.PENDING or status is SignalStatus.PENDING:
        raise IllegalTransition(
            f"signal {signal.id} ({signal.strategy} {signal.symbol}) is {signal.status.value}; it cannot become "
            f"{status.value} (a signal is decided once)"
        )
    return dataclasses.replace(signal, status=status, reason=reason or signal.reason, decided_ts=ts)


# ---------------------------------------------------------------------------------------------------- trades
_FIXED_TRADE_FIELDS = ("run_id", "strategy", "symbol", "entry_order_id", "local_id")


def check_trade_change(old: TradeRecord, new: TradeRecord) -> bool:
    """Raise DataError when new may not replace old; return False when nothing changes.

    An open trade may grow or shrink (same direction), have its entry price and fees updated, and be closed; a
    closed trade is final."""
    new = dataclasses.replace(new, id=old.id, deployment_id=old.deployment_id)
    if new == old:
        return False
    if not old.is_open:
        raise DataError(f"trade {old.id} ({old.strategy} {old.symbol}) is closed: a closed trade cannot change")
    for name in _FIXED_TRADE_FIELDS:
        if getattr(new, name) != getattr(old, name):
            raise DataError(
                f"trade {old.id} ({old.strategy} {old.symbol}): {name} cannot change "
                f"({getattr(old, name)!r} -> {getattr(new, name)!r}); store a new trade instead"
            )
    if (new.size > 0) != (old.size > 0):
        raise DataError(f"trade {old.id} ({old.strategy} {old.symbol}) cannot change direction: store a new trade")
    return True
