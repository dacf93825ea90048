"""`tradeforge data ...`: download, update, import, list, show, resample and validate bars in the bar store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeforge.cli.common import console, err_console, fail
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.data.resample import Session
from tradeforge.data.store import BarStore
from tradeforge.data.validate import Check
from tradeforge.service import data as service

data_app = typer.Typer(
    no_args_is_help=True,
    help="Bars in the local Parquet bar store: download from exchanges (ccxt) or Yahoo, import files, inspect.",
)

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        envvar="TRADEFORGE_STORE",
        help="bar store folder (default: $TRADEFORGE_STORE, else the user's data folder/tradeforge/bars)",
    ),
]
DebugOpt = Annotated[bool, typer.Option(help="show full tracebacks")]
ColumnOpt = Annotated[
    list[str] | None,
    typer.Option("--column", "-c", help="column mapping THEIRS=OURS, e.g. -c Date=timestamp -c 'Adj Close'=close"),
]
TzOpt = Annotated[str | None, typer.Option(help="time zone of times written without one (e.g. UTC, Europe/Berlin)")]


def _store(path: Path | None) -> BarStore:
    return BarStore(service.store_root(path))


def _columns(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        theirs, sep, ours = pair.partition("=")
        if not sep or not theirs or not ours:
            raise ConfigError(f"--column {pair!r}: write it as THEIRS=OURS, e.g. --column Date=timestamp")
        out[theirs] = ours
    return out


@contextmanager
def _download_progress() -> Iterator[Callable[[str, int, int], None]]:
    """One line per symbol: bars stored so far and the time reached."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} bars"),
        TextColumn("{task.fields[newest]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def update(label: str, done: int, newest: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=None, newest="")
            progress.update(tasks[label], completed=done, newest=f"up to {iso(newest)}")

        yield update


def _outcomes_table(title: str, outcomes: list[service.Outcome]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("series", "new bars", "newest bar", "status"):
        table.add_column(col, justify="right" if col == "new bars" else "left")
    for o in outcomes:
        name = f"{o.source}:{o.symbol}@{o.timeframe}"
        if o.report is not None:
            newest = iso(o.report.last_ts) if o.report.last_ts is not None else "-"
            table.add_row(name, f"{o.report.new_bars:,}", newest, "[green]ok[/]")
        else:
            table.add_row(name, "-", "-", f"[red]failed[/]: {o.error}")
    return table


def _finish(outcomes: list[service.Outcome], title: str) -> None:
    console.print(_outcomes_table(title, outcomes))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        err_console.print(
            f"[bold red]error:[/] {len(failed)} of {len(outcomes)} download(s) failed (bars fetched before a failure "
            "are kept; run the same command again to resume)",
            highlight=False,
        )
        raise typer.Exit(code=1)


@data_app.command()
def download(
    source: Annotated[str, typer.Argument(help="'yahoo' or a ccxt exchange id (binance, kucoin, gate, okx, ...)")],
    symbols: Annotated[list[str], typer.Argument(help="symbols as the source writes them: BTC/USDT, AAPL")],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="bar length: 1m, 5m, 1h, 1d, ...")] = "1h",
    since: Annotated[
        str | None, typer.Option(help="start (ISO date/time, UTC) for symbols not stored yet, e.g. 2024-01-01")
    ] = None,
    until: Annotated[str | None, typer.Option(help="end (exclusive; default now)")] = None,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Download bars into the store; a symbol already stored continues after its newest bar (no duplicates)."""
    try:
        bar_store = _store(store)
        with _download_progress() as progress:
            outcomes = service.download_bars(
                bar_store, source, symbols, timeframe, since=since, until=until, progress=progress
            )
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    _finish(outcomes, f"Downloaded into {bar_store.root}")


@data_app.command()
def update(
    until: Annotated[str | None, typer.Option(help="end (exclusive; default now)")] = None,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Bring every downloaded series in the store up to now (imported files are left as they are)."""
    try:
        bar_store = _store(store)
        with _download_progress() as progress:
            outcomes, skipped = service.update_store(bar_store, until=until, progress=progress)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    for entry in skipped:
        console.print(
            f"skipped {entry.source}:{entry.symbol}@{entry.timeframe}: source {entry.source!r} is not downloadable"
        )
    _finish(outcomes, f"Updated {bar_store.root}")


@data_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV(.gz), Parquet or Feather file of one symbol's bars")],
    source: Annotated[str, typer.Option(help="store it under this source name")] = "file",
    symbol: Annotated[str | None, typer.Option(help="symbol (default: the file name)")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t", help="bar length (default: inferred)")] = None,
    tz: TzOpt = None,
    column: ColumnOpt = None,
    repair: Annotated[
        bool, typer.Option(help="sort rows and drop identical duplicate rows, and say what changed")
    ] = False,
    replace: Annotated[bool, typer.Option(help="replace the stored series instead of merging into it")] = False,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Validate a bar file and store it; a file that fails validation leaves the store untouched."""
    try:
        bar_store = _store(store)
        done = service.import_file(
            bar_store, file, source=source, symbol=symbol, timeframe=timeframe, tz=tz,
            columns=_columns(column), repair=repair, replace=replace,
        )  # fmt: skip
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    _print_check(done.check)
    verb = "replaced with" if done.replaced else "stored"
    name = f"{done.source}:{done.check.symbol}@{done.check.timeframe}"
    console.print(f"[green]{verb}[/] {done.written:,} bar(s) as [bold]{name}[/] in {bar_store.root}")


@data_app.command("list")
def list_(store: StoreOpt = None, debug: DebugOpt = False) -> None:
    """List the stored series (name them as SOURCE:SYMBOL@TF in backtests and other commands)."""
    try:
        bar_store = _store(store)
        entries = service.list_store(bar_store)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    if not entries:
        console.print(
            f"the bar store at {bar_store.root} is empty; add bars with `tradeforge data download` or `import`"
        )
        return
    table = Table(title=f"Bar store {bar_store.root}", title_justify="left")
    for col in ("name", "bars", "first", "last"):
        table.add_column(col, justify="right" if col == "bars" else "left")
    for e in entries:
        table.add_row(f"{e.source}:{e.symbol}@{e.timeframe}", f"{e.count:,}", iso(e.first), iso(e.last))
    console.print(table)


@data_app.command()
def show(
    name: Annotated[str, typer.Argument(help="stored series: SOURCE:SYMBOL@TF (the @TF may go if only one is stored)")],
    min_gap: Annotated[int, typer.Option(help="report holes of at least this many missing bars")] = 1,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Range, bar count and gaps of one stored series."""
    try:
        check = service.show(_store(store), name, min_missing=min_gap)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    _print_check(check)


@data_app.command()
def resample(
    name: Annotated[str, typer.Argument(help="stored series to resample: SOURCE:SYMBOL@TF")],
    to: Annotated[str, typer.Option("--to", help="target time frame: 3m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, ...")],
    session_tz: Annotated[
        str | None, typer.Option(help="daily/weekly bars follow this exchange's session, e.g. America/New_York")
    ] = None,
    session: Annotated[str, typer.Option(help="regular session OPEN-CLOSE in the exchange's zone")] = "09:30-16:00",
    keep_incomplete: Annotated[bool, typer.Option(help="also store a last bar whose period has not ended")] = False,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Resample a stored series to a longer time frame and store it beside the original."""
    try:
        sess = None
        if session_tz is not None:
            opens, sep, closes = session.partition("-")
            if not sep:
                raise ConfigError(f"--session {session!r}: write it as OPEN-CLOSE, e.g. 09:30-16:00")
            sess = Session(session_tz, opens, closes)
        out = service.resample_stored(_store(store), name, to, session=sess, keep_incomplete=keep_incomplete)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(
        f"[green]stored[/] {out.bars:,} bar(s) as [bold]{out.target}[/] ({iso(out.first_ts)} .. {iso(out.last_ts)})"
    )
    if out.dropped_incomplete:
        console.print("the last period had not ended: its partial bar was left out (--keep-incomplete keeps it)")


@data_app.command()
def validate(
    target: Annotated[str, typer.Argument(help="a bar file, or a stored series SOURCE:SYMBOL@TF")],
    tz: TzOpt = None,
    column: ColumnOpt = None,
    repair: Annotated[bool, typer.Option(help="sort rows and drop identical duplicates, and say what changed")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the (repaired) bars to this new file")] = None,
    min_gap: Annotated[int, typer.Option(help="report holes of at least this many missing bars")] = 1,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Check bars against the rules (sorted unique times, no NaN, low <= open/close <= high, volume >= 0) and
    report gaps. An invalid file exits with an error naming the row and the rule broken."""
    try:
        check = service.validate(
            _store(store), target, tz=tz, columns=_columns(column), repair=repair, min_missing=min_gap,
            write_repaired=out,
        )  # fmt: skip
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    _print_check(check)
    if out is not None:
        console.print(f"[green]wrote[/] {out}")


def _print_check(check: Check) -> None:
    for line in check.lines():
        console.print(line, highlight=False, soft_wrap=True)
