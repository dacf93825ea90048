"""`tradeforge db ...`: the database that remembers deployments, runs, orders, fills and trades."""

from __future__ import annotations

from typing import Annotated

import typer

from tradeforge.cli.common import console, fail
from tradeforge.core.errors import TradeforgeError
from tradeforge.service import db as service

db_app = typer.Typer(no_args_is_help=True, help="The tradeforge database (SQLite by default, PostgreSQL by URL).")
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", envvar="TRADEFORGE_DB", help="database URL or SQLite file (default: the user's data folder)"),
]


@db_app.command()
def status(url: UrlOpt = None, debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False) -> None:
    """Where the database is and which schema revision it has."""
    try:
        s = service.status(url)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(f"{s.where}: schema {s.state} (revision {s.revision or 'none'}; this tradeforge needs {s.head})")


@db_app.command()
def upgrade(
    url: UrlOpt = None,
    revision: Annotated[str, typer.Option(help="target revision (default: the newest)")] = "head",
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Create or migrate the schema; data is kept."""
    try:
        before, after = service.upgrade(url, revision)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(f"{after.where}: revision {before.revision or 'none'} -> {after.revision} ({after.state})")
