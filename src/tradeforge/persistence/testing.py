"""Throw-away databases for tests (ours and those of the live runner, gateways and reconciliation).

SQLite always; PostgreSQL too when TRADEFORGE_TEST_DATABASE_URL is set (e.g. postgresql://postgres@127.0.0.1/test).
Each PostgreSQL scratch database is a schema of its own (tft_<random>), selected through the connection's
search_path, so tests never see each other's tables; it is dropped on exit.

    @pytest.fixture(params=available_backends())
    def db(request, tmp_path):
        with scratch_database(request.param, tmp_path) as db:
            yield db           # db.url, db.engine(), db.uow_factory()
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, Engine, text

from tradeforge.core.errors import ConfigError
from tradeforge.persistence.database import make_engine, parse_url
from tradeforge.persistence.migrate import migrate
from tradeforge.persistence.uow import SqlUnitOfWorkFactory

TEST_URL_VAR = "TRADEFORGE_TEST_DATABASE_URL"


def available_backends() -> list[str]:
    """["sqlite"], plus "postgresql" when TRADEFORGE_TEST_DATABASE_URL is set."""
    return ["sqlite", "postgresql"] if os.environ.get(TEST_URL_VAR, "").strip() else ["sqlite"]


@dataclass
class ScratchDatabase:
    backend: str
    url: URL
    _engines: list[Engine] = field(default_factory=list)

    def engine(self) -> Engine:
        """A new engine on this database (disposed when the scratch database goes away)."""
        engine = make_engine(self.url)
        self._engines.append(engine)
        return engine

    def uow_factory(self) -> SqlUnitOfWorkFactory:
        return SqlUnitOfWorkFactory(self.engine())

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()


@contextmanager
def scratch_database(backend: str, tmp_dir: Path, *, revision: str | None = "head") -> Iterator[ScratchDatabase]:
    """An empty database of the backend, migrated to revision (None: left empty), removed on exit."""
    name = f"tft_{secrets.token_hex(6)}"
    if backend == "sqlite":
        db = ScratchDatabase(backend, parse_url(f"sqlite:///{tmp_dir / (name + '.db')}"))
        try:
            if revision is not None:
                migrate(db.url, revision)
            yield db
        finally:
            db.dispose()
        return
    if backend != "postgresql":
        raise ConfigError(f"unknown test database backend {backend!r}: use 'sqlite' or 'postgresql'")
    base = os.environ.get(TEST_URL_VAR, "").strip()
    if not base:
        raise ConfigError(f"set {TEST_URL_VAR} (e.g. postgresql://postgres@127.0.0.1:5432/test) to test PostgreSQL")
    admin = make_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        db = ScratchDatabase(backend, parse_url(base).update_query_dict({"options": f"-csearch_path={name}"}))
        try:
            if revision is not None:
                migrate(db.url, revision)
            yield db
        finally:
            db.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        admin.dispose()
