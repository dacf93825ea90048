"""Initial schema: deployments, runs, signals, predictions, orders with their status history and fills, trades,
position snapshots.

A migration is a frozen copy of the schema at its time: it never imports tables.py.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ORDER_STATUSES = ("new", "submitted", "accepted", "partially_filled", "filled", "cancelled", "rejected", "expired")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def pk() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True)


def fk(column: str, table: str, target: str, *, nullable: bool, ondelete: str | None = None) -> sa.Column[int]:
    return sa.Column(
        column,
        sa.Integer,
        sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}", ondelete=ondelete),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "deployments",
        pk(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("strategy", sa.String(200), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("symbols", sa.JSON, nullable=False),
        sa.Column("timeframes", sa.JSON, nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint("name", name="uq_deployments_name"),
    )
    op.create_table(
        "runs",
        pk(),
        sa.Column("key", sa.String(32), nullable=False),
        fk("deployment_id", "runs", "deployments", nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_ts", sa.BigInteger, nullable=False),
        sa.Column("stopped_ts", sa.BigInteger, nullable=True),
        sa.Column("stop_reason", sa.Text, nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("key", name="uq_runs_key"),
        sa.CheckConstraint(one_of("mode", ("backtest", "paper", "live")), name="ck_runs_mode"),
        sa.CheckConstraint(
            one_of("status", ("running", "stopped", "completed", "failed", "crashed")), name="ck_runs_status"
        ),
    )
    op.create_index("ix_runs_deployment_id_started_ts", "runs", ["deployment_id", "started_ts"])
    op.create_table(
        "signals",
        pk(),
        fk("run_id", "signals", "runs", nullable=False),
        fk("deployment_id", "signals", "deployments", nullable=True),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("valid_from", sa.BigInteger, nullable=False),
        sa.Column("valid_until", sa.BigInteger, nullable=False),
        sa.Column("price", sa.Double, nullable=True),
        sa.Column("strength", sa.Double, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("decided_ts", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
        sa.CheckConstraint(one_of("side", ("buy", "sell")), name="ck_signals_side"),
        sa.CheckConstraint(one_of("kind", ("entry", "exit")), name="ck_signals_kind"),
        sa.CheckConstraint(one_of("status", ("pending", "accepted", "rejected", "expired")), name="ck_signals_status"),
        sa.CheckConstraint("valid_until >= valid_from", name="ck_signals_window"),
    )
    op.create_index("ix_signals_strategy_symbol_valid_until", "signals", ["strategy", "symbol", "valid_until"])
    op.create_index("ix_signals_run_id", "signals", ["run_id"])
    op.create_table(
        "predictions",
        pk(),
        fk("run_id", "predictions", "runs", nullable=False),
        fk("signal_id", "predictions", "signals", nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("threshold", sa.Double, nullable=True),
        sa.Column("accepted", sa.Boolean, nullable=True),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
    )
    op.create_index("ix_predictions_signal_id", "predictions", ["signal_id"])
    op.create_table(
        "orders",
        pk(),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("exchange_order_id", sa.String(128), nullable=True),
        sa.Column("account", sa.String(100), nullable=False),
        fk("run_id", "orders", "runs", nullable=False),
        fk("deployment_id", "orders", "deployments", nullable=True),
        fk("signal_id", "orders", "signals", nullable=True),
        fk("parent_id", "orders", "orders", nullable=True),
        sa.Column("local_id", sa.Integer, nullable=True),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("tif", sa.String(8), nullable=False),
        sa.Column("qty", sa.Double, nullable=True),
        sa.Column("fraction", sa.Double, nullable=True),
        sa.Column("limit_price", sa.Double, nullable=True),
        sa.Column("stop_price", sa.Double, nullable=True),
        sa.Column("trail_amount", sa.Double, nullable=True),
        sa.Column("trail_percent", sa.Double, nullable=True),
        sa.Column("expire_at", sa.BigInteger, nullable=True),
        sa.Column("sl", sa.Double, nullable=True),
        sa.Column("tp", sa.Double, nullable=True),
        sa.Column("reduce_only", sa.Boolean, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("oco_group", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_qty", sa.Double, nullable=False),
        sa.Column("avg_fill_price", sa.Double, nullable=True),
        sa.Column("fees", sa.Double, nullable=False),
        sa.Column("reject_reason", sa.Text, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("client_order_id", name="uq_orders_client_order_id"),
        sa.UniqueConstraint("account", "exchange_order_id", name="uq_orders_account_exchange_order_id"),
        sa.CheckConstraint(one_of("side", ("buy", "sell")), name="ck_orders_side"),
        sa.CheckConstraint(
            one_of("type", ("market", "limit", "stop", "stop_limit", "trailing_stop")), name="ck_orders_type"
        ),
        sa.CheckConstraint(one_of("tif", ("gtc", "ioc", "day", "gtt")), name="ck_orders_tif"),
        sa.CheckConstraint(one_of("status", ORDER_STATUSES), name="ck_orders_status"),
        sa.CheckConstraint("qty IS NULL OR qty > 0", name="ck_orders_qty_positive"),
        sa.CheckConstraint("qty IS NOT NULL OR fraction IS NOT NULL", name="ck_orders_sized"),
        sa.CheckConstraint("filled_qty >= 0", name="ck_orders_filled_not_negative"),
    )
    op.create_index("ix_orders_run_id_status", "orders", ["run_id", "status"])
    op.create_table(
        "order_events",
        pk(),
        fk("order_id", "order_events", "orders", nullable=False, ondelete="CASCADE"),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_qty", sa.Double, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.UniqueConstraint("order_id", "seq", name="uq_order_events_order_id_seq"),
        sa.CheckConstraint(one_of("status", ORDER_STATUSES), name="ck_order_events_status"),
    )
    op.create_table(
        "fills",
        pk(),
        fk("order_id", "fills", "orders", nullable=False, ondelete="CASCADE"),
        sa.Column("fill_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("qty", sa.Double, nullable=False),
        sa.Column("price", sa.Double, nullable=False),
        sa.Column("fee", sa.Double, nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=True),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("raw", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
        sa.UniqueConstraint("order_id", "fill_id", name="uq_fills_order_id_fill_id"),
        sa.CheckConstraint("qty > 0", name="ck_fills_qty_positive"),
        sa.CheckConstraint("price > 0", name="ck_fills_price_positive"),
        sa.CheckConstraint(one_of("liquidity", ("maker", "taker")), name="ck_fills_liquidity"),
    )
    op.create_index("ix_fills_ts", "fills", ["ts"])
    op.create_table(
        "trades",
        pk(),
        fk("run_id", "trades", "runs", nullable=False),
        fk("deployment_id", "trades", "deployments", nullable=True),
        sa.Column("local_id", sa.Integer, nullable=True),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("size", sa.Double, nullable=False),
        sa.Column("multiplier", sa.Double, nullable=False),
        fk("entry_order_id", "trades", "orders", nullable=False),
        fk("exit_order_id", "trades", "orders", nullable=True),
        fk("signal_id", "trades", "signals", nullable=True),
        fk("prediction_id", "trades", "predictions", nullable=True),
        sa.Column("entry_price", sa.Double, nullable=False),
        sa.Column("entry_ts", sa.BigInteger, nullable=False),
        sa.Column("entry_fee", sa.Double, nullable=False),
        sa.Column("exit_price", sa.Double, nullable=True),
        sa.Column("exit_ts", sa.BigInteger, nullable=True),
        sa.Column("exit_fee", sa.Double, nullable=False),
        sa.Column("exit_reason", sa.String(32), nullable=False),
        sa.Column("realized_pnl", sa.Double, nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        sa.UniqueConstraint("run_id", "local_id", name="uq_trades_run_id_local_id"),
        sa.CheckConstraint("size <> 0", name="ck_trades_size_not_zero"),
        sa.CheckConstraint(one_of("status", ("open", "closed")), name="ck_trades_status"),
        sa.CheckConstraint(
            "(status = 'open' AND exit_ts IS NULL AND realized_pnl IS NULL) OR "
            "(status = 'closed' AND exit_price IS NOT NULL AND exit_ts IS NOT NULL AND realized_pnl IS NOT NULL)",
            name="ck_trades_closed_complete",
        ),
    )
    op.create_index("ix_trades_deployment_id_status", "trades", ["deployment_id", "status"])
    op.create_index("ix_trades_run_id_status", "trades", ["run_id", "status"])
    op.create_table(
        "position_snapshots",
        pk(),
        fk("run_id", "position_snapshots", "runs", nullable=False, ondelete="CASCADE"),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("qty", sa.Double, nullable=False),
        sa.Column("avg_price", sa.Double, nullable=True),
        sa.Column("mark_price", sa.Double, nullable=True),
        sa.Column("realized_pnl", sa.Double, nullable=False),
        sa.Column("unrealized_pnl", sa.Double, nullable=True),
        sa.Column("fees", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_position_snapshots"),
        sa.UniqueConstraint(
            "run_id", "ts", "strategy", "symbol", name="uq_position_snapshots_run_id_ts_strategy_symbol"
        ),
    )


def downgrade() -> None:
    for table in (
        "position_snapshots",
        "trades",
        "fills",
        "order_events",
        "orders",
        "predictions",
        "signals",
        "runs",
        "deployments",
    ):
        op.drop_table(table)
