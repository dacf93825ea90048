"""Data by name: 'binance:BTC/USDT@1h' (a series in the bar store), 'GOOG' (a bundled sample) or a file path.

Strategies, backtests and the command line name their data this way; `load_bars` turns a name into bars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data.files import SUPPORTED_SUFFIXES, read_bars
from tradeforge.data.samples import list_samples, load_sample
from tradeforge.data.store import BarStore, TimeLike, moment_ns
from tradeforge.data.timeframes import timeframe_ns

_STORE_REF = re.compile(
    r"^(?P<source>[A-Za-z][A-Za-z0-9_.\-]*):(?P<symbol>[^@\s/\\][^@\s]*)(?:@(?P<tf>[0-9]+[a-zA-Z]+))?$"
)


@dataclass(frozen=True, slots=True)
class StoreRef:
    """A series in the bar store: source (exchange id, 'yahoo', or the name given at import), symbol and
    time frame (None: the only one stored)."""

    source: str
    symbol: str
    timeframe: str | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.symbol}" + (f"@{self.timeframe}" if self.timeframe else "")


def parse_store_ref(text: str) -> StoreRef | None:
    """'binance:BTC/USDT@1h' -> StoreRef('binance', 'BTC/USDT', '1h'); None when text is not of that form."""
    match = _STORE_REF.match(text.strip())
    if match is None:
        return None
    tf = match.group("tf")
    if tf is not None:
        timeframe_ns(tf)  # an unknown time frame is a clear error here, not a missing series later
    return StoreRef(match.group("source"), match.group("symbol"), tf)


def load_bars(
    name: str,
    *,
    store: BarStore | None = None,
    tz: str | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> BarSeries:
    """Bars named by ``name``, optionally cut to start <= ts < end.

    - an existing file (.csv, .csv.gz, .parquet, .pq, .feather, .arrow): read with ``read_bars`` (tz: the
      zone of times written without one);
    - 'source:SYMBOL@tf' ('binance:BTC/USDT@1h', 'yahoo:AAPL@1d'): read from ``store``; '@tf' may be left out
      when only one time frame is stored;
    - a bundled sample name ('GOOG', 'BTC-PERP'; see ``list_samples``).
    """
    text = name.strip()
    path = Path(text)
    if path.is_file():
        return _cut(read_bars(path, tz=tz), start, end, text)
    ref = parse_store_ref(text)
    if ref is not None:
        if store is None:
            raise ConfigError(
                f"{text!r} names a series in the bar store, but no store was given: pass store=BarStore(folder) "
                "(on the command line --store, or the TRADEFORGE_STORE environment variable)"
            )
        return store.read(ref.source, ref.symbol, _timeframe(store, ref), start, end)
    samples = {s.name.upper(): s.name for s in list_samples()}
    if text.upper() in samples:
        return _cut(load_sample(samples[text.upper()]), start, end, text)
    looks_like_file = text.lower().endswith(SUPPORTED_SUFFIXES) or "/" in text or "\\" in text
    what = f"the file {path.resolve()} does not exist" if looks_like_file else f"{text!r} is not a bundled sample"
    raise ConfigError(
        f"cannot find data {text!r}: {what}. Name data as a file path, a series in the bar store "
        f"('binance:BTC/USDT@1h'; see `tradeforge data list`) or a bundled sample ({', '.join(sorted(samples))})"
    )


def _timeframe(store: BarStore, ref: StoreRef) -> str:
    if ref.timeframe is not None:
        return ref.timeframe
    stored = [e.timeframe for e in store.list() if e.source == ref.source and e.symbol == ref.symbol]
    if len(stored) == 1:
        return stored[0]
    if not stored:
        known = ", ".join(f"{e.source}:{e.symbol}@{e.timeframe}" for e in store.list()) or "nothing"
        raise ConfigError(f"nothing stored for {ref} in {store.root}; stored: {known}")
    raise ConfigError(f"{ref} is stored in several time frames ({', '.join(stored)}); name one, e.g. {ref}@{stored[0]}")


def _cut(series: BarSeries, start: TimeLike, end: TimeLike, name: str) -> BarSeries:
    lo, hi = moment_ns(start, "start"), moment_ns(end, "end")
    if lo is None and hi is None:
        return series
    i = 0 if lo is None else int(np.searchsorted(series.ts, lo, side="left"))
    j = len(series) if hi is None else int(np.searchsorted(series.ts, hi, side="left"))
    if j <= i:
        raise ConfigError(f"{name}: no bars between {start} and {end}")
    return series.slice(i, j)
