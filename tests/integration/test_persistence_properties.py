"""Property: a random sequence of order events (submit, accept, partial fills, fill, replayed fills, cancel, reject,
expire, repeated answers) applied through the repositories - one unit of work per event, as the live runner does -
leaves the stored status, filled quantity, average price, fees, fills and history equal to applying the same
sequence to a core Order in memory. Every event the core refuses is refused by the store too, and changes nothing.

The reference is core's Order (its LEGAL table, transition() and record_fill()) plus the three rules of a store
that faces an exchange: a repeated answer is a no-op, a fill already stored is a no-op, a fill reported after
FILLED/CANCELLED/EXPIRED is booked without a status change; and a fill beyond the order's quantity is refused.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.orders import LEGAL, Order
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.persistence import (
    FillRecord,
    MemoryStore,
    OrderRecord,
    RunMode,
    RunRecord,
    UnitOfWorkFactory,
)
from tradeforge.persistence.testing import available_backends, scratch_database

S = OrderStatus
T0 = 1_704_067_200_000_000_000
QTY = 10.0
STATUS_EVENTS = {
    "submit": S.SUBMITTED,
    "accept": S.ACCEPTED,
    "cancel": S.CANCELLED,
    "reject": S.REJECTED,
    "expire": S.EXPIRED,
}
LATE = (S.FILLED, S.CANCELLED, S.EXPIRED)

FILL_QTYS = [0.5, 1.0, 2.5, 3.0, 4.0, 6.5, 10.0, 11.0]  # 11 over-fills; some sums do too
KINDS = [*sorted(STATUS_EVENTS), "fill", "replay", "repeat"]


def legal_kinds(order: Order) -> list[str]:
    """Events core accepts now, weighted so that sequences reach fills: progress (submit, accept, fill) often, the
    terminal answers (reject, cancel, expire) sometimes."""
    weight = {"submit": 4, "accept": 4, "cancel": 1, "reject": 1, "expire": 1}
    kinds = [k for k, s in STATUS_EVENTS.items() if s in LEGAL[order.status] for _ in range(weight[k])]
    if order.status in (S.ACCEPTED, S.PARTIALLY_FILLED, *LATE):
        kinds += ["fill"] * 6 + ["replay"]
    return kinds


def draw_event(data: st.DataObject, order: Order) -> tuple[Any, ...]:
    """Any event (refusals included), biased towards legal ones: fills with quantities, prices and fees, replays
    of an earlier fill (reconciliation after a restart), a repeated answer."""
    kind = data.draw(st.sampled_from(KINDS + legal_kinds(order) * 3))
    if kind == "fill":
        qty = data.draw(st.sampled_from(FILL_QTYS))
        return (
            "fill",
            qty,
            data.draw(st.sampled_from([99.5, 100.0, 100.25, 101.0])),
            data.draw(st.sampled_from([0.0, 0.01, 0.05])),
        )
    if kind == "replay":
        return ("replay", data.draw(st.integers(0, 20)))
    return (kind,)


def apply_core(
    order: Order, fills: dict[str, tuple[float, float, float]], event: tuple[Any, ...], key: str, ts: int
) -> None:
    kind = event[0]
    if kind == "repeat":
        return
    if kind in STATUS_EVENTS:
        status = STATUS_EVENTS[kind]
        if status is not order.status:
            order.transition(status, ts)  # raises IllegalTransition
        return
    qty, price, fee = event[1:] if kind == "fill" else fills[key]
    if key in fills:
        return  # the same execution again
    total = order.filled_qty + qty
    if total > QTY * (1 + 1e-9) + 1e-12:
        raise DataError("over-fill")
    done = total >= QTY - 1e-12 * QTY
    implied = S.FILLED if done else S.PARTIALLY_FILLED
    late = order.status in LATE
    if not late and implied not in LEGAL[order.status]:
        raise IllegalTransition("fill before acceptance")
    order.record_fill(qty, price, fee)
    if not late:
        order.transition(implied, ts)
    fills[key] = (qty, price, fee)


def apply_store(
    uows: UnitOfWorkFactory,
    cid: str,
    event: tuple[Any, ...],
    key: str,
    ts: int,
    fills: dict[str, tuple[float, float, float]],
) -> None:
    with uows() as uow:
        kind = event[0]
        if kind == "repeat":
            uow.orders.update_status(cid, uow.orders.get(cid).status, ts=ts, raw={"repeat": True})
        elif kind in STATUS_EVENTS:
            uow.orders.update_status(cid, STATUS_EVENTS[kind], ts=ts, raw={"event": kind})
        else:
            qty, price, fee = event[1:] if kind == "fill" else fills[key]
            uow.orders.record_fill(FillRecord(cid, key, ts, qty, price, fee, raw={"trade": key}))
        uow.commit()


_serial = itertools.count()


@pytest.fixture(params=["memory", *available_backends()])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[UnitOfWorkFactory, int, str]]:
    if request.param == "memory":
        uows: UnitOfWorkFactory = MemoryStore()
        with uows() as uow:
            run = uow.runs.add(RunRecord(RunMode.LIVE, T0))
            uow.commit()
        yield uows, run.id, run.key
        return
    with scratch_database(request.param, tmp_path) as db:
        factory = db.uow_factory()
        with factory() as uow:
            run = uow.runs.add(RunRecord(RunMode.LIVE, T0))
            uow.commit()
        yield factory, run.id, run.key


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n_events=st.integers(0, 16))
def test_stored_orders_follow_core_orders(
    store: tuple[UnitOfWorkFactory, int, str], data: st.DataObject, n_events: int
) -> None:
    uows, run_id, run_key = store
    cid = f"tf{run_key}-{next(_serial)}"
    with uows() as uow:
        uow.orders.add(OrderRecord(cid, run_id, "s", "BTC/USDT", Side.BUY, OrderType.LIMIT, QTY, T0, limit=101.0))
        uow.commit()
    core = Order(1, "s", "BTC/USDT", Side.BUY, OrderType.LIMIT, QTY, T0, 0, limit=101.0)
    fills: dict[str, tuple[float, float, float]] = {}
    fill_keys: list[str] = []
    for step in range(n_events):
        event = draw_event(data, core)
        ts = T0 + step + 1
        if event[0] == "fill":
            key = f"t{step}"
            fill_keys.append(key)
        elif event[0] == "replay":
            if not fill_keys:
                continue
            key = fill_keys[event[1] % len(fill_keys)]
            if key not in fills:
                continue  # that fill was refused: nothing to replay
        else:
            key = ""
        expected: type[Exception] | None = None
        try:
            apply_core(core, fills, event, key, ts)
        except (IllegalTransition, DataError) as exc:
            expected = type(exc)
        if expected is None:
            apply_store(uows, cid, event, key, ts, fills)
        else:
            with uows() as uow:
                before = uow.orders.get(cid)
            with pytest.raises(expected):
                apply_store(uows, cid, event, key, ts, fills)
            with uows() as uow:
                assert uow.orders.get(cid) == before  # a refused event changes nothing

    with uows() as uow:
        got = uow.orders.get(cid)
        history = uow.orders.history(cid)
        stored_fills = uow.orders.fills(cid)
    assert got.status is core.status
    assert got.filled_qty == core.filled_qty
    assert got.fees == core.fees
    if core.filled_qty:
        assert got.avg_fill_price == core.avg_fill_price
    else:
        assert got.avg_fill_price is None and math.isnan(core.avg_fill_price)
    assert got.is_open == core.is_open
    # the history is core's log after the stored NEW row, with timestamps
    assert [(h.ts, h.status) for h in history[1:]] == core.history
    assert [h.from_status for h in history] == [None, *[h.status for h in history[:-1]]]
    assert [(f.fill_id, f.qty, f.price, f.fee) for f in stored_fills] == [(k, *v) for k, v in fills.items()]
    assert math.fsum(f.qty for f in stored_fills) == pytest.approx(got.filled_qty)
