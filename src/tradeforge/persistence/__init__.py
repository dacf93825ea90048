"""Persistence: repository protocols, an in-memory and a SQLAlchemy implementation, Alembic migrations.

The domain (core) never imports this package; records.py converts between core objects and stored records.
Nothing is connected at import: build an engine with open_database()/make_engine() and a unit-of-work factory
with SqlUnitOfWorkFactory(engine) (or MemoryStore() in tests), in service/bootstrap.
"""

from tradeforge.persistence.database import default_database_url, make_engine, parse_url
from tradeforge.persistence.errors import (
    ConcurrentUpdate,
    DuplicateClientOrderId,
    DuplicateRecord,
    PersistenceError,
    RecordNotFound,
    SchemaError,
)
from tradeforge.persistence.memory import MemoryStore, MemoryUnitOfWork
from tradeforge.persistence.migrate import head_revision, migrate, open_database, require_current
from tradeforge.persistence.protocols import UnitOfWork, UnitOfWorkFactory
from tradeforge.persistence.records import (
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
    make_client_order_id,
    new_run_key,
)
from tradeforge.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = [
    "ConcurrentUpdate",
    "DeploymentRecord",
    "DuplicateClientOrderId",
    "DuplicateRecord",
    "EquitySnapshot",
    "FillRecord",
    "MemoryStore",
    "MemoryUnitOfWork",
    "OrderRecord",
    "PersistenceError",
    "PositionSnapshot",
    "PredictionRecord",
    "RecordNotFound",
    "RunMode",
    "RunRecord",
    "RunStatus",
    "SchemaError",
    "SignalKind",
    "SignalRecord",
    "SignalStatus",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "StatusChange",
    "TradeRecord",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "default_database_url",
    "head_revision",
    "make_client_order_id",
    "make_engine",
    "migrate",
    "new_run_key",
    "open_database",
    "parse_url",
    "require_current",
]
