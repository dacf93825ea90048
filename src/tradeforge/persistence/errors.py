"""Errors of the persistence layer. Each message says what was wrong and how to fix it.

Illegal order status changes raise core's IllegalTransition; malformed records raise core's DataError; a bad
database URL or a database at the wrong schema revision raise ConfigError (SchemaError).
"""

from __future__ import annotations

from tradeforge.core.errors import ConfigError, TradeforgeError


class PersistenceError(TradeforgeError):
    """A store refused an operation: a duplicate, a missing record, a concurrent change."""


class DuplicateClientOrderId(PersistenceError):
    """A client order id is already stored: every order needs a fresh one (they must never be reused)."""


class DuplicateRecord(PersistenceError):
    """A record with the same unique key (name, run key, snapshot time...) is already stored."""


class RecordNotFound(PersistenceError, LookupError):
    """No record has the given id or key."""


class ConcurrentUpdate(PersistenceError):
    """Another process changed the record between our read and our write: reload it and apply the change again."""


class SchemaError(ConfigError):
    """The database has no tradeforge schema, an older one, or one this version does not know."""
