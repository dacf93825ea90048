"""Schema migrations through Alembic's command API, with the scripts shipped inside the package.

- migrate(url): bring a database (empty or older) to the head revision (what `tradeforge db upgrade` runs);
- require_current(engine): refuse, with a fix-it message, a database that is not at head;
- open_database(url): an engine, checked; an empty database gets the schema (no set-up for SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, Connection, Engine, inspect
from sqlalchemy.exc import OperationalError

from tradeforge.core.errors import ConfigError
from tradeforge.persistence.database import describe, make_engine
from tradeforge.persistence.errors import SchemaError
from tradeforge.persistence.tables import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT = "run `tradeforge db upgrade` (back up a SQLite file first)"
SchemaState = Literal["empty", "current", "behind", "unknown", "unversioned"]


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic Config pointing at the package's migrations (for the command API; url only for the bare CLI)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise SchemaError(f"no migration scripts found in {MIGRATIONS_DIR}: reinstall tradeforge")
    return head


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [s.revision for s in reversed(list(script_directory().walk_revisions()))]


@contextmanager
def _engine_for(db: str | URL | Engine | None) -> Iterator[Engine]:
    if isinstance(db, Engine):
        yield db
        return
    engine = make_engine(db)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _connect(engine: Engine) -> Iterator[Connection]:
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise ConfigError(
            f"cannot open database {describe(engine.url)}: {exc.orig}. Check the URL ($TRADEFORGE_DB), that the "
            "server is running and that the user may connect"
        ) from exc
    with conn:
        yield conn


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def schema_state(conn: Connection) -> tuple[SchemaState, str | None]:
    """("empty" | "current" | "behind" | "unknown" | "unversioned", current revision)."""
    rev = current_revision(conn)
    if rev is None:
        existing = set(inspect(conn).get_table_names())
        ours = set(metadata.tables)
        return ("unversioned" if existing & ours else "empty"), None
    known = revisions()
    if rev == known[-1]:
        return "current", rev
    if rev in known:
        return "behind", rev
    return "unknown", rev


def _check(conn: Connection, url: URL) -> None:
    state, rev = schema_state(conn)
    where = describe(url)
    head = head_revision()
    if state == "current":
        return
    if state == "empty":
        raise SchemaError(f"database {where} has no tradeforge tables yet: {UPGRADE_HINT} to create them")
    if state == "behind":
        raise SchemaError(f"database {where} is at schema revision {rev}, this tradeforge needs {head}: {UPGRADE_HINT}")
    if state == "unknown":
        raise SchemaError(
            f"database {where} is at schema revision {rev!r}, which this tradeforge does not know (known: "
            f"{', '.join(revisions())}); it was probably written by a newer tradeforge: upgrade tradeforge, or point "
            "$TRADEFORGE_DB at another database"
        )
    raise SchemaError(
        f"database {where} has tradeforge tables but no schema revision (made without migrations?): move it aside "
        f"and {UPGRADE_HINT}, or stamp it if you know its revision"
    )


def require_current(db: str | URL | Engine | None = None) -> None:
    """Raise SchemaError (a ConfigError) with the fix unless the database is at the head revision."""
    with _engine_for(db) as engine, _connect(engine) as conn:
        _check(conn, engine.url)
        conn.rollback()


def _run(db: str | URL | Engine | None, revision: str, *, up: bool) -> str | None:
    with _engine_for(db) as engine, _connect(engine) as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # SQLite copies tables to alter them; foreign keys must be off (only possible outside a transaction)
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            state, rev = schema_state(conn)
            conn.rollback()
            if state == "unknown":
                raise SchemaError(
                    f"database {describe(engine.url)} is at schema revision {rev!r}, which this tradeforge does not "
                    "know: it was written by a newer tradeforge; upgrade tradeforge"
                )
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            try:
                with conn.begin():
                    if up:
                        command.upgrade(cfg, revision)
                    else:
                        command.downgrade(cfg, revision)
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise SchemaError(
                                f"migrating {describe(engine.url)} to {revision} broke foreign keys {broken[:5]}: "
                                "rolled back; please report this"
                            )
            except CommandError as exc:
                raise SchemaError(
                    f"cannot migrate {describe(engine.url)} to {revision!r}: {exc} (known revisions: "
                    f"{', '.join(revisions())}, or 'head')"
                ) from exc
            new = current_revision(conn)
            conn.rollback()
            return new
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def migrate(db: str | URL | Engine | None = None, revision: str = "head") -> str | None:
    """Upgrade the database (URL, path, engine; default: default_database_url()) to revision. Idempotent; data is
    kept. Returns the revision reached."""
    return _run(db, revision, up=True)


def downgrade(db: str | URL | Engine | None, revision: str) -> str | None:
    """Downgrade the database to revision ("base" removes every table). Data in dropped tables is lost."""
    return _run(db, revision, up=False)


def open_database(url: str | URL | None = None, *, upgrade: bool = False) -> Engine:
    """An engine on a database ready for this tradeforge.

    An empty database gets the schema (first use needs no set-up); an older one is upgraded only when upgrade is
    true (else SchemaError says to run `tradeforge db upgrade`); an unknown revision is refused.
    """
    engine = make_engine(url)
    try:
        with _connect(engine) as conn:
            state, _ = schema_state(conn)
            conn.rollback()
        if state == "empty" or (state == "behind" and upgrade):
            migrate(engine)
        else:
            require_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
