"""Records: validation, and conversions to and from core objects (no database)."""

from __future__ import annotations

import math

import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.events import Fill
from tradeforge.core.orders import Order
from tradeforge.core.trades import Position, Trade
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from tradeforge.persistence.records import (
    DeploymentRecord,
    FillRecord,
    OrderRecord,
    PositionSnapshot,
    RunMode,
    RunRecord,
    SignalRecord,
    StatusChange,
    TradeRecord,
    jsonable,
    make_client_order_id,
    new_run_key,
)

T0 = 1_704_067_200_000_000_000


def core_order(**kw: object) -> Order:
    args: dict[str, object] = dict(
        id=7,
        strategy="sma",
        symbol="BTC-PERP",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=2.0,
        created_ts=T0,
        created_bar=3,
        limit=41_000.0,
        tif=TimeInForce.GTT,
        expire_at=T0 + 10,
        sl=40_000.0,
        tp=45_000.0,
        tag="x",
    )
    args.update(kw)
    return Order(**args)


def test_order_record_from_core_order_starts_new_and_keeps_every_instruction() -> None:
    order = core_order()
    order.transition(OrderStatus.SUBMITTED, T0)  # the engine submits before the gateway stores: still stored NEW
    rec = OrderRecord.from_order(order, client_order_id="tfabc-7", run_id=1)
    assert rec.status is OrderStatus.NEW and rec.filled_qty == 0.0 and rec.local_id == 7
    assert (rec.limit, rec.tif, rec.expire_at, rec.sl, rec.tp, rec.tag) == (
        41_000.0,
        TimeInForce.GTT,
        T0 + 10,
        40_000.0,
        45_000.0,
        "x",
    )
    back = rec.to_order()
    for name in ("id", "strategy", "symbol", "side", "type", "qty", "limit", "tif", "expire_at", "sl", "tp", "tag"):
        assert getattr(back, name) == getattr(order, name), name
    assert back.status is OrderStatus.NEW and math.isnan(back.avg_fill_price)


def test_to_order_rebuilds_state_and_core_history_from_stored_changes() -> None:
    rec = OrderRecord.from_order(core_order(), client_order_id="tfabc-7", run_id=1)
    history = [
        StatusChange(1, 0, T0, OrderStatus.NEW),
        StatusChange(1, 1, T0 + 1, OrderStatus.SUBMITTED, OrderStatus.NEW),
        StatusChange(1, 2, T0 + 2, OrderStatus.ACCEPTED, OrderStatus.SUBMITTED),
    ]
    stored = OrderRecord(**{**{f: getattr(rec, f) for f in rec.__dataclass_fields__}, "status": OrderStatus.ACCEPTED})
    back = stored.to_order(history)
    assert back.history == [(T0 + 1, OrderStatus.SUBMITTED), (T0 + 2, OrderStatus.ACCEPTED)]
    back.transition(OrderStatus.CANCELLED, T0 + 3)  # the rebuilt order obeys core's state machine from there
    assert not back.is_open


@pytest.mark.parametrize("cid", ["", "has space", "x" * 37, "é"])
def test_bad_client_order_ids_are_refused_with_the_fix(cid: str) -> None:
    with pytest.raises(ConfigError, match="make_client_order_id"):
        OrderRecord.from_order(core_order(), client_order_id=cid, run_id=1)


def test_client_order_ids_from_run_keys_are_valid_and_distinct() -> None:
    keys = {new_run_key() for _ in range(200)}
    assert len(keys) == 200
    ids = {make_client_order_id(k, seq) for k in keys for seq in (1, 2, 999_999)}
    assert len(ids) == 600 and all(len(i) <= 36 for i in ids)


def test_order_needs_a_size() -> None:
    with pytest.raises(DataError, match="qty"):
        OrderRecord.from_order(core_order(qty=None), client_order_id="a-1", run_id=1)
    with pytest.raises(DataError, match="positive"):
        OrderRecord.from_order(core_order(qty=-1.0), client_order_id="a-1", run_id=1)
    ok = OrderRecord.from_order(core_order(qty=None, fraction=0.5), client_order_id="a-1", run_id=1)
    assert ok.qty is None and ok.remaining is None


