"""Where the database is and how to connect: SQLite in the user's data folder by default, PostgreSQL by URL.

Nothing here runs at import: engines are built by make_engine() and passed in (service/bootstrap owns them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tradeforge.core.errors import ConfigError

ENV_VAR = "TRADEFORGE_DB"
SUPPORTED = ("sqlite", "postgresql")
_EXAMPLES = "e.g. sqlite:////home/me/tradeforge.db, a file path, or postgresql://user:password@host:5432/dbname"


def default_database_path() -> Path:
    """~/.local/share/tradeforge/tradeforge.db, or under $XDG_DATA_HOME when that is set."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tradeforge" / "tradeforge.db"


def default_database_url() -> str:
    """$TRADEFORGE_DB (a URL or a file path) if set, else the SQLite file in the user's data folder."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return configured
    return f"sqlite:///{default_database_path()}"


def parse_url(url: str | URL | None = None) -> URL:
    """A SQLAlchemy URL from a URL or a file path: postgresql:// and postgres:// get the psycopg (3) driver, a path
    becomes sqlite:///path. Anything else than SQLite or PostgreSQL raises ConfigError."""
    if url is None:
        url = default_database_url()
    if isinstance(url, str):
        text = url.strip()
        if not text:
            raise ConfigError(f"the database URL is empty: set {ENV_VAR} or pass one ({_EXAMPLES})")
        if "://" not in text:  # a file path
            text = f"sqlite:///{Path(text).expanduser()}"
        try:
            parsed = make_url(text)
        except (ArgumentError, ValueError) as exc:
            raise ConfigError(f"cannot read database URL {url!r}: {exc}; expected a URL ({_EXAMPLES})") from exc
    else:
        parsed = url
    backend = parsed.get_backend_name()
    if backend == "postgres" or parsed.drivername == "postgresql":  # no driver named: psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in SUPPORTED:
        raise ConfigError(
            f"database {parsed.render_as_string(hide_password=True)!r}: tradeforge stores its data in SQLite or "
            f"PostgreSQL, not {backend!r} ({_EXAMPLES})"
        )
    return parsed


def describe(url: URL) -> str:
    """The URL for messages: never the password."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, None for an in-memory database."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database)


def make_engine(url: str | URL | None = None, *, echo: bool = False, create_dirs: bool | None = None) -> Engine:
    """An engine for url (default: default_database_url()).

    SQLite gets real transactions (BEGIN IMMEDIATE: a unit of work holds the write lock from its start, so two
    processes cannot interleave a read-modify-write), foreign keys, WAL journaling and a busy timeout. An in-memory
    SQLite database is shared by all connections of the engine. create_dirs makes the SQLite file's folder (default:
    only for the default location in the user's data folder).
    """
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    backend = parsed.get_backend_name()
    path = sqlite_path(parsed)
    if backend == "sqlite":
        if path is None:
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            if create_dirs is None:
                create_dirs = path.expanduser().resolve() == default_database_path().resolve()
            if create_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.parent.exists():
                raise ConfigError(
                    f"the folder of the SQLite database {path} does not exist: create it, or choose another file "
                    f"with {ENV_VAR}"
                )
            kwargs.update(connect_args={"timeout": 30.0})
    else:
        kwargs.update(pool_pre_ping=True)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"no database driver for {describe(parsed)}: {exc}. For PostgreSQL install psycopg "
            "(pip install 'psycopg[binary]')"
        ) from exc
    except ArgumentError as exc:
        raise ConfigError(f"cannot use database URL {describe(parsed)}: {exc} ({_EXAMPLES})") from exc
    if backend == "sqlite":
        _configure_sqlite(engine, wal=path is not None)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """SQLAlchemy's recipe for SQLite transactions that mean what they say (pysqlite's own BEGIN handling is
    disabled; we emit BEGIN ourselves), plus foreign keys and WAL."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")  # a committed order survives a power cut
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get("tradeforge_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
