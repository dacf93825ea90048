"""BarStore: Parquet bar files organised by source / symbol / time frame, with cheap crash-safe appends.

Layout under ``root``::

    <source>/<symbol>/<tf>.g000003.parquet           the base file of generation 3
    <source>/<symbol>/<tf>.g000003.c000001.parquet   append chunks applied on top of it, in order

Source and symbol are percent-encoded for file names (everything but ASCII letters, digits, '-' and '_':
'BTC/USDT' -> 'BTC%2FUSDT', reversible); the original symbol is also kept in each file's Parquet metadata.

Every file is written to a hidden temp file in the same folder, fsynced and moved into place with
``os.replace``, so a file either exists complete or not at all. The state of a series is told by the names
alone: the highest generation's base file plus that generation's chunks. An append writes one small chunk
holding only the bars that are new or replaced; when a generation has more than ``max_chunks`` chunks, the
series is compacted into the base file of the next generation, and only after that file is in place are the
older files deleted. A crash at any point leaves either the old generation (new one never appeared) or the
new one (old files are stale and ignored, then removed by the next write). Reads merge base and chunks by
timestamp, later chunks winning. One writer per series at a time: concurrent writers are not coordinated.
"""

from __future__ import annotations

import builtins
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradeforge.core.bars import COLUMNS, BarSeries
from tradeforge.core.clock import NS_PER_SECOND, format_timeframe, iso
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.timeframes import MONTH_NS, timeframe_ns

TimeLike = int | str | datetime | pd.Timestamp | None
OnConflict = Literal["error", "replace"]

