"""Migrations: an empty database and one at the previous revision (with data) reach head, the data survives, the
migrated schema equals the models (`alembic check`), and databases at the wrong revision are refused with the fix.
On SQLite, and on PostgreSQL when TRADEFORGE_TEST_DATABASE_URL is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from tradeforge.core.errors import ConfigError
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.persistence import (
    EquitySnapshot,
    FillRecord,
    OrderRecord,
    RunMode,
    RunRecord,
    SchemaError,
    head_revision,
    migrate,
    open_database,
    require_current,
)
from tradeforge.persistence import tables as T
from tradeforge.persistence.migrate import alembic_config, current_revision, downgrade, schema_state
from tradeforge.persistence.testing import ScratchDatabase, available_backends, scratch_database

T0 = 1_704_067_200_000_000_000
HINT = "tradeforge db upgrade"


@pytest.fixture(params=available_backends())
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    with scratch_database(request.param, tmp_path, revision=None) as db:
        yield db


def revision_of(db: ScratchDatabase) -> str | None:
    with db.engine().connect() as conn:
        return current_revision(conn)


def our_tables(db: ScratchDatabase) -> set[str]:
    return set(inspect(db.engine()).get_table_names()) - {"alembic_version"}


def test_an_empty_database_reaches_head_and_matches_the_models(empty: ScratchDatabase) -> None:
    with pytest.raises(SchemaError, match=HINT):
        require_current(empty.url)
    assert migrate(empty.url) == head_revision() == revision_of(empty)
    assert our_tables(empty) == set(T.metadata.tables)
    with empty.engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), T.metadata)
    assert diff == [], f"models and migrations disagree; add a revision: {diff}"
    assert migrate(empty.url) == head_revision()  # idempotent
    require_current(empty.url)
    command.check(alembic_config(empty.url))  # `alembic check` through env.py's own engine: no new operations


def test_a_database_at_the_previous_revision_keeps_its_data(empty: ScratchDatabase) -> None:
    assert migrate(empty.url, "0001") == "0001"
    assert "equity_snapshots" not in our_tables(empty)
    # data written by the 0001 schema (plain SQL: the current repositories speak head)
    engine = empty.engine()
    with engine.begin() as conn:
        run_id = conn.execute(
            text(
                "INSERT INTO runs (key, mode, status, started_ts, stop_reason, info) "
                "VALUES ('old', 'live', 'running', :ts, '', '{}') RETURNING id"
            ),
            {"ts": T0},
        ).scalar_one()
        order = {c.name: None for c in T.orders.c if c.name != "id"}
        order.update(
            client_order_id="tfold-1",
            account="",
            run_id=run_id,
            strategy="s",
            symbol="X",
            side="buy",
            type="market",
            tif="gtc",
            qty=2.0,
            reduce_only=False,
            role="entry",
            tag="",
            status="accepted",
            filled_qty=0.0,
            fees=0.0,
            reject_reason="",
            created_ts=T0,
            updated_ts=T0,
            version=3,
        )
        order_id = conn.execute(insert(T.orders).values(**order).returning(T.orders.c.id)).scalar_one()
        conn.execute(
            insert(T.order_events).values(order_id=order_id, seq=0, ts=T0, status="new", filled_qty=0.0, reason="")
        )
    with pytest.raises(SchemaError, match=f"at schema revision 0001, this tradeforge needs {head_revision()}"):
        require_current(empty.url)
    with pytest.raises(SchemaError, match=HINT):
        open_database(empty.url)  # an older database is upgraded only on request
    assert migrate(empty.url) == head_revision()
    uows = empty.uow_factory()
    with uows() as uow:
        run = uow.runs.by_key("old")
        assert run is not None and run.heartbeat_ts is None  # the new column, empty for old rows
        old = uow.orders.get("tfold-1")
        assert (old.status, old.qty, old.version) == (OrderStatus.ACCEPTED, 2.0, 3)
        # the old rows carry on under the new schema
        assert uow.orders.record_fill(FillRecord("tfold-1", "t1", T0 + 1, 2.0, 100.0))
        uow.runs.heartbeat(run.id, T0 + 2)
        uow.snapshots.add_equity([EquitySnapshot(run.id, T0 + 2, 10_000.0, 9_800.0)])
        uow.commit()
    with uows() as uow:
        assert uow.orders.get("tfold-1").status is OrderStatus.FILLED
        assert [h.status for h in uow.orders.history("tfold-1")] == [OrderStatus.NEW, OrderStatus.FILLED]


def test_downgrade_and_upgrade_again_keep_the_older_tables_data(empty: ScratchDatabase) -> None:
    migrate(empty.url)
    uows = empty.uow_factory()
    with uows() as uow:
        run = uow.runs.add(RunRecord(RunMode.PAPER, T0, key="k1"))
        uow.orders.add(OrderRecord("tfk1-1", run.id, "s", "X", Side.SELL, OrderType.LIMIT, 1.0, T0, limit=5.0))
        uow.commit()
    uows.engine.dispose()
    assert downgrade(empty.url, "0001") == "0001"
    assert "equity_snapshots" not in our_tables(empty)
    assert migrate(empty.url) == head_revision()
    with uows() as uow:
        assert uow.orders.get("tfk1-1").limit == 5.0
    assert downgrade(empty.url, "base") is None
    assert our_tables(empty) == set()


def test_open_database_creates_the_schema_of_an_empty_database(empty: ScratchDatabase) -> None:
    engine = open_database(empty.url)
    try:
        with engine.connect() as conn:
            assert schema_state(conn) == ("current", head_revision())
    finally:
        engine.dispose()


def test_an_unknown_revision_is_refused(empty: ScratchDatabase) -> None:
    migrate(empty.url)
    with empty.engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="newer tradeforge"):
        require_current(empty.url)
    with pytest.raises(SchemaError, match="newer tradeforge"):
        migrate(empty.url)
    with pytest.raises(SchemaError, match="newer tradeforge"):
        open_database(empty.url, upgrade=True)


def test_tables_without_a_revision_are_refused(empty: ScratchDatabase) -> None:
    T.metadata.create_all(empty.engine())
    with pytest.raises(SchemaError, match="no schema revision"):
        require_current(empty.url)


def test_a_bad_revision_name_says_which_exist(empty: ScratchDatabase) -> None:
    with pytest.raises(SchemaError, match="known revisions: 0001, 0002"):
        migrate(empty.url, "0042")


def test_an_unreachable_server_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot open database") as info:
        require_current("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(info.value)


def test_sqlite_upgrade_keeps_foreign_keys_enforced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    migrate(url)
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.execute(select(T.runs.c.id)).all() == []
    finally:
        engine.dispose()
