"""The rules both stores apply: core's order state machine, fills, runs, signals, trade changes (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.orders import LEGAL
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.persistence import rules
from tradeforge.persistence.records import (
    FillRecord,
    OrderRecord,
    RunMode,
    RunRecord,
    RunStatus,
    SignalRecord,
    SignalStatus,
    TradeRecord,
)

S = OrderStatus
T0 = 1_704_067_200_000_000_000


def stored(status: OrderStatus = S.NEW, qty: float | None = 10.0, filled: float = 0.0) -> OrderRecord:
    return OrderRecord(
        "tfk-1",
        1,
        "s",
        "X",
        Side.BUY,
        OrderType.MARKET,
        qty,
        T0,
        fraction=0.5 if qty is None else None,
        id=1,
        status=status,
        filled_qty=filled,
        avg_fill_price=100.0 if filled else None,
    )


def fill(fid: str = "f1", qty: float = 4.0, price: float = 100.0, fee: float = 0.1) -> FillRecord:
    return FillRecord("tfk-1", fid, T0 + 5, qty, price, fee)


@pytest.mark.parametrize("src", list(S))
@pytest.mark.parametrize("dst", list(S))
def test_status_updates_follow_cores_table(src: OrderStatus, dst: OrderStatus) -> None:
    order = stored(src)
    if dst is src:
        new, change = rules.status_update(order, dst, ts=T0, seq=1)
        assert new == order and change is None  # a repeated answer changes nothing
    elif dst in LEGAL[src]:
        new, change = rules.status_update(order, dst, ts=T0 + 1, seq=4, reason="why", raw={"a": 1})
        assert new.status is dst and new.updated_ts == T0 + 1
        assert change is not None and (change.seq, change.from_status, change.status) == (4, src, dst)
        assert change.raw == {"a": 1} and change.reason == "why"
    else:
        with pytest.raises(IllegalTransition, match=f"from {src.value} to {dst.value}"):
            rules.status_update(order, dst, ts=T0, seq=1)


def test_exchange_id_is_learnt_once() -> None:
    order = stored(S.SUBMITTED)
    new, change = rules.status_update(order, S.SUBMITTED, ts=T0, seq=1, exchange_order_id="E1")
    assert new.exchange_order_id == "E1" and change is None
    with pytest.raises(DataError, match="another order"):
        rules.status_update(new, S.ACCEPTED, ts=T0, seq=1, exchange_order_id="E2")


def test_reject_reason_kept_for_refusals_only() -> None:
    new, _ = rules.status_update(stored(S.SUBMITTED), S.REJECTED, ts=T0, seq=1, reason="insufficient funds")
    assert new.reject_reason == "insufficient funds"
    new, _ = rules.status_update(stored(S.SUBMITTED), S.ACCEPTED, ts=T0, seq=1, reason="ack")
    assert new.reject_reason == ""


def test_fills_drive_quantity_average_price_and_status() -> None:
    order = stored(S.ACCEPTED)
    result = rules.fill_update(order, fill("a", 4.0, 100.0, 0.1), None, seq=3)
    assert result is not None
    order, change = result
    assert (order.status, order.filled_qty, order.avg_fill_price, order.fees) == (S.PARTIALLY_FILLED, 4.0, 100.0, 0.1)
    assert change is not None and change.filled_qty == 4.0 and change.reason == "fill a"
    result = rules.fill_update(order, fill("b", 6.0, 110.0, 0.2), None, seq=4)
    assert result is not None
    order, _ = result
    assert order.status is S.FILLED and order.filled_qty == 10.0
    assert order.avg_fill_price == pytest.approx(106.0) and order.fees == pytest.approx(0.3)


def test_a_replayed_fill_is_a_no_op_and_a_conflicting_one_an_error() -> None:
    order = stored(S.ACCEPTED)
    assert rules.fill_update(order, fill("a"), fill("a"), seq=1) is None
    with pytest.raises(DataError, match="already stored"):
        rules.fill_update(order, fill("a", qty=5.0), fill("a"), seq=1)


@pytest.mark.parametrize("status", [S.NEW, S.SUBMITTED, S.REJECTED])
def test_no_fill_before_acceptance_or_after_rejection(status: OrderStatus) -> None:
    with pytest.raises(IllegalTransition, match="cannot take fill"):
        rules.fill_update(stored(status), fill(), None, seq=1)


@pytest.mark.parametrize("status", [S.FILLED, S.CANCELLED, S.EXPIRED])
def test_late_fills_are_booked_without_a_status_change(status: OrderStatus) -> None:
    result = rules.fill_update(stored(status, filled=0.0), fill(qty=3.0), None, seq=2)
    assert result is not None
    order, change = result
    assert order.status is status and order.filled_qty == 3.0 and change is None


def test_over_fill_is_refused() -> None:
    with pytest.raises(DataError, match="above its quantity"):
        rules.fill_update(stored(S.PARTIALLY_FILLED, filled=8.0), fill(qty=2.5), None, seq=1)
    # a fraction-of-equity order (no quantity yet) is filled by its first fill, as in core
    result = rules.fill_update(stored(S.ACCEPTED, qty=None), fill(qty=123.0), None, seq=1)
    assert result is not None and result[0].status is S.FILLED


def test_new_orders_only() -> None:
    rules.check_new_order(stored())
    with pytest.raises(DataError, match="before it is sent"):
        rules.check_new_order(stored(S.ACCEPTED))


def test_runs_end_once() -> None:
    run = RunRecord(RunMode.PAPER, T0, key="k", id=1)
    ended = rules.finish_run(run, RunStatus.STOPPED, T0 + 1, "SIGTERM")
    assert (ended.status, ended.stopped_ts, ended.stop_reason) == (RunStatus.STOPPED, T0 + 1, "SIGTERM")
    assert rules.finish_run(ended, RunStatus.STOPPED, T0 + 2, "again") is ended
    with pytest.raises(IllegalTransition, match="already ended"):
        rules.finish_run(ended, RunStatus.FAILED, T0 + 2, "")
    with pytest.raises(DataError):
        rules.finish_run(run, RunStatus.RUNNING, T0, "")


def test_signals_are_decided_once() -> None:
    sig = SignalRecord(1, "s", "X", Side.BUY, T0, T0, T0 + 60, id=1)
    rejected = rules.decide_signal(sig, SignalStatus.REJECTED, T0 + 1, "model says no")
    assert rejected is not None and rejected.decided_ts == T0 + 1 and rejected.reason == "model says no"
    assert rules.decide_signal(rejected, SignalStatus.REJECTED, T0 + 2, "") is None
    with pytest.raises(IllegalTransition, match="decided once"):
        rules.decide_signal(rejected, SignalStatus.ACCEPTED, T0 + 2, "")


def test_trade_changes() -> None:
    old = TradeRecord(1, "s", "X", 2.0, 5, 100.0, T0, id=9, local_id=1)
    assert not rules.check_trade_change(old, dataclasses.replace(old, id=None))
    assert rules.check_trade_change(old, dataclasses.replace(old, size=1.0, entry_fee=0.5))
    closed = dataclasses.replace(old, exit_price=101.0, exit_ts=T0 + 1, exit_order_id=6)
    assert rules.check_trade_change(old, closed)
    with pytest.raises(DataError, match="direction"):
        rules.check_trade_change(old, dataclasses.replace(old, size=-1.0))
    with pytest.raises(DataError, match="symbol cannot change"):
        rules.check_trade_change(old, dataclasses.replace(old, symbol="Y"))
    with pytest.raises(DataError, match="closed trade cannot change"):
        rules.check_trade_change(closed, dataclasses.replace(closed, exit_price=102.0))
