"""The SQL unit of work: one connection and one transaction shared by every repository.

    uow_factory = SqlUnitOfWorkFactory(engine)      # built once, by service/bootstrap
    with uow_factory() as uow:
        uow.orders.add(...)
        uow.commit()

commit() makes the work durable and starts a new transaction on the same connection; leaving the block rolls back
whatever was not committed (after an exception too), so a crash mid-way leaves nothing half-written.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, RootTransaction

from tradeforge.core.errors import DataError
from tradeforge.persistence.sqlalchemy_repo import (
    SqlDeployments,
    SqlOrders,
    SqlPredictions,
    SqlRuns,
    SqlSignals,
    SqlSnapshots,
    SqlTrades,
)


class SqlUnitOfWork:
    deployments: SqlDeployments
    runs: SqlRuns
    signals: SqlSignals
    predictions: SqlPredictions
    orders: SqlOrders
    trades: SqlTrades
    snapshots: SqlSnapshots

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        """read_only: on SQLite, do not take the write lock at the start (readers then never wait for a writer);
        on PostgreSQL, a READ ONLY transaction. commit() is then refused."""
        self._engine = engine
        self._read_only = read_only
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    def __enter__(self) -> SqlUnitOfWork:
        if self._conn is not None:
            raise DataError("this unit of work is already in use: make one per `with` block")
        conn = self._engine.connect()
        if self._read_only:
            options = {"tradeforge_read_only": True}
            if conn.dialect.name == "postgresql":
                options["postgresql_readonly"] = True
            conn = conn.execution_options(**options)
        self._conn = conn
        try:
            self._tx = conn.begin()
        except BaseException:
            conn.close()
            self._conn = None
            raise
        self.deployments = SqlDeployments(conn)
        self.runs = SqlRuns(conn)
        self.signals = SqlSignals(conn)
        self.predictions = SqlPredictions(conn)
        self.orders = SqlOrders(conn)
        self.trades = SqlTrades(conn)
        self.snapshots = SqlSnapshots(conn)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None:
            return
        try:
            if tx is not None and tx.is_active:
                tx.rollback()
        finally:
            conn.close()

    def _active(self, what: str) -> tuple[Connection, RootTransaction]:
        if self._conn is None or self._tx is None:
            raise DataError(f"{what}() outside a `with uow:` block")
        return self._conn, self._tx

    def commit(self) -> None:
        conn, tx = self._active("commit")
        if self._read_only:
            raise DataError("this unit of work is read-only: make a SqlUnitOfWork(engine) to change things")
        tx.commit()
        self._tx = conn.begin()

    def rollback(self) -> None:
        conn, tx = self._active("rollback")
        tx.rollback()
        self._tx = conn.begin()


class SqlUnitOfWorkFactory:
    """A UnitOfWorkFactory over an engine: each call makes a fresh unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def reader(self) -> SqlUnitOfWork:
        """A read-only unit of work (CLI listings, dashboards)."""
        return SqlUnitOfWork(self.engine, read_only=True)


if TYPE_CHECKING:  # mypy proves both stores satisfy the protocols
    from tradeforge.persistence.memory import MemoryStore
    from tradeforge.persistence.protocols import UnitOfWork, UnitOfWorkFactory

    def _conforms(engine: Engine, store: MemoryStore) -> tuple[UnitOfWork, UnitOfWork, list[UnitOfWorkFactory]]:
        return SqlUnitOfWork(engine), store.uow(), [SqlUnitOfWorkFactory(engine), store]
