"""Equity snapshots, run heartbeats (to tell a crashed run from a running one) and an index for the open orders
of a deployment (what reconciliation asks at every start).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "equity_snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("runs.id", name="fk_equity_snapshots_run_id_runs", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("equity", sa.Double, nullable=False),
        sa.Column("cash", sa.Double, nullable=False),
        sa.Column("realized_pnl", sa.Double, nullable=False),
        sa.Column("unrealized_pnl", sa.Double, nullable=False),
        sa.Column("fees", sa.Double, nullable=False),
        sa.Column("exposure", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_equity_snapshots"),
        sa.UniqueConstraint("run_id", "ts", "strategy", name="uq_equity_snapshots_run_id_ts_strategy"),
    )
    # existing runs keep a NULL heartbeat: "never reported", which is what they are
    op.add_column("runs", sa.Column("heartbeat_ts", sa.BigInteger, nullable=True))
    op.create_index("ix_orders_deployment_id_status", "orders", ["deployment_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_orders_deployment_id_status", table_name="orders")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_ts")
    op.drop_table("equity_snapshots")
