"""Data use cases behind `tradeforge data ...`: download, update, import, list, show, resample, validate.

The bar store lives in a folder chosen once by the caller (``store_root``); sources are built here from a
name ('yahoo' or any ccxt exchange id), and tests or embedders may pass their own ``source_factory``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError, TradeforgeError
from tradeforge.data.download import DownloadReport, download
from tradeforge.data.names import StoreRef, parse_store_ref
from tradeforge.data.resample import Session, resample
from tradeforge.data.sources.base import BarSource
from tradeforge.data.store import BarStore, StoreEntry, moment_ns
from tradeforge.data.validate import Check, check_file, check_series

SourceFactory = Callable[[str], BarSource]
Progress = Callable[[str, int, int], None]
"""progress(symbol, bars stored so far, open time of the newest bar (ns UTC))."""

YAHOO = "yahoo"


def user_data_dir() -> Path:
    """The user's data folder for tradeforge: $XDG_DATA_HOME or ~/.local/share on Linux, %LOCALAPPDATA% on
    Windows, ~/Library/Application Support on macOS; then /tradeforge."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "tradeforge"


def store_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the bar store lives: ``explicit``, else $TRADEFORGE_STORE, else user_data_dir() / bars."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    env = os.environ.get("TRADEFORGE_STORE")
    if env:
        return Path(env).expanduser()
    return user_data_dir() / "bars"


def make_source(name: str) -> BarSource:
    """'yahoo' -> YahooSource (adjusted prices); anything else -> CcxtSource for that ccxt exchange id."""
    if name.lower() == YAHOO:
        from tradeforge.data.sources.yahoo_source import YahooSource

        return YahooSource()
    from tradeforge.data.sources.ccxt_source import CcxtSource

    return CcxtSource(name.lower())


def is_downloadable(source: str) -> bool:
    """True for 'yahoo' and ccxt exchange ids: the sources `data update` can bring up to date."""
    if source.lower() == YAHOO:
        return True
    try:
        import ccxt
    except ImportError:  # pragma: no cover - ccxt is a dependency
        return False
    return source.lower() in ccxt.exchanges


@dataclass(frozen=True)
class Outcome:
    """One symbol's download: its report, or the error that stopped it (what came before was kept)."""

    source: str
    symbol: str
    timeframe: str
    report: DownloadReport | None
    error: TradeforgeError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def download_bars(
    store: BarStore,
    source: str,
    symbols: list[str],
    timeframe: str,
    *,
    since: str | int | None = None,
    until: str | int | None = None,
    progress: Progress | None = None,
    source_factory: SourceFactory | None = None,
) -> list[Outcome]:
    """Download each symbol into the store (only what is missing after its newest stored bar).

    since is needed for a symbol not stored yet (ISO date or ns). A failing symbol does not stop the others:
    its error is in its Outcome, and the bars fetched before the failure are stored, so running again resumes.
    """
    if not symbols:
        raise ConfigError("name at least one symbol to download, e.g. BTC/USDT")
    lo = moment_ns(since, "since")
    hi = moment_ns(until, "until")
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigError(f"until ({until}) must be after since ({since})")
    bar_source = (source_factory or make_source)(source)
    outcomes: list[Outcome] = []
    for symbol in symbols:
        report_progress = None if progress is None else _bind(progress, symbol)
        try:
            report = download(
                store, bar_source, symbol, timeframe, since=lo, until=hi, store_as=source, progress=report_progress
            )
        except TradeforgeError as exc:
            outcomes.append(Outcome(source, symbol, timeframe, None, exc))
            continue
        outcomes.append(Outcome(source, symbol, timeframe, report))
    return outcomes


def update_store(
    store: BarStore,
    *,
    until: str | int | None = None,
    progress: Progress | None = None,
    source_factory: SourceFactory | None = None,
) -> tuple[list[Outcome], list[StoreEntry]]:
    """Bring every downloadable series in the store up to now (or ``until``). Returns the outcomes and the
    entries skipped because their source cannot be downloaded (imported files)."""
    entries = store.list()
    if not entries:
        raise ConfigError(f"the bar store at {store.root} is empty; fill it with `tradeforge data download` first")
    outcomes: list[Outcome] = []
    skipped: list[StoreEntry] = []
    sources: dict[str, BarSource] = {}
    hi = moment_ns(until, "until")
    for entry in entries:
        if not is_downloadable(entry.source):
            skipped.append(entry)
            continue
        try:
            bar_source = sources.get(entry.source) or (source_factory or make_source)(entry.source)
        except TradeforgeError as exc:
            outcomes.append(Outcome(entry.source, entry.symbol, entry.timeframe, None, exc))
            continue
        sources[entry.source] = bar_source
        report_progress = None if progress is None else _bind(progress, f"{entry.source}:{entry.symbol}")
        try:
            report = download(
                store, bar_source, entry.symbol, entry.timeframe, until=hi, store_as=entry.source,
                progress=report_progress,
            )  # fmt: skip
        except TradeforgeError as exc:
            outcomes.append(Outcome(entry.source, entry.symbol, entry.timeframe, None, exc))
            continue
        outcomes.append(Outcome(entry.source, entry.symbol, entry.timeframe, report))
    return outcomes, skipped