def test_fill_record_round_trip_and_validation() -> None:
    fill = Fill(7, "sma", "BTC-PERP", Side.SELL, 0.5, 42_000.0, 1.25, T0, 4, Liquidity.MAKER, "limit")
    rec = FillRecord.from_fill(fill, client_order_id="a-7", fill_id="t1")
    order = OrderRecord.from_order(core_order(side=Side.SELL), client_order_id="a-7", run_id=1)
    back = rec.to_fill(order, bar=4)
    assert back == fill
    for bad in ({"qty": 0.0}, {"price": -1.0}, {"qty": math.nan}, {"fee": math.inf}, {"fill_id": ""}):
        with pytest.raises(DataError):
            FillRecord(**{"client_order_id": "a-7", "fill_id": "t1", "ts": T0, "qty": 1.0, "price": 1.0, **bad})


def test_trade_record_realized_pnl_is_cores_net_pnl() -> None:
    trade = Trade(3, "sma", "ES", -2.0, 5000.0, T0, 1, 11, multiplier=50.0, entry_fee=4.0)
    open_rec = TradeRecord.from_trade(trade, run_id=1, entry_order_id=11)
    assert open_rec.is_open and open_rec.realized_pnl is None
    trade.exit_price, trade.exit_ts, trade.exit_bar, trade.exit_fee = 4990.0, T0 + 5, 5, 4.5
    rec = TradeRecord.from_trade(trade, run_id=1, entry_order_id=11, exit_order_id=12)
    assert rec.realized_pnl == pytest.approx(trade.pnl) and rec.realized_pnl == pytest.approx(1000.0 - 8.5)
    with pytest.raises(DataError):
        TradeRecord(1, "s", "X", 0.0, 1, 100.0, T0)
    with pytest.raises(DataError, match="both"):
        TradeRecord(1, "s", "X", 1.0, 1, 100.0, T0, exit_price=101.0)


def test_position_snapshot_from_core_position() -> None:
    pos = Position("sma", "ETH", qty=-3.0, avg_price=2000.0, realized_pnl=12.0, fees=1.5)
    snap = PositionSnapshot.from_position(pos, run_id=1, ts=T0, mark_price=1990.0)
    assert snap.unrealized_pnl == pytest.approx(30.0) and snap.avg_price == 2000.0
    flat = PositionSnapshot.from_position(Position("sma", "ETH"), run_id=1, ts=T0, mark_price=1.0)
    assert flat.avg_price is None and flat.unrealized_pnl is None  # NaN never reaches the store


def test_json_fields() -> None:
    raw = {"price": math.nan, 1: (1, 2), "nested": {"inf": math.inf, "side": Side.BUY}, "obj": object}
    clean = jsonable(raw)
    assert clean["price"] is None and clean["1"] == [1, 2] and clean["nested"]["inf"] is None
    assert clean["nested"]["side"] == 1 and isinstance(clean["obj"], str)
    run = RunRecord(RunMode.LIVE, T0, info={"pid": 3, "ratio": math.nan})
    assert run.info == {"pid": 3, "ratio": None}
    with pytest.raises(DataError, match="JSON"):
        DeploymentRecord("d", "S", parameters={"fast": math.nan})
    with pytest.raises(DataError, match="lists"):
        DeploymentRecord("d", "S", parameters={"window": (1, 2)})
    with pytest.raises(ConfigError, match="name"):
        DeploymentRecord("", "S")


def test_signal_window_must_not_be_reversed() -> None:
    with pytest.raises(DataError, match="valid_until"):
        SignalRecord(1, "s", "X", Side.BUY, T0, T0, T0 - 1)
    sig = SignalRecord(1, "s", "X", Side.BUY, T0, T0, T0 + 10)
    assert sig.is_active(T0) and sig.is_active(T0 + 9) and not sig.is_active(T0 + 10)
