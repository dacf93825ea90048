"""Rows <-> records: the one place that knows how each record is laid out in the tables of tables.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from tradeforge.core.types import Liquidity, OrderStatus, OrderType, TimeInForce
from tradeforge.persistence import tables as T
from tradeforge.persistence.records import (
    SIDE_NAMES,
    SIDES,
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


def deployment_from_row(row: Row[Any]) -> DeploymentRecord:
    m = row._mapping
    return DeploymentRecord(
        name=m["name"],
        strategy=m["strategy"],
        parameters=m["parameters"],
        symbols=tuple(m["symbols"]),
        timeframes=tuple(m["timeframes"]),
        account=m["account"],
        enabled=bool(m["enabled"]),
        created_ts=m["created_ts"],
        updated_ts=m["updated_ts"],
        id=m["id"],
    )


def deployment_values(d: DeploymentRecord) -> dict[str, Any]:
    return {
        "name": d.name,
        "strategy": d.strategy,
        "parameters": d.parameters,
        "symbols": list(d.symbols),
        "timeframes": list(d.timeframes),
        "account": d.account,
        "enabled": d.enabled,
        "created_ts": d.created_ts,
        "updated_ts": d.updated_ts,
    }


def run_from_row(row: Row[Any]) -> RunRecord:
    m = row._mapping
    return RunRecord(
        mode=RunMode(m["mode"]),
        started_ts=m["started_ts"],
        deployment_id=m["deployment_id"],
        key=m["key"],
        status=RunStatus(m["status"]),
        stopped_ts=m["stopped_ts"],
        heartbeat_ts=m["heartbeat_ts"],
        stop_reason=m["stop_reason"],
        info=m["info"],
        id=m["id"],
    )


def signal_from_row(row: Row[Any]) -> SignalRecord:
    m = row._mapping
    return SignalRecord(
        run_id=m["run_id"],
        strategy=m["strategy"],
        symbol=m["symbol"],
        side=SIDES[m["side"]],
        ts=m["ts"],
        valid_from=m["valid_from"],
        valid_until=m["valid_until"],
        kind=SignalKind(m["kind"]),
        price=m["price"],
        strength=m["strength"],
        status=SignalStatus(m["status"]),
        reason=m["reason"],
        data=m["data"],
        decided_ts=m["decided_ts"],
        id=m["id"],
        deployment_id=m["deployment_id"],
    )


def prediction_from_row(row: Row[Any]) -> PredictionRecord:
    m = row._mapping
    return PredictionRecord(
        run_id=m["run_id"],
        model=m["model"],
        ts=m["ts"],
        value=m["value"],
        model_version=m["model_version"],
        signal_id=m["signal_id"],
        threshold=m["threshold"],
        accepted=None if m["accepted"] is None else bool(m["accepted"]),
        label=m["label"],
        details=m["details"],
        id=m["id"],
    )


def order_from_row(row: Row[Any]) -> OrderRecord:
    m = row._mapping
    return OrderRecord(
        client_order_id=m["client_order_id"],
        run_id=m["run_id"],
        strategy=m["strategy"],
        symbol=m["symbol"],
        side=SIDES[m["side"]],
        type=OrderType(m["type"]),
        qty=m["qty"],
        created_ts=m["created_ts"],
        fraction=m["fraction"],
        limit=m["limit_price"],
        stop=m["stop_price"],
        trail_amount=m["trail_amount"],
        trail_percent=m["trail_percent"],
        tif=TimeInForce(m["tif"]),
        expire_at=m["expire_at"],
        sl=m["sl"],
        tp=m["tp"],
        reduce_only=bool(m["reduce_only"]),
        role=m["role"],
        tag=m["tag"],
        local_id=m["local_id"],
        parent_id=m["parent_id"],
        oco_group=m["oco_group"],
        signal_id=m["signal_id"],
        id=m["id"],
        deployment_id=m["deployment_id"],
        account=m["account"],
        status=OrderStatus(m["status"]),
        filled_qty=m["filled_qty"],
        avg_fill_price=m["avg_fill_price"],
        fees=m["fees"],
        reject_reason=m["reject_reason"],
        exchange_order_id=m["exchange_order_id"],
        updated_ts=m["updated_ts"],
        version=m["version"],
    )


def order_values(o: OrderRecord) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "exchange_order_id": o.exchange_order_id,
        "account": o.account,
        "run_id": o.run_id,
        "deployment_id": o.deployment_id,
        "signal_id": o.signal_id,
        "parent_id": o.parent_id,
        "local_id": o.local_id,
        "strategy": o.strategy,
        "symbol": o.symbol,
        "side": SIDE_NAMES[o.side],
        "type": o.type.value,
        "tif": o.tif.value,
        "qty": o.qty,
        "fraction": o.fraction,
        "limit_price": o.limit,
        "stop_price": o.stop,
        "trail_amount": o.trail_amount,
        "trail_percent": o.trail_percent,
        "expire_at": o.expire_at,
        "sl": o.sl,
        "tp": o.tp,
        "reduce_only": o.reduce_only,
        "role": o.role,
        "tag": o.tag,
        "oco_group": o.oco_group,
        "status": o.status.value,
        "filled_qty": o.filled_qty,
        "avg_fill_price": o.avg_fill_price,
        "fees": o.fees,
        "reject_reason": o.reject_reason,
        "created_ts": o.created_ts,
        "updated_ts": o.updated_ts,
        "version": o.version,
    }


def change_from_row(row: Row[Any]) -> StatusChange:
    m = row._mapping
    return StatusChange(
        order_id=m["order_id"],
        seq=m["seq"],
        ts=m["ts"],
        status=OrderStatus(m["status"]),
        from_status=None if m["from_status"] is None else OrderStatus(m["from_status"]),
        filled_qty=m["filled_qty"],
        reason=m["reason"],
        raw=m["raw"],
    )


def change_values(c: StatusChange) -> dict[str, Any]:
    return {
        "order_id": c.order_id,
        "seq": c.seq,
        "ts": c.ts,
        "from_status": None if c.from_status is None else c.from_status.value,
        "status": c.status.value,
        "filled_qty": c.filled_qty,
        "reason": c.reason,
        "raw": c.raw,
    }


FILL_COLUMNS = (*T.fills.c, T.orders.c.client_order_id)


def fill_from_row(row: Row[Any]) -> FillRecord:
    m = row._mapping
    return FillRecord(
        client_order_id=m["client_order_id"],
        fill_id=m["fill_id"],
        ts=m["ts"],
        qty=m["qty"],
        price=m["price"],
        fee=m["fee"],
        fee_currency=m["fee_currency"],
        liquidity=Liquidity(m["liquidity"]),
        reason=m["reason"],
        raw=m["raw"],
        id=m["id"],
        order_id=m["order_id"],
    )


def trade_from_row(row: Row[Any]) -> TradeRecord:
    m = row._mapping
    return TradeRecord(
        run_id=m["run_id"],
        strategy=m["strategy"],
        symbol=m["symbol"],
        size=m["size"],
        entry_order_id=m["entry_order_id"],
        entry_price=m["entry_price"],
        entry_ts=m["entry_ts"],
        multiplier=m["multiplier"],
        entry_fee=m["entry_fee"],
        exit_order_id=m["exit_order_id"],
        exit_price=m["exit_price"],
        exit_ts=m["exit_ts"],
        exit_fee=m["exit_fee"],
        exit_reason=m["exit_reason"],
        tag=m["tag"],
        signal_id=m["signal_id"],
        prediction_id=m["prediction_id"],
        local_id=m["local_id"],
        id=m["id"],
        deployment_id=m["deployment_id"],
    )


def trade_values(t: TradeRecord) -> dict[str, Any]:
    return {
        "run_id": t.run_id,
        "deployment_id": t.deployment_id,
        "local_id": t.local_id,
        "strategy": t.strategy,
        "symbol": t.symbol,
        "size": t.size,
        "multiplier": t.multiplier,
        "entry_order_id": t.entry_order_id,
        "exit_order_id": t.exit_order_id,
        "signal_id": t.signal_id,
        "prediction_id": t.prediction_id,
        "entry_price": t.entry_price,
        "entry_ts": t.entry_ts,
        "entry_fee": t.entry_fee,
        "exit_price": t.exit_price,
        "exit_ts": t.exit_ts,
        "exit_fee": t.exit_fee,
        "exit_reason": t.exit_reason,
        "realized_pnl": t.realized_pnl,
        "status": "open" if t.is_open else "closed",
        "tag": t.tag,
    }


def position_from_row(row: Row[Any]) -> PositionSnapshot:
    m = row._mapping
    return PositionSnapshot(
        run_id=m["run_id"],
        ts=m["ts"],
        strategy=m["strategy"],
        symbol=m["symbol"],
        qty=m["qty"],
        avg_price=m["avg_price"],
        mark_price=m["mark_price"],
        realized_pnl=m["realized_pnl"],
        unrealized_pnl=m["unrealized_pnl"],
        fees=m["fees"],
        id=m["id"],
    )


def equity_from_row(row: Row[Any]) -> EquitySnapshot:
    m = row._mapping
    return EquitySnapshot(
        run_id=m["run_id"],
        ts=m["ts"],
        equity=m["equity"],
        cash=m["cash"],
        strategy=m["strategy"],
        realized_pnl=m["realized_pnl"],
        unrealized_pnl=m["unrealized_pnl"],
        fees=m["fees"],
        exposure=m["exposure"],
        id=m["id"],
    )
