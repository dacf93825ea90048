"""The leaderboard of an experiment grid: one SQLite table (stdlib sqlite3, one file in the output folder), one
row per cell keyed by the hash of the cell's configuration, plus each cell's out-of-sample predictions.

    board = Leaderboard("tradeforge-output/ml-grid")      # -> tradeforge-output/ml-grid/leaderboard.sqlite
    board.frame().sort_values("sortino", ascending=False)
    board.predictions(key)                                # bar time -> label, prediction
    board.to_csv("leaderboard.csv")

A row is written once its cell has finished (status "ok") or failed (status "error", with the error text), in
one transaction per batch of cells, so a grid interrupted at any point can be rerun: the finished cells are
skipped. Tables: `cells` (the columns in COLUMNS) and `predictions` (key, then the bar times as int64 ns UTC,
the true labels and the predictions as int8, each a little-endian BLOB).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError

FILENAME = "leaderboard.sqlite"
STATUSES = ("ok", "error")

_TEXT, _INT, _REAL = "TEXT", "INTEGER", "REAL"
COLUMNS: dict[str, str] = {
    "key": _TEXT, "status": _TEXT, "error": _TEXT,
    # the configuration
    "symbol": _TEXT, "timeframe": _TEXT, "features": _TEXT, "granularity": _INT, "datasetinputs": _INT,
    "window": _INT, "step": _INT, "model": _TEXT, "params": _TEXT, "fees": _REAL, "threshold": _REAL,
    "sell": _TEXT, "hold": _TEXT,
    # the out-of-sample part
    "oos_start": _TEXT, "oos_end": _TEXT, "n_folds": _INT, "n_oos": _INT,
    # classification
    "accuracy": _REAL, "balanced_accuracy": _REAL, "is_accuracy": _REAL,
    "precision_sell": _REAL, "precision_hold": _REAL, "precision_buy": _REAL,
    "recall_sell": _REAL, "recall_hold": _REAL, "recall_buy": _REAL,
    "support_sell": _INT, "support_hold": _INT, "support_buy": _INT,
    "predicted_sell": _INT, "predicted_hold": _INT, "predicted_buy": _INT,
    "confusion": _TEXT,
    # the fee-aware backtest of the predictions
    "total_return": _REAL, "buy_hold_return": _REAL, "cagr": _REAL, "volatility": _REAL, "sharpe": _REAL,
    "sortino": _REAL, "max_drawdown": _REAL, "calmar": _REAL, "n_trades": _INT, "closed_trades": _INT,
    "fees_paid": _REAL, "win_rate": _REAL, "profit_factor": _REAL, "expectancy": _REAL, "avg_trade_return": _REAL,
    "exposure": _REAL,
    # per-bar moments and the deflated Sharpe ratio given every trial of the leaderboard
    "sharpe_bar": _REAL, "n_obs": _INT, "skew": _REAL, "kurtosis": _REAL,
    "dsr": _REAL, "dsr_benchmark": _REAL, "n_trials": _INT,
    # bookkeeping
    "seconds": _REAL, "finished_at": _TEXT, "config": _TEXT,
}  # fmt: skip
"""Every column of the `cells` table and its SQLite type."""


@dataclass(frozen=True, eq=False)
class Predictions:
    """A cell's out-of-sample predictions: bar open times (int64 ns UTC), true labels and predictions."""

    ts: npt.NDArray[np.int64]
    y_true: npt.NDArray[np.int8]
    y_pred: npt.NDArray[np.int8]