_ROW_GROUP = 65_536
_META_SYMBOL = b"tradeforge.symbol"
_META_TIMEFRAME = b"tradeforge.timeframe_ns"
_META_LABEL = b"tradeforge.timeframe"
_META_SOURCE = b"tradeforge.store.source"
_META_FIRST = b"tradeforge.store.first"
_META_LAST = b"tradeforge.store.last"
_META_COUNT = b"tradeforge.store.count"
_FILE = re.compile(r"^(?P<tf>[0-9a-z]+)\.g(?P<gen>\d+)(?:\.c(?P<chunk>\d+))?\.parquet$")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_TS_TYPE = pa.timestamp("ns", tz="UTC")


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One stored series: where it came from, what it covers (first/last bar open times, int ns UTC)."""

    source: str
    symbol: str
    timeframe: str
    first: int
    last: int
    count: int
    path: Path


@dataclass(frozen=True, slots=True)
class _Files:
    """The files making up the current state of one series, and the stale ones left by an earlier crash."""

    base: Path
    generation: int
    chunks: tuple[Path, ...]
    stale: tuple[Path, ...]

    @property
    def newest(self) -> Path:
        return self.chunks[-1] if self.chunks else self.base


def encode_name(name: str) -> str:
    """Reversible file-name form of a source or symbol: 'BTC/USDT' -> 'BTC%2FUSDT' (see decode_name)."""
    if not name:
        raise ConfigError("source and symbol names must not be empty")
    return "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode()) for ch in name)


def decode_name(text: str) -> str:
    """Inverse of encode_name."""
    return unquote(text, errors="strict")


def timeframe_label(ns: int) -> str:
    """The time frame part of store file names: '1m', '1h', '1d', '1w', '1mo', '30s', else '<n>ns'."""
    if ns % MONTH_NS == 0:
        return f"{ns // MONTH_NS}mo"
    if ns % NS_PER_SECOND == 0:
        return format_timeframe(ns)
    return f"{ns}ns"


def _label_ns(label: str) -> int:
    if label.endswith("ns") and label[:-2].isdigit():
        return int(label[:-2])
    return timeframe_ns(label)


def moment_ns(moment: TimeLike, what: str) -> int | None:
    """ns since the epoch, ISO 8601 text (naive is UTC) or a datetime -> int ns UTC; None stays None."""
    if moment is None:
        return None
    if isinstance(moment, bool):
        raise ConfigError(f"{what} must be ns since the epoch, an ISO 8601 time or a datetime, got {moment!r}")
    if isinstance(moment, int | np.integer):
        return int(moment)
    try:
        stamp = pd.Timestamp(moment)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read {what} {moment!r} as a time ({exc}); use e.g. '2024-01-31T00:00Z'") from exc
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.as_unit("ns").value)


class BarStore:
    """Parquet bar files under ``root``, one series per (source, symbol, time frame). See the module doc."""

    def __init__(self, root: str | os.PathLike[str], *, max_chunks: int = 16) -> None:
        if max_chunks < 0:
            raise ConfigError(f"max_chunks must be >= 0, got {max_chunks}")
        self.root = Path(root)
        self.max_chunks = max_chunks

    # ---------------------------------------------------------------- writing

    def write(self, source: str, series: BarSeries) -> Path:
        """Store ``series``, replacing whatever was stored for (source, symbol, time frame). Atomic."""
        series.validate()
        folder = self._folder(source, series.symbol)
        label = timeframe_label(series.timeframe)
        old = self._files(folder, label)
        generation = old.generation + 1 if old else 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label}.g{generation:06d}.parquet"
        self._write_file(path, source, series, first=int(series.ts[0]), last=int(series.ts[-1]), count=len(series))
        if old:
            self._remove(old.base, *old.chunks, *old.stale)
        self._remove(*folder.glob(f".{label}.*.tmp"))  # left by a crash mid-write (one writer per series)
        return path

    def append(self, source: str, series: BarSeries, *, on_conflict: OnConflict = "error") -> int:
        """Merge ``series`` into what is stored; returns how many bars were written (new plus replaced).

        A bar at a timestamp already stored is skipped when identical; when different it raises DataError
        (naming the time and both bars), or with ``on_conflict="replace"`` replaces the stored one (the
        still-open last bar a live feed refreshes). Bars before the stored range (backfill) and into gaps
        are fine. An empty series is a no-op; a series not stored yet is written.
        """
        if on_conflict not in ("error", "replace"):
            raise ConfigError(f"on_conflict must be 'error' or 'replace', got {on_conflict!r}")
        if len(series) == 0:
            return 0
        series.validate()
        folder = self._folder(source, series.symbol)
        label = timeframe_label(series.timeframe)
        files = self._files(folder, label)
        if files is None:
            self.write(source, series)
            return len(series)
        meta = self._meta(files.newest)
        stored = self._read_files(files, series.symbol, series.timeframe, int(series.ts[0]), int(series.ts[-1]) + 1)
        keep = self._new_or_changed(series, stored, on_conflict, folder / label)
        if not keep.any():
            return 0
        chunk = series if keep.all() else _take(series, np.flatnonzero(keep))
        added = len(chunk) - int(np.isin(chunk.ts, stored[0]).sum())
        first = min(int(meta[_META_FIRST]), int(chunk.ts[0]))
        last = max(int(meta[_META_LAST]), int(chunk.ts[-1]))
        count = int(meta[_META_COUNT]) + added
        number = len(files.chunks) + 1
        path = folder / f"{label}.g{files.generation:06d}.c{number:06d}.parquet"
        self._write_file(path, source, chunk, first=first, last=last, count=count)
        if files.stale:
            self._remove(*files.stale)
        if number > self.max_chunks:
            self.compact(source, series.symbol, series.timeframe)
        return len(chunk)

    def compact(self, source: str, symbol: str, timeframe: str | int) -> Path:
        """Rewrite a series' base file and chunks as one file (appends do this every max_chunks chunks)."""
        tf = timeframe_ns(timeframe)
        folder = self._folder(source, symbol)
        files = self._require(source, symbol, tf)
        if not files.chunks and not files.stale:
            return files.base
        merged = self._series(files, symbol, tf, None, None, folder / timeframe_label(tf))
        path = folder / f"{timeframe_label(tf)}.g{files.generation + 1:06d}.parquet"
        self._write_file(path, source, merged, first=int(merged.ts[0]), last=int(merged.ts[-1]), count=len(merged))
        self._remove(files.base, *files.chunks, *files.stale)
        return path

    def delete(self, source: str, symbol: str, timeframe: str | int | None = None) -> None:
        """Remove one series, or with timeframe=None every time frame stored for (source, symbol)."""
        folder = self._folder(source, symbol)
        if timeframe is None:
            labels = sorted({m.group("tf") for m in self._matches(folder)})
            if not labels:
                raise ConfigError(f"nothing stored for {source}/{symbol} in {self.root}; {self._known()}")
        else:
            tf = timeframe_ns(timeframe)
            self._require(source, symbol, tf)
            labels = [timeframe_label(tf)]
        for label in labels:
            self._remove(*(folder / m.group(0) for m in self._matches(folder) if m.group("tf") == label))
        for stray in folder.glob(".*.tmp"):
            if timeframe is None or stray.name.startswith(f".{labels[0]}."):
                self._remove(stray)
        for empty in (folder, folder.parent):
            try:
                empty.rmdir()
            except OSError:
                break

    # ---------------------------------------------------------------- reading

    def read(
        self, source: str, symbol: str, timeframe: str | int, start: TimeLike = None, end: TimeLike = None
    ) -> BarSeries:
        """The stored bars with start <= ts < end (either bound optional), merged, sorted and validated.

        Times are ns since the epoch, ISO 8601 text (naive is UTC) or datetimes. Raises ConfigError for an
        unknown series (listing what is stored) or an empty range, DataError for a damaged file.
        """
        tf = timeframe_ns(timeframe)
        lo, hi = moment_ns(start, "start"), moment_ns(end, "end")
        files = self._require(source, symbol, tf)
        where = self._folder(source, symbol) / timeframe_label(tf)
        series = self._series(files, symbol, tf, lo, hi, where)
        if len(series) == 0:
            meta = self._meta(files.newest)
            span = f"{iso(int(meta[_META_FIRST]))} .. {iso(int(meta[_META_LAST]))}"
            raise ConfigError(
                f"no {symbol} {timeframe_label(tf)} bars from {source} in [{_show(lo)}, {_show(hi)}); stored: {span}"
            )
        return series

    def last_ts(self, source: str, symbol: str, timeframe: str | int) -> int | None:
        """Open time (int ns UTC) of the newest stored bar, or None when nothing is stored."""
        files = self._files(self._folder(source, symbol), timeframe_label(timeframe_ns(timeframe)))
        return None if files is None else int(self._meta(files.newest)[_META_LAST])

    def exists(self, source: str, symbol: str, timeframe: str | int | None = None) -> bool:
        folder = self._folder(source, symbol)
        if timeframe is None:
            return any(True for _ in self._matches(folder))
        return self._files(folder, timeframe_label(timeframe_ns(timeframe))) is not None

    def list(self) -> builtins.list[StoreEntry]:
        """Every stored series, sorted by source, symbol and time frame length."""
        entries: builtins.list[StoreEntry] = []
        if not self.root.is_dir():
            return entries
        for source_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for folder in sorted(p for p in source_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for label in sorted({m.group("tf") for m in self._matches(folder)}):
                    files = self._files(folder, label)
                    if files is None:
                        continue
                    meta = self._meta(files.newest)
                    entries.append(
                        StoreEntry(
                            source=decode_name(source_dir.name),
                            symbol=meta.get(_META_SYMBOL, decode_name(folder.name)),
                            timeframe=label,
                            first=int(meta[_META_FIRST]),
                            last=int(meta[_META_LAST]),
                            count=int(meta[_META_COUNT]),
                            path=files.base,
                        )
                    )
        entries.sort(key=lambda e: (e.source, e.symbol, _label_ns(e.timeframe)))
        return entries

    # ---------------------------------------------------------------- internals

    def _folder(self, source: str, symbol: str) -> Path:
        return self.root / encode_name(source) / encode_name(symbol)

    @staticmethod
    def _matches(folder: Path) -> builtins.list[re.Match[str]]:
        if not folder.is_dir():
            return []
        return [m for m in (_FILE.match(p.name) for p in folder.iterdir()) if m is not None]

    def _files(self, folder: Path, label: str) -> _Files | None:
        bases: dict[int, Path] = {}
        chunks: dict[int, builtins.list[tuple[int, Path]]] = {}
        for m in self._matches(folder):
            if m.group("tf") != label:
                continue
            gen, path = int(m.group("gen")), folder / m.group(0)
            if m.group("chunk") is None:
                bases[gen] = path
            else:
                chunks.setdefault(gen, []).append((int(m.group("chunk")), path))
        if not bases:
            return None
        current = max(bases)
        mine = tuple(p for _, p in sorted(chunks.get(current, [])))
        stale = [p for g, p in bases.items() if g != current]
        stale += [p for g, items in chunks.items() if g != current for _, p in items]
        return _Files(bases[current], current, mine, tuple(sorted(stale)))

    def _require(self, source: str, symbol: str, tf: int) -> _Files:
        folder = self._folder(source, symbol)
        files = self._files(folder, timeframe_label(tf))
        if files is not None:
            return files
        others = sorted({m.group("tf") for m in self._matches(folder)}, key=_label_ns)
        if others:
            raise ConfigError(
                f"{source}/{symbol} is not stored at time frame {timeframe_label(tf)} in {self.root}; "
                f"stored time frames: {', '.join(others)}"
            )
        raise ConfigError(f"nothing stored for {source}/{symbol} in {self.root}; {self._known()}")

    def _known(self) -> str:
        entries = self.list()
        if not entries:
            return "the store is empty"
        shown = ", ".join(f"{e.source}/{e.symbol}/{e.timeframe}" for e in entries[:20])
        more = f" and {len(entries) - 20} more" if len(entries) > 20 else ""
        return f"stored: {shown}{more}"

    @staticmethod
    def _meta(path: Path) -> dict[bytes, str]:
        try:
            raw = pq.read_metadata(path).metadata or {}
        except (pa.ArrowException, OSError) as exc:
            raise _damaged(path, exc) from exc
        meta = {k: v.decode() for k, v in raw.items()}
        missing = [k.decode() for k in (_META_FIRST, _META_LAST, _META_COUNT) if k not in meta]
        if missing:
            raise DataError(
                f"{path}: not a BarStore file (metadata {', '.join(missing)} missing); move it out of the store "
                "folder or rewrite the series with BarStore.write"
            )
        return meta

    def _write_file(self, path: Path, source: str, series: BarSeries, *, first: int, last: int, count: int) -> None:
        arrays = {"timestamp": pa.array(series.ts, type=pa.int64()).cast(_TS_TYPE)}
        for col in COLUMNS:
            arrays[col] = pa.array(np.asarray(getattr(series, col), dtype=np.float64), type=pa.float64())
        metadata = {
            _META_SYMBOL: series.symbol.encode(),
            _META_TIMEFRAME: str(series.timeframe).encode(),
            _META_LABEL: timeframe_label(series.timeframe).encode(),
            _META_SOURCE: source.encode(),
            _META_FIRST: str(first).encode(),
            _META_LAST: str(last).encode(),
            _META_COUNT: str(count).encode(),
        }
        table = pa.table(arrays).replace_schema_metadata(metadata)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as handle:
                pq.write_table(table, handle, row_group_size=_ROW_GROUP)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    @staticmethod
    def _remove(*paths: Path) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    def _read_files(
        self, files: _Files, symbol: str, tf: int, lo: int | None, hi: int | None
    ) -> tuple[npt.NDArray[np.int64], builtins.list[npt.NDArray[np.float64]]]:
        """Merged (ts, [open, high, low, close, volume]) of base + chunks with lo <= ts < hi."""
        parts = [_read_one(path, symbol, tf, lo, hi) for path in (files.base, *files.chunks)]
        if len(parts) == 1:
            return parts[0]
        ts = np.concatenate([p[0] for p in parts])
        cols = [np.concatenate([p[1][i] for p in parts]) for i in range(len(COLUMNS))]
        if ts.size > 1 and bool(np.all(ts[1:] > ts[:-1])):
            return ts, cols
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        last = np.ones(ts.size, dtype=bool)
        last[:-1] = ts[1:] != ts[:-1]  # later files come later in a stable sort: keep the last of each run
        pick = order[last]
        return ts[last], [c[pick] for c in cols]

    def _series(self, files: _Files, symbol: str, tf: int, lo: int | None, hi: int | None, where: Path) -> BarSeries:
        ts, cols = self._read_files(files, symbol, tf, lo, hi)
        series = BarSeries(symbol, tf, ts, *cols)
        if len(series):
            try:
                series.validate()
            except DataError as exc:
                offset = "" if lo is None else f" (rows counted from the first bar at or after {iso(lo)})"
                raise DataError(
                    f"{where} (files {', '.join(p.name for p in (files.base, *files.chunks))}): {exc}{offset}; "
                    "the stored data is invalid: rewrite the series with BarStore.write or delete it"
                ) from exc
        return series

    @staticmethod
    def _new_or_changed(
        series: BarSeries,
        stored: tuple[npt.NDArray[np.int64], builtins.list[npt.NDArray[np.float64]]],
        on_conflict: OnConflict,
        where: Path,
    ) -> npt.NDArray[np.bool_]:
        keep = np.ones(len(series), dtype=bool)
        ts, cols = stored
        if ts.size == 0:
            return keep
        _, new_at, old_at = np.intersect1d(series.ts, ts, assume_unique=True, return_indices=True)
        if new_at.size == 0:
            return keep
        same = np.ones(new_at.size, dtype=bool)
        for i, col in enumerate(COLUMNS):
            same &= getattr(series, col)[new_at] == cols[i][old_at]
        keep[new_at[same]] = False
        changed = np.flatnonzero(~same)
        if changed.size and on_conflict == "error":
            j = int(changed[0])
            n, o = int(new_at[j]), int(old_at[j])
            stored_bar = ", ".join(f"{c}={float(cols[i][o])!r}" for i, c in enumerate(COLUMNS))
            new_bar = ", ".join(f"{c}={float(getattr(series, c)[n])!r}" for c in COLUMNS)
            raise DataError(
                f"{where}: {series.symbol} bar at {iso(int(series.ts[n]))} differs from the stored one "
                f"({changed.size} conflicting bar(s) in all): stored {stored_bar}; new {new_bar}. "
                "Pass on_conflict='replace' to overwrite stored bars (e.g. the still-open last bar)"
            )
        return keep


def _read_one(
    path: Path, symbol: str, tf: int, lo: int | None, hi: int | None
) -> tuple[npt.NDArray[np.int64], builtins.list[npt.NDArray[np.float64]]]:
    expr = None
    if lo is not None:
        expr = pc.field("timestamp") >= pa.scalar(lo, type=pa.int64()).cast(_TS_TYPE)
    if hi is not None:
        upper = pc.field("timestamp") < pa.scalar(hi, type=pa.int64()).cast(_TS_TYPE)
        expr = upper if expr is None else expr & upper
    try:
        table = pq.read_table(path, filters=expr) if expr is not None else pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _damaged(path, exc) from exc
    meta = {k: v.decode() for k, v in (table.schema.metadata or {}).items()}
    missing = [c for c in ("timestamp", *COLUMNS) if c not in table.column_names]
    if missing:
        raise DataError(
            f"{path}: column(s) {', '.join(missing)} missing; the file was not written by BarStore: "
            "rewrite the series with BarStore.write or delete the file"
        )
    stored_tf = meta.get(_META_TIMEFRAME.decode())
    if stored_tf is not None and int(stored_tf) != tf:
        raise DataError(
            f"{path}: holds {timeframe_label(int(stored_tf))} bars but its name says {timeframe_label(tf)}; "
            "the file was renamed or moved: move it back or rewrite the series with BarStore.write"
        )
    stored_symbol = meta.get(_META_SYMBOL.decode())
    if stored_symbol is not None and stored_symbol != symbol:
        raise DataError(
            f"{path}: holds symbol {stored_symbol!r} but sits in the folder of {symbol!r}; the file was moved: "
            "move it back or rewrite the series with BarStore.write"
        )
    try:
        ts = table.column("timestamp").cast(pa.int64()).to_numpy()
        cols = [table.column(c).cast(pa.float64()).to_numpy() for c in COLUMNS]
    except pa.ArrowException as exc:
        raise _damaged(path, exc) from exc
    return np.ascontiguousarray(ts, dtype=np.int64), [np.ascontiguousarray(c, dtype=np.float64) for c in cols]


def _take(series: BarSeries, rows: npt.NDArray[np.intp]) -> BarSeries:
    cols = [getattr(series, c)[rows] for c in COLUMNS]
    return BarSeries(series.symbol, series.timeframe, series.ts[rows], *cols)


def _damaged(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"{path}: cannot read it as Parquet ({type(exc).__name__}: {exc}); the file is damaged (truncated or "
        "overwritten): delete the series with BarStore.delete and download or write it again"
    )


def _show(ns: int | None) -> str:
    return "..." if ns is None else iso(ns)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: folders cannot be opened; os.replace is still atomic there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
