"""The database use cases behind `tradeforge db ...`: where it is, which schema revision it has, upgrades."""

from __future__ import annotations

from dataclasses import dataclass

from tradeforge.persistence.database import describe, make_engine, parse_url
from tradeforge.persistence.migrate import head_revision, migrate, schema_state


@dataclass(frozen=True)
class DbStatus:
    where: str
    state: str  # empty, behind, current, unknown...
    revision: str | None
    head: str


def status(url: str | None = None) -> DbStatus:
    """The database (URL or path; default $TRADEFORGE_DB or the user's data folder) and its schema revision."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            state, revision = schema_state(conn)
        return DbStatus(describe(parse_url(url)), str(state), revision, head_revision())
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head") -> tuple[DbStatus, DbStatus]:
    """Migrate the database to ``revision`` (default: the newest); returns the status before and after."""
    before = status(url)
    migrate(url, revision)
    return before, status(url)