class Leaderboard:
    """The leaderboard stored at `path`: a folder (the file leaderboard.sqlite inside it) or a .sqlite/.db file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path).expanduser()
        self.path = p if p.suffix in (".sqlite", ".db", ".sqlite3") else p / FILENAME
        if self.path.exists() and not self.path.is_file():
            raise ConfigError(f"leaderboard {self.path} exists and is not a file: choose another output folder")

    def __repr__(self) -> str:
        return f"Leaderboard({str(self.path)!r})"

    # --- writing ------------------------------------------------------------------------------------------------

    def put(self, rows: Iterable[tuple[Mapping[str, Any], Predictions | None]]) -> int:
        """Insert or replace rows (each with its predictions, or None) in one transaction; returns the count."""
        items = list(rows)
        if not items:
            return 0
        with self._connect(write=True) as con:
            for row, preds in items:
                unknown = sorted(set(row) - set(COLUMNS))
                if unknown:
                    raise ConfigError(f"leaderboard rows have no columns {unknown}; the columns are {list(COLUMNS)}")
                if not row.get("key") or row.get("status") not in STATUSES:
                    raise ConfigError(f"a leaderboard row needs a key and a status in {STATUSES}, got {dict(row)!r}")
                names = list(row)
                con.execute(
                    f"INSERT OR REPLACE INTO cells ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    [_sql_value(row[n]) for n in names],
                )
                con.execute("DELETE FROM predictions WHERE key = ?", (row["key"],))
                if preds is not None:
                    con.execute(
                        "INSERT INTO predictions (key, ts, y_true, y_pred) VALUES (?, ?, ?, ?)",
                        (
                            row["key"],
                            np.ascontiguousarray(preds.ts, dtype="<i8").tobytes(),
                            np.ascontiguousarray(preds.y_true, dtype=np.int8).tobytes(),
                            np.ascontiguousarray(preds.y_pred, dtype=np.int8).tobytes(),
                        ),
                    )
        return len(items)

    def update(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Set some columns of existing rows: {key: {column: value}}, in one transaction."""
        if not values:
            return
        with self._connect(write=True) as con:
            for key, cols in values.items():
                unknown = sorted(set(cols) - set(COLUMNS) | ({"key"} & set(cols)))
                if unknown:
                    raise ConfigError(f"cannot update leaderboard columns {unknown}")
                if cols:
                    con.execute(
                        f"UPDATE cells SET {', '.join(f'{c} = ?' for c in cols)} WHERE key = ?",
                        [*(_sql_value(v) for v in cols.values()), key],
                    )

    def delete(self, keys: Iterable[str]) -> None:
        """Remove rows (and their predictions)."""
        with self._connect(write=True) as con:
            for key in keys:
                con.execute("DELETE FROM cells WHERE key = ?", (key,))
                con.execute("DELETE FROM predictions WHERE key = ?", (key,))

    # --- reading ------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    def keys(self, status: str | None = None) -> set[str]:
        """The keys of the stored cells (of one status, or all)."""
        if not self.path.exists():
            return set()
        with self._connect() as con:
            if status is None:
                cur = con.execute("SELECT key FROM cells")
            else:
                cur = con.execute("SELECT key FROM cells WHERE status = ?", (status,))
            return {str(r[0]) for r in cur}

    def frame(self, status: str | None = None) -> pd.DataFrame:
        """The rows (of one status, or all) in the order they were written, every column of COLUMNS."""
        if not self.path.exists():
            return pd.DataFrame(columns=list(COLUMNS))
        where, args = ("WHERE status = ?", (status,)) if status is not None else ("", ())
        with self._connect() as con:
            cur = con.execute(f"SELECT {', '.join(COLUMNS)} FROM cells {where} ORDER BY rowid", args)
            rows = cur.fetchall()
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        for name, kind in COLUMNS.items():
            if kind == _REAL:
                frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
            elif kind == _INT:
                frame[name] = frame[name].astype("Int64")
        return frame

    def predictions(self, key: str) -> pd.DataFrame:
        """A cell's out-of-sample predictions: index = bar open time (UTC), columns label and prediction."""
        preds = self.prediction_arrays(key)
        index = pd.DatetimeIndex(preds.ts.astype("datetime64[ns]"), name="timestamp").tz_localize("UTC")
        return pd.DataFrame({"label": preds.y_true, "prediction": preds.y_pred}, index=index)

    def prediction_arrays(self, key: str) -> Predictions:
        """A cell's out-of-sample predictions as arrays."""
        row = None
        if self.path.exists():
            with self._connect() as con:
                row = con.execute("SELECT ts, y_true, y_pred FROM predictions WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise ConfigError(f"no predictions stored for cell {key!r} in {self.path} (a failed or unknown cell)")
        ts = np.frombuffer(row[0], dtype="<i8").astype(np.int64)
        y_true = np.frombuffer(row[1], dtype=np.int8).copy()
        y_pred = np.frombuffer(row[2], dtype=np.int8).copy()
        if not ts.shape == y_true.shape == y_pred.shape:
            raise DataError(f"the stored predictions of cell {key!r} are corrupt (lengths differ)")
        return Predictions(ts, y_true, y_pred)

    def to_csv(self, path: str | os.PathLike[str], *, status: str | None = None) -> Path:
        """Write the rows (of one status, or all) as CSV; returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.frame(status).to_csv(out, index=False)
        return out

    # --- internals ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=60.0)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the leaderboard {self.path}: {exc}") from exc
        try:
            con.execute("PRAGMA journal_mode=WAL")
            _ensure_schema(con)
            with con:  # one transaction: committed on success, rolled back on any exception
                yield con
        except sqlite3.DatabaseError as exc:
            raise DataError(f"the leaderboard {self.path} cannot be read or written: {exc}") from exc
        finally:
            con.close()


def _ensure_schema(con: sqlite3.Connection) -> None:
    cols = ", ".join(f"{name} {kind}{' PRIMARY KEY' if name == 'key' else ''}" for name, kind in COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS cells ({cols})")
    con.execute("CREATE TABLE IF NOT EXISTS predictions (key TEXT PRIMARY KEY, ts BLOB, y_true BLOB, y_pred BLOB)")
    have = {str(r[1]) for r in con.execute("PRAGMA table_info(cells)")}
    for name, kind in COLUMNS.items():  # a leaderboard written by an older version gains the new columns
        if name not in have:
            con.execute(f"ALTER TABLE cells ADD COLUMN {name} {kind}")


def _sql_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return value
