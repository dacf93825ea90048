"""Experiment grids (pytrader's predict_many, made honest): symbols x granularity x datasetinputs x training window
x model x model parameters, each cell scored out of sample by walk-forward AND by a fee-aware backtest of trading
its predictions, into a resumable leaderboard.

    from tradeforge.ml.experiments import ExperimentGrid, run_grid
    grid = ExperimentGrid(granularities=(5, 15, 60), datasetinputs=(2, 5, 10))   # the nine pytrader models
    result = run_grid({"BTC-PERP": load_sample("BTC-PERP")}, grid, "out/ml-grid")
    result.frame.sort_values("sortino", ascending=False)

Each cell (see tradeforge.ml.experiments_cell): features ("returns": pytrader's last `datasetinputs` moves of
`granularity` bars; or "default", a FeatureSet, a function), buy/sell/hold labels over `granularity` bars with a
threshold covering the round-trip fees, predictions of the out-of-sample bars by rolling walk-forward (train on
`window` bars, predict the next `step`, roll; a gap of the label horizon so no training label overlaps the test
block), then accuracy, per-class precision/recall, the confusion matrix and the backtest (return, Sortino, max
drawdown, trades, fees paid, buy-and-hold over the same bars). Every cell of one symbol is scored on the same
out-of-sample bars: from the first bar where the longest window (with its warm-up and horizon) fits, to the last
bar the longest horizon can label. After the grid, each cell's deflated Sharpe ratio is computed against every
finished cell of the leaderboard (n_trials).

The leaderboard (tradeforge.ml.leaderboard) keys each cell by a hash of its configuration, including a hash of
its bars and the out-of-sample range: rerunning skips finished cells (a failed one too, unless retry_errors),
and changing the data or the longest window changes the keys. A cell that fails (a class missing from a
training window, NaN features, a window longer than the data, a model that cannot fit) is recorded with its error
and the grid goes on. Cells run on a research executor (local processes by default, 'serial', or a Dask
scheduler 'tcp://...'), with identical results: BLAS is held to one thread per cell.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import format_timeframe, iso
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.metrics.overfitting import deflated_sharpe_ratio
from tradeforge.ml.experiments_cell import (
    CellData,
    OOSPlan,
    TradeSettings,
    backtest_predictions,
    classification_metrics,
    fit_predict,
    plan_oos,
    prepare_cell,
    walk_forward_folds,
)
from tradeforge.ml.experiments_features import (
    FeatureSource,
    check_features,
    compute_features,
    features_id,
    first_complete_row,
    known_warmup,
)
from tradeforge.ml.leaderboard import Leaderboard, Predictions
from tradeforge.ml.models import PYTRADER_NAMES, get_spec, make_model
from tradeforge.research.executors import Executor, make_executor

__all__ = [
    "CellConfig",
    "ExperimentGrid",
    "GridResult",
    "cell_key",
    "data_fingerprint",
    "deflate",
    "evaluate_cell",
    "grid_cells",
    "run_grid",
]

SCHEMA = 1
Progress = Callable[[int, int], None]


IN_SAMPLE_ROWS = 1_000
"""In-sample accuracy is measured on the newest this-many training rows of each fold."""


@dataclass(frozen=True)
class ExperimentGrid:
    """What to cross. granularities: label horizons in bars (pytrader's granularity; the returns features use
    moves of that many bars); datasetinputs: numbers of lagged moves; windows: training windows in bars; models:
    zoo names (default: the nine pytrader classifiers); model_params: {model: {hyperparameter: [values]}} crossed
    per model; features: "returns", "default", a FeatureSet or a function (see experiments_features); fees: rate
    per fill in the backtest and the label threshold (2 * fees unless `threshold`); step: bars per walk-forward test
    block (default half the shortest window); sell / hold: how predictions trade (see experiments_cell);
    oos_start: the first out-of-sample bar (index or time) instead of the earliest common one."""

    granularities: Sequence[int] = (5, 15, 60)
    datasetinputs: Sequence[int] = (2, 5, 10)
    windows: Sequence[int] = (5_000,)
    models: Sequence[str] = PYTRADER_NAMES
    model_params: Mapping[str, Mapping[str, Sequence[Any]]] = field(default_factory=dict)
    features: FeatureSource = "returns"
    fees: float = 0.001
    threshold: float | None = None
    step: int | None = None
    sell: str = "short"
    hold: str = "keep"
    cash: float = 10_000.0
    oos_start: int | str | None = None

    def trade_settings(self) -> TradeSettings:
        return TradeSettings(self.fees, self.sell, self.hold, self.cash)

    def model_variants(self) -> list[tuple[str, dict[str, Any]]]:
        """(display name, hyperparameters) of every model x parameter combination, checked now."""
        by_name = {}
        for name, grid in self.model_params.items():
            spec = get_spec(name)
            if spec.name not in {get_spec(m).name for m in self.models}:
                raise ConfigError(f"parameters are given for {spec.name!r}, which is not among the grid's models")
            by_name[spec.name] = grid
        out: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for model in self.models:
            spec = get_spec(model)
            if spec.name in seen:
                raise ConfigError(f"model {spec.name!r} is listed twice")
            seen.add(spec.name)
            grid = {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in by_name.get(spec.name, {}).items()}
            for values in itertools.product(*grid.values()):
                params = dict(zip(grid, values, strict=True))
                make_model(spec.name, calibrate=False, **params)  # unknown or invalid hyperparameters: now
                out.append((spec.name, params))
        return out

    def check(self) -> None:
        """Raise ConfigError for settings no cell could run with (before anything is computed)."""
        for name, values in (
            ("granularities", self.granularities),
            ("datasetinputs", self.datasetinputs),
            ("windows", self.windows),
        ):
            if not values:
                raise ConfigError(f"the grid needs at least one value in {name}")
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                    raise ConfigError(f"{name} must be whole numbers >= 1, got {v!r}")
            if len(set(values)) != len(values):
                raise ConfigError(f"{name} has duplicates: {list(values)}")
        if isinstance(self.models, str) or not self.models:
            raise ConfigError("models must be a list of zoo names, e.g. ('Naive Bayes', 'RBF SVM')")
        if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 1):
            raise ConfigError(f"step must be a whole number of bars >= 1, got {self.step!r}")
        check_features(self.features)
        self.trade_settings()

    @property
    def block(self) -> int:
        return self.step if self.step is not None else max(1, min(self.windows) // 2)


@dataclass(frozen=True)
class CellConfig:
    """One cell of a grid: everything that decides its result."""

    symbol: str
    data_hash: str
    timeframe: str
    features: str  # features_id of the grid's feature source
    granularity: int
    datasetinputs: int
    window: int
    step: int
    model: str
    params: tuple[tuple[str, Any], ...]
    fees: float
    threshold: float | None
    sell: str
    hold: str
    cash: float
    oos_first: int  # bar index of the first out-of-sample bar
    oos_stop: int  # one past the last
    oos_first_time: str
    oos_last_time: str

    @property
    def key(self) -> str:
        return cell_key(self)

    def describe(self) -> dict[str, Any]:
        """The configuration as JSON-compatible values (what the key hashes)."""
        return {
            "schema": SCHEMA, "symbol": self.symbol, "data_hash": self.data_hash, "timeframe": self.timeframe,
            "features": self.features, "granularity": self.granularity, "datasetinputs": self.datasetinputs,
            "window": self.window, "step": self.step, "model": self.model,
            "params": jsonable_params(dict(self.params)), "fees": self.fees, "threshold": self.threshold,
            "sell": self.sell, "hold": self.hold, "cash": self.cash,
            "oos": [self.oos_first_time, self.oos_last_time],
        }  # fmt: skip


def cell_key(config: CellConfig) -> str:
    """sha256 of the cell's configuration (canonical JSON), 20 hex digits."""
    text = json.dumps(config.describe(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON values: tuples to lists, numpy scalars to Python, anything else to its repr."""

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return repr(value)

    return {str(k): plain(v) for k, v in sorted(params.items())}


def data_fingerprint(bars: BarSeries) -> str:
    """sha256 of the bars (times and OHLCV), 16 hex digits: a cell's key changes when its data does."""
    digest = hashlib.sha256()
    for arr in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume):
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class GridResult:
    """frame: the leaderboard rows of this grid's cells, in grid order (the leaderboard may hold other grids'
    cells too: `leaderboard.frame()`); computed / skipped / failed: cells this run computed, found already
    finished, and that failed in this run; seconds: wall time."""

    leaderboard: Leaderboard
    frame: pd.DataFrame
    cells: int
    computed: int
    skipped: int
    failed: int
    seconds: float
    executor: str

    def top(self, n: int = 10, by: str = "sortino") -> pd.DataFrame:
        """The n best finished cells by a column (highest first)."""
        ok = self.frame[self.frame["status"] == "ok"]
        if by not in ok.columns:
            raise ConfigError(
                f"unknown leaderboard column {by!r}: rank by sortino, sharpe, total_return, accuracy, "
                "balanced_accuracy, dsr, profit_factor or another numeric column of the leaderboard"
            )
        return ok.sort_values(by, ascending=False, na_position="last").head(n)


def grid_cells(data: Mapping[str, BarSeries], grid: ExperimentGrid) -> list[CellConfig]:
    """Every cell of the grid over `data` ({symbol name: bars}), with each symbol's common out-of-sample range."""
    grid.check()
    if not data:
        raise ConfigError("give at least one symbol's bars to run the grid on")
    variants = grid.model_variants()
    feats = features_id(grid.features)
    cells = []
    for symbol, bars in data.items():
        if not isinstance(bars, BarSeries):
            raise ConfigError(f"data[{symbol!r}] must be a BarSeries, got {type(bars).__name__}")
        plan = _common_plan(bars, grid)
        digest = data_fingerprint(bars)
        for g, k, w in itertools.product(grid.granularities, grid.datasetinputs, grid.windows):
            for model, params in variants:
                cells.append(
                    CellConfig(
                        symbol, digest, format_timeframe(bars.timeframe), feats, int(g), int(k), int(w), plan.step,
                        model, tuple(sorted(params.items())), float(grid.fees), grid.threshold, grid.sell, grid.hold,
                        float(grid.cash), plan.start, plan.stop, iso(int(bars.ts[plan.start])),
                        iso(int(bars.ts[plan.stop - 1])),
                    )
                )  # fmt: skip
    return cells


def _common_plan(bars: BarSeries, grid: ExperimentGrid) -> OOSPlan:
    """The out-of-sample bars every cell of this symbol is scored on."""
    n = len(bars)
    step = grid.block
    last = n - 1 - max(grid.granularities)
    if grid.oos_start is not None:
        earliest = _bar_index(bars, grid.oos_start)
    else:
        needs = []
        for g, k in itertools.product(grid.granularities, grid.datasetinputs):
            warm = known_warmup(grid.features, int(k), int(g))
            if warm is None:  # a feature function: compute it once to see where its rows become complete
                try:
                    X, cols = compute_features(grid.features, bars, int(k), int(g))
                    warm = first_complete_row(X, cols, bars, "warm-up")
                except TradeforgeError:
                    warm = 0  # the cells will fail with the error
            needs += [warm + int(g) + int(w) for w in grid.windows]
        fitting = [x for x in needs if x + step <= last + 1]
        earliest = max(fitting) if fitting else min(needs)
    return plan_oos(bars, earliest, last, step)


def _bar_index(bars: BarSeries, when: int | str) -> int:
    if isinstance(when, int | np.integer) and not isinstance(when, bool):
        if not 0 <= int(when) < len(bars):
            raise ConfigError(f"oos_start={when} is not a bar index of {bars.symbol} (0..{len(bars) - 1})")
        return int(when)
    try:
        stamp = pd.Timestamp(when)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read oos_start {when!r} as a bar index or a time") from exc
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return int(np.searchsorted(bars.ts, stamp.as_unit("ns").value, side="left"))


@dataclass(frozen=True)
class _Payload:
    cells: tuple[CellConfig, ...]
    data: Mapping[str, BarSeries]
    features: FeatureSource


def _run_chunk(payload: _Payload, chunk: tuple[int, int]) -> list[tuple[dict[str, Any], Predictions | None]]:
    """Cells [a, b) of the payload (runs in a worker)."""
    return [evaluate_cell(c, payload.data[c.symbol], payload.features) for c in payload.cells[chunk[0] : chunk[1]]]


def evaluate_cell(
    config: CellConfig, bars: BarSeries, features: FeatureSource, cell: CellData | None = None
) -> tuple[dict[str, Any], Predictions | None]:
    """One cell: its leaderboard row and its out-of-sample predictions; a failure becomes a row with status
    "error" and the error text (the grid goes on). BaseExceptions (an interrupt) propagate."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {
        "key": config.key, "symbol": config.symbol, "timeframe": config.timeframe, "features": config.features,
        "granularity": config.granularity, "datasetinputs": config.datasetinputs, "window": config.window,
        "step": config.step, "model": config.model, "params": jsonable_params(dict(config.params)),
        "fees": config.fees, "sell": config.sell, "hold": config.hold, "oos_start": config.oos_first_time,
        "oos_end": config.oos_last_time, "config": config.describe(),
    }  # fmt: skip
    preds: Predictions | None = None
    try:
        with threadpool_limits(limits=1):  # identical results in any executor, no oversubscription
            metrics, preds = _score(config, bars, features, cell)
        row.update(metrics)
        row["status"] = "ok"
    except Exception as exc:  # recorded with the cell: a failing cell must not stop the grid
        row["status"] = "error"
        row["error"] = f"{type(exc).__name__}: {exc}"
        preds = None
    row["seconds"] = time.perf_counter() - t0
    row["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return row, preds


def _score(
    config: CellConfig, bars: BarSeries, features: FeatureSource, cell: CellData | None
) -> tuple[dict[str, Any], Predictions]:
    if cell is None:
        cell = prepare_cell(
            bars, features, config.datasetinputs, config.granularity, fees=config.fees, threshold=config.threshold
        )
    plan = OOSPlan(config.oos_first, config.oos_stop, config.step)
    settings = TradeSettings(config.fees, config.sell, config.hold, config.cash)
    idx, pred = [], []
    folds = list(walk_forward_folds(cell, config.window, plan))
    is_hits = is_rows = 0
    for k, (train, test) in enumerate(folds):
        model = make_model(config.model, calibrate=False, **dict(config.params))
        pred.append(fit_predict(model, cell, train, test, f"walk-forward fold {k + 1}/{len(folds)}"))
        idx.append(test)
        recent = train[-IN_SAMPLE_ROWS:]  # in-sample accuracy on the newest training rows (bounded cost)
        is_hits += int(np.count_nonzero(model.predict(cell.X[recent]) == cell.labels.label[recent]))
        is_rows += int(recent.size)
    bar_idx = np.concatenate(idx)
    y_pred = np.concatenate(pred)
    y_true = cell.labels.label[bar_idx]
    metrics = classification_metrics(y_true, y_pred)
    metrics["is_accuracy"] = is_hits / is_rows if is_rows else float("nan")
    backtest = backtest_predictions(bars, plan, bar_idx, y_pred, settings)
    metrics.update(backtest.stats)
    metrics.update({"threshold": cell.threshold, "n_folds": len(folds), "n_oos": int(bar_idx.size)})
    return metrics, Predictions(bars.ts[bar_idx].copy(), y_true.astype(np.int8), y_pred)


def run_grid(
    data: Mapping[str, BarSeries],
    grid: ExperimentGrid,
    out: str | Path | Leaderboard,
    *,
    executor: str | int | Executor | None = None,
    retry_errors: bool = False,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> GridResult:
    """Run every cell of `grid` on `data` ({symbol name: bars}) not yet in the leaderboard at `out` (a folder,
    a .sqlite file or a Leaderboard); then recompute every finished cell's deflated Sharpe ratio.

    executor: None/'local' (one process per core), 'serial', a number of processes, 'tcp://HOST:PORT' (Dask) or
    an Executor. Finished cells are written after each batch of `batch_size` cells (default: 1 in one process,
    4 per worker otherwise), so an interruption loses at most the batch in flight. progress(done, total) counts
    cells, the skipped ones included."""
    t0 = time.perf_counter()
    board = out if isinstance(out, Leaderboard) else Leaderboard(out)
    cells = grid_cells(data, grid)
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ConfigError("two cells of the grid have the same configuration: remove the duplicate values")
    finished = board.keys("ok") | (set() if retry_errors else board.keys("error"))
    pending = [c for c in cells if c.key not in finished]
    skipped = len(cells) - len(pending)
    runner = make_executor(executor)
    size = batch_size if batch_size is not None else (1 if runner.workers <= 1 else 4 * runner.workers)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    done_count = skipped
    if progress is not None:
        progress(done_count, len(cells))

    def done(k: int) -> None:
        nonlocal done_count
        done_count += k
        if progress is not None:
            progress(done_count, len(cells))

    failed = 0
    try:
        for a in range(0, len(pending), size):
            batch = tuple(pending[a : a + size])
            payload = _Payload(batch, {c.symbol: data[c.symbol] for c in batch}, grid.features)
            results = runner.run(_run_chunk, payload, [(i, i + 1) for i in range(len(batch))], done)
            rows = [r for chunk in results for r in chunk]
            failed += sum(1 for row, _ in rows if row["status"] == "error")
            board.put(rows)
    finally:
        close = getattr(runner, "close", None)
        if callable(close) and runner is not executor:
            close()
    deflate(board)
    everything = board.frame().set_index("key", drop=False)
    frame = everything.loc[[k for k in keys if k in everything.index]].reset_index(drop=True)
    return GridResult(board, frame, len(cells), len(pending), skipped, failed, time.perf_counter() - t0, repr(runner))


def deflate(board: Leaderboard) -> None:
    """Set dsr (the deflated Sharpe ratio), dsr_benchmark (the per-bar Sharpe the best of n_trials skill-less
    trials reaches by luck) and n_trials of every finished cell: n_trials counts every finished cell of the
    leaderboard; the variance of the trials' per-bar Sharpe ratios is taken over the cells on the same bar time
    frame (per-bar Sharpe ratios of different time frames are not comparable)."""
    frame = board.frame("ok")
    if frame.empty:
        return
    n_trials = len(frame)
    updates: dict[str, dict[str, Any]] = {}
    for _, group in frame.groupby("timeframe", dropna=False):
        sr = group["sharpe_bar"].to_numpy(np.float64)
        finite = sr[np.isfinite(sr)]
        variance = float(np.var(finite, ddof=1)) if finite.size >= 2 else 0.0
        for _, row in group.iterrows():
            values: dict[str, Any] = {"dsr": None, "dsr_benchmark": None, "n_trials": n_trials}
            if np.isfinite(row["sharpe_bar"]) and not pd.isna(row["n_obs"]) and int(row["n_obs"]) >= 2:
                res = deflated_sharpe_ratio(
                    sharpe=float(row["sharpe_bar"]), n_obs=int(row["n_obs"]), skew=float(row["skew"]),
                    kurtosis=float(row["kurtosis"]), n_trials=n_trials, trials_sharpe_variance=variance,
                )  # fmt: skip
                values.update({"dsr": res.dsr, "dsr_benchmark": res.expected_max_sharpe})
            updates[str(row["key"])] = values
    board.update(updates)
