"""Database URLs, the default location, and the rules of the package's imports (no database needed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tradeforge.persistence as persistence
from tradeforge.core.errors import ConfigError
from tradeforge.persistence.database import default_database_path, default_database_url, make_engine, parse_url
from tradeforge.persistence.migrate import MIGRATIONS_DIR, head_revision, revisions


def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert parse_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.db").drivername == "sqlite"


def test_a_path_is_a_sqlite_file(tmp_path: Path) -> None:
    url = parse_url(str(tmp_path / "t.db"))
    assert url.drivername == "sqlite" and url.database == str(tmp_path / "t.db")


@pytest.mark.parametrize(
    ("url", "match"),
    [("", "empty"), ("mysql://u@h/db", "SQLite or PostgreSQL"), ("postgresql://u@h:notaport/db", "cannot read")],
)
def test_bad_urls_say_what_to_write(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_url(url)
    assert "postgresql://" in str(info.value)  # the example of a good URL


def test_passwords_never_reach_messages() -> None:
    with pytest.raises(ConfigError) as info:
        parse_url("mysql://me:s3cret@h/db")
    assert "s3cret" not in str(info.value)


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRADEFORGE_DB", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_database_path() == tmp_path / ".local" / "share" / "tradeforge" / "tradeforge.db"
    assert default_database_url() == f"sqlite:///{tmp_path}/.local/share/tradeforge/tradeforge.db"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_database_path() == tmp_path / "xdg" / "tradeforge" / "tradeforge.db"
    monkeypatch.setenv("TRADEFORGE_DB", "postgresql://me@db/trading")
    assert default_database_url() == "postgresql://me@db/trading"


def test_the_default_folder_is_made_but_not_an_arbitrary_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRADEFORGE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    engine = make_engine()  # no I/O but the folder: SQLite opens the file lazily
    engine.dispose()
    assert (tmp_path / "data" / "tradeforge").is_dir()
    with pytest.raises(ConfigError, match="does not exist"):
        make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")


def test_migrations_ship_inside_the_package() -> None:
    package = Path(persistence.__file__).parent
    assert MIGRATIONS_DIR.is_relative_to(package)
    assert (MIGRATIONS_DIR / "env.py").is_file()
    # setuptools' find_packages ships only folders with __init__.py
    assert (MIGRATIONS_DIR / "__init__.py").is_file() and (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert revisions() == ["0001", "0002"] and head_revision() == "0002"


FORBIDDEN = (
    "tradeforge.sim",
    "tradeforge.data",
    "tradeforge.service",
    "tradeforge.cli",
    "tradeforge.ml",
    "tradeforge.live",
    "tradeforge.api",
    "tradeforge.web",
)


def test_persistence_imports_only_core() -> None:
    root = Path(persistence.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.relative_to(root)} imports {name}"


def test_core_never_imports_persistence_or_sqlalchemy() -> None:
    core = Path(persistence.__file__).parent.parent / "core"
    for path in core.rglob("*.py"):
        text = path.read_text()
        assert "sqlalchemy" not in text and "tradeforge.persistence" not in text, path.name
