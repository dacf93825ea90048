"""The schema as SQLAlchemy Core tables (no ORM mapping: the repositories translate rows to records).

This is the schema at the head migration. A change here needs a new Alembic revision in migrations/versions that
brings a database from the previous head to this; test_persistence_migrations checks that the two agree.

Conventions: timestamps are BIGINT ns UTC; enums are short strings guarded by CHECK constraints; "no value" is
NULL; every constraint and index has a name (the naming convention), so migrations can refer to it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORDER_STATUSES = ("new", "submitted", "accepted", "partially_filled", "filled", "cancelled", "rejected", "expired")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("gtc", "ioc", "day", "gtt")
RUN_MODES = ("backtest", "paper", "live")
RUN_STATUSES = ("running", "stopped", "completed", "failed", "crashed")
SIGNAL_STATUSES = ("pending", "accepted", "rejected", "expired")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


metadata = MetaData(naming_convention=NAMING_CONVENTION)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("strategy", String(200), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("symbols", JSON, nullable=False),
    Column("timeframes", JSON, nullable=False),
    Column("account", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    UniqueConstraint("name"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(32), nullable=False),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=True),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_ts", BigInteger, nullable=False),
    Column("stopped_ts", BigInteger, nullable=True),
    Column("stop_reason", Text, nullable=False),
    Column("info", JSON, nullable=False),
    Column("heartbeat_ts", BigInteger, nullable=True),  # revision 0002
    UniqueConstraint("key"),
    CheckConstraint(one_of("mode", RUN_MODES), name="mode"),
    CheckConstraint(one_of("status", RUN_STATUSES), name="status"),
    Index(None, "deployment_id", "started_ts"),
)

signals = Table(
    "signals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=True),
    Column("strategy", String(100), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_until", BigInteger, nullable=False),
    Column("price", Double, nullable=True),
    Column("strength", Double, nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("decided_ts", BigInteger, nullable=True),
    CheckConstraint(one_of("side", ("buy", "sell")), name="side"),
    CheckConstraint(one_of("kind", ("entry", "exit")), name="kind"),
    CheckConstraint(one_of("status", SIGNAL_STATUSES), name="status"),
    CheckConstraint("valid_until >= valid_from", name="window"),
    Index(None, "strategy", "symbol", "valid_until"),
    Index(None, "run_id"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("signal_id", Integer, ForeignKey("signals.id"), nullable=True),
    Column("model", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("value", Double, nullable=False),
    Column("threshold", Double, nullable=True),
    Column("accepted", Boolean, nullable=True),
    Column("label", String(32), nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "signal_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_order_id", String(64), nullable=False),
    Column("exchange_order_id", String(128), nullable=True),
    Column("account", String(100), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=True),
    Column("signal_id", Integer, ForeignKey("signals.id"), nullable=True),
    Column("parent_id", Integer, ForeignKey("orders.id"), nullable=True),
    Column("local_id", Integer, nullable=True),
    Column("strategy", String(100), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("side", String(4), nullable=False),
    Column("type", String(16), nullable=False),
    Column("tif", String(8), nullable=False),
    Column("qty", Double, nullable=True),
    Column("fraction", Double, nullable=True),
    Column("limit_price", Double, nullable=True),
    Column("stop_price", Double, nullable=True),
    Column("trail_amount", Double, nullable=True),
    Column("trail_percent", Double, nullable=True),
    Column("expire_at", BigInteger, nullable=True),
    Column("sl", Double, nullable=True),
    Column("tp", Double, nullable=True),
    Column("reduce_only", Boolean, nullable=False),
    Column("role", String(16), nullable=False),
    Column("tag", String(200), nullable=False),
    Column("oco_group", String(64), nullable=True),
    Column("status", String(20), nullable=False),
    Column("filled_qty", Double, nullable=False),
    Column("avg_fill_price", Double, nullable=True),
    Column("fees", Double, nullable=False),
    Column("reject_reason", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("client_order_id"),
    UniqueConstraint("account", "exchange_order_id"),
    CheckConstraint(one_of("side", ("buy", "sell")), name="side"),
    CheckConstraint(one_of("type", ORDER_TYPES), name="type"),
    CheckConstraint(one_of("tif", TIFS), name="tif"),
    CheckConstraint(one_of("status", ORDER_STATUSES), name="status"),
    CheckConstraint("qty IS NULL OR qty > 0", name="qty_positive"),
    CheckConstraint("qty IS NOT NULL OR fraction IS NOT NULL", name="sized"),
    CheckConstraint("filled_qty >= 0", name="filled_not_negative"),
    Index(None, "run_id", "status"),
    Index(None, "deployment_id", "status"),  # revision 0002
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("from_status", String(20), nullable=True),
    Column("status", String(20), nullable=False),
    Column("filled_qty", Double, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", JSON, nullable=True),
    UniqueConstraint("order_id", "seq"),
    CheckConstraint(one_of("status", ORDER_STATUSES), name="status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("fill_id", String(128), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("qty", Double, nullable=False),
    Column("price", Double, nullable=False),
    Column("fee", Double, nullable=False),
    Column("fee_currency", String(16), nullable=True),
    Column("liquidity", String(8), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("raw", JSON, nullable=True),
    UniqueConstraint("order_id", "fill_id"),
    CheckConstraint("qty > 0", name="qty_positive"),
    CheckConstraint("price > 0", name="price_positive"),
    CheckConstraint(one_of("liquidity", ("maker", "taker")), name="liquidity"),
    Index(None, "ts"),
)

trades = Table(
    "trades",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=True),
    Column("local_id", Integer, nullable=True),
    Column("strategy", String(100), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("size", Double, nullable=False),
    Column("multiplier", Double, nullable=False),
    Column("entry_order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("exit_order_id", Integer, ForeignKey("orders.id"), nullable=True),
    Column("signal_id", Integer, ForeignKey("signals.id"), nullable=True),
    Column("prediction_id", Integer, ForeignKey("predictions.id"), nullable=True),
    Column("entry_price", Double, nullable=False),
    Column("entry_ts", BigInteger, nullable=False),
    Column("entry_fee", Double, nullable=False),
    Column("exit_price", Double, nullable=True),
    Column("exit_ts", BigInteger, nullable=True),
    Column("exit_fee", Double, nullable=False),
    Column("exit_reason", String(32), nullable=False),
    Column("realized_pnl", Double, nullable=True),
    Column("status", String(8), nullable=False),
    Column("tag", String(200), nullable=False),
    UniqueConstraint("run_id", "local_id"),
    CheckConstraint("size <> 0", name="size_not_zero"),
    CheckConstraint(one_of("status", ("open", "closed")), name="status"),
    CheckConstraint(
        "(status = 'open' AND exit_ts IS NULL AND realized_pnl IS NULL) OR "
        "(status = 'closed' AND exit_price IS NOT NULL AND exit_ts IS NOT NULL AND realized_pnl IS NOT NULL)",
        name="closed_complete",
    ),
    Index(None, "deployment_id", "status"),
    Index(None, "run_id", "status"),
)

position_snapshots = Table(
    "position_snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("strategy", String(100), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("qty", Double, nullable=False),
    Column("avg_price", Double, nullable=True),
    Column("mark_price", Double, nullable=True),
    Column("realized_pnl", Double, nullable=False),
    Column("unrealized_pnl", Double, nullable=True),
    Column("fees", Double, nullable=False),
    UniqueConstraint("run_id", "ts", "strategy", "symbol"),
)

equity_snapshots = Table(  # revision 0002
    "equity_snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("strategy", String(100), nullable=False),
    Column("equity", Double, nullable=False),
    Column("cash", Double, nullable=False),
    Column("realized_pnl", Double, nullable=False),
    Column("unrealized_pnl", Double, nullable=False),
    Column("fees", Double, nullable=False),
    Column("exposure", Double, nullable=False),
    UniqueConstraint("run_id", "ts", "strategy"),
)