@dataclass(frozen=True)
class Imported:
    check: Check
    source: str
    written: int
    replaced: bool


def import_file(
    store: BarStore,
    path: str | os.PathLike[str],
    *,
    source: str = "file",
    symbol: str | None = None,
    timeframe: str | None = None,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
    repair: bool = False,
    replace: bool = False,
) -> Imported:
    """Validate a bar file completely, then store it as (source, symbol, time frame).

    Nothing is written unless the whole file is valid, so a failed import leaves the store as it was. When the
    series is stored already, the file's bars are merged in (a bar that differs from the stored one at the
    same time is an error) unless replace=True, which replaces the stored series."""
    if not source.strip() or ":" in source or "@" in source:
        raise ConfigError(f"source name {source!r} must be non-empty and contain neither ':' nor '@'")
    series, check = check_file(path, symbol=symbol, timeframe=timeframe, tz=tz, columns=columns, repair=repair)
    if replace or not store.exists(source, series.symbol, series.timeframe):
        store.write(source, series)
        return Imported(check, source, len(series), replace)
    written = store.append(source, series)
    return Imported(check, source, written, False)


def list_store(store: BarStore) -> list[StoreEntry]:
    return store.list()


def resolve(store: BarStore, name: str) -> tuple[StoreRef, str]:
    """A store name 'source:SYMBOL@tf' (or without '@tf' when one is stored) -> (the StoreRef with its time
    frame filled in, that time frame)."""
    ref = parse_store_ref(name)
    if ref is None:
        raise ConfigError(
            f"{name!r} is not a store name; write it as source:SYMBOL@timeframe, e.g. binance:BTC/USDT@1h"
        )
    if ref.timeframe is not None:
        return ref, ref.timeframe
    stored = [e.timeframe for e in store.list() if e.source == ref.source and e.symbol == ref.symbol]
    if len(stored) != 1:
        have = ", ".join(stored) or "none"
        raise ConfigError(
            f"say which time frame of {ref} you mean (stored: {have}), e.g. {ref}@{stored[0] if stored else '1h'}"
        )
    return StoreRef(ref.source, ref.symbol, stored[0]), stored[0]


def show(store: BarStore, name: str, *, min_missing: int = 1) -> Check:
    """Range, bar count and gaps of one stored series (read and validated in full)."""
    ref, tf = resolve(store, name)
    series = store.read(ref.source, ref.symbol, tf)
    return check_series(series, where=str(ref), min_missing=min_missing)


@dataclass(frozen=True)
class ResampleOutcome:
    target: StoreRef
    bars: int
    dropped_incomplete: bool
    first_ts: int
    last_ts: int


def resample_stored(
    store: BarStore,
    name: str,
    timeframe: str,
    *,
    session: Session | None = None,
    keep_incomplete: bool = False,
) -> ResampleOutcome:
    """Resample a stored series to a longer time frame and store the result beside it (same source and
    symbol). The last bar is left out when its period has not ended, unless keep_incomplete=True."""
    ref, tf = resolve(store, name)
    series = store.read(ref.source, ref.symbol, tf)
    out = resample(series, timeframe, session=session)
    bars = out.bars
    dropped = False
    if not out.last_complete and not keep_incomplete:
        if len(bars) == 1:
            raise DataError(
                f"{ref}: not one whole {timeframe} period is covered (it ends {iso(int(series.ts[-1]))}); "
                "pass --keep-incomplete to store the partial bar anyway"
            )
        bars = bars.slice(0, len(bars) - 1)
        dropped = True
    store.write(ref.source, bars)
    target = StoreRef(ref.source, ref.symbol, timeframe)
    return ResampleOutcome(target, len(bars), dropped, int(bars.ts[0]), int(bars.ts[-1]))


def validate(
    store: BarStore,
    target: str,
    *,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
    repair: bool = False,
    min_missing: int = 1,
    write_repaired: str | os.PathLike[str] | None = None,
) -> Check:
    """Validate a bar file or a stored series ('source:SYMBOL@tf'); report range and gaps.

    With repair=True a file's rows are sorted and identical duplicates dropped (reported in Check.repairs);
    the original file is never changed: pass write_repaired=PATH to save the repaired bars."""
    path = Path(target)
    if path.is_file() or parse_store_ref(target) is None:
        series, check = check_file(path, tz=tz, columns=columns, repair=repair, min_missing=min_missing)
        if write_repaired is not None:
            from tradeforge.data.files import write_bars

            out = Path(write_repaired)
            if out.resolve() == path.resolve():
                raise ConfigError(f"write the repaired bars to a new file, not over {path}")
            write_bars(series, out)
        return check
    if repair or write_repaired is not None:
        raise ConfigError("--repair applies to files; the store only ever holds valid bars")
    return show(store, target, min_missing=min_missing)


def _bind(progress: Progress, label: str) -> Callable[[int, int], None]:
    def update(done: int, newest: int) -> None:
        progress(label, done, newest)

    return update
