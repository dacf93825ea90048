"""Parameter sweeps on the fast path: a signal function over a grid of parameters, chunked across executors,
statistics per combination, an objective to pick the best, an optional train/test split, and the overfitting
statistics (deflated Sharpe ratio, probability of backtest overfitting) shown beside the best result."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.fast import simulate
from tradeforge.fast.colstats import STAT_NAMES, TRADE_STAT_NAMES, equity_stats_nb, period_returns_nb, trade_stats_nb
from tradeforge.fast.records import EXIT_END
from tradeforge.metrics.overfitting import overfitting_report
from tradeforge.research.executors import Executor, make_executor
from tradeforge.research.grid import Constraint, Grid, make_grid
from tradeforge.research.signals import Bars, SignalFunction, call_signals

OBJECTIVES = {
    "return": "total_return",
    "total_return": "total_return",
    "sharpe": "sharpe",
    "sortino": "sortino",
    "calmar": "calmar",
    "profit_factor": "profit_factor",
    "cagr": "cagr",
    "max_drawdown": "max_drawdown",
    "win_rate": "win_rate",
    "expectancy": "expectancy",
}
STAT_COLUMNS = (*STAT_NAMES, *TRADE_STAT_NAMES, "final_equity")
PBO_COMBINATIONS = 1_000
"""CSCV combinations evaluated per sweep (a seeded subset of the 12,870 of 16 blocks; standard error <= 1.6 points)."""
_CELL_BUDGET = 4_000_000  # bars x columns per chunk: about 32 MB of equity, whatever the grid size
_NS_PER_YEAR = 365.25 * 86_400 * 1e9

Objective = str | Callable[[pd.DataFrame], Any]


@dataclass(frozen=True)
class SimSettings:
    """How the fast path trades every combination (see tradeforge.fast.simulate)."""

    cash: float = 10_000.0
    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0
    size: float = 1.0
    size_type: str = "percent"
    lot_size: float = 1.0
    sl_stop: float | None = None
    tp_stop: float | None = None
    tsl_stop: float | None = None
    fill: str = "next_open"
    extra: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        return {
            "init_cash": self.cash, "fees": self.fees, "fixed_fees": self.fixed_fees, "slippage": self.slippage,
            "size": self.size, "size_type": self.size_type, "lot_size": self.lot_size, "sl_stop": self.sl_stop,
            "tp_stop": self.tp_stop, "tsl_stop": self.tsl_stop, "fill": self.fill, **self.extra,
        }  # fmt: skip


@dataclass(frozen=True)
class Payload:
    """What every worker needs, sent once."""

    fn: SignalFunction
    bars: Bars
    grid: Grid
    settings: SimSettings
    segments: tuple[tuple[int, int], ...]  # (start, stop) bar ranges simulated separately: train[, test]
    periods_per_year: float
    edges: np.ndarray  # period boundaries (bar indices within the first segment) for the returns matrix


@dataclass(frozen=True)
class ChunkResult:
    stats: list[np.ndarray]  # per segment: (k, len(STAT_COLUMNS))
    period_returns: np.ndarray  # (n_periods, k) of the first segment


def simulate_chunk(payload: Payload, chunk: tuple[int, int]) -> ChunkResult:
    """One chunk of combinations: signals, simulation per segment, statistics. Runs in a worker."""
    params = payload.grid.take(slice(*chunk))
    signals = call_signals(payload.fn, payload.bars, params)
    k = chunk[1] - chunk[0]
    out: list[np.ndarray] = []
    returns = np.empty((0, k))
    for s, (a, b) in enumerate(payload.segments):
        result = _simulate_segment(payload.bars, signals, payload.settings, a, b)
        equity_t = result.equity.T  # (columns, bars): the kernel's own C-contiguous layout, no copy
        if equity_t.shape[0] == 1 and k > 1:  # neither signals nor settings varied: every column is the same
            equity_t = np.repeat(equity_t, k, axis=0)
        equity_t = np.ascontiguousarray(equity_t)
        cash = np.ascontiguousarray(np.broadcast_to(result.init_cash, (k,)), dtype=np.float64)
        out.append(_column_stats(equity_t, cash, result.trades, k, payload.periods_per_year))
        if s == 0:
            returns = period_returns_nb(equity_t, cash, payload.edges)
    return ChunkResult(out, returns)


def _cut(value: Any, a: int, b: int) -> Any:
    return None if value is None else np.asarray(value)[a:b]


def _simulate_segment(bars: Bars, signals: Any, settings: SimSettings, a: int, b: int) -> Any:
    return simulate(
        bars.open[a:b], bars.high[a:b], bars.low[a:b], bars.close[a:b],
        _cut(signals.entries, a, b), _cut(signals.exits, a, b),
        _cut(signals.short_entries, a, b), _cut(signals.short_exits, a, b),
        **settings.kwargs(),
    )  # fmt: skip


def _column_stats(equity_t: np.ndarray, cash: np.ndarray, trades: np.ndarray, k: int, ppy: float) -> np.ndarray:
    eq = equity_stats_nb(equity_t, cash, ppy)
    closed = trades[trades["exit_reason"] != EXIT_END]
    if k > 1 and closed.size and (closed["column"] == 0).all() and equity_t.shape[0] == k:
        closed = np.concatenate([_with_column(closed, j) for j in range(k)])  # one simulated column for all
    tr = trade_stats_nb(
        np.ascontiguousarray(closed["column"]), np.ascontiguousarray(closed["pnl"]),
        np.ascontiguousarray(closed["return"]), k,
    )  # fmt: skip
    return np.column_stack([eq, tr, equity_t[:, -1]])


def _with_column(records: np.ndarray, column: int) -> np.ndarray:
    out = records.copy()
    out["column"] = column
    return out


@dataclass(frozen=True)
class SweepResult:
    """Statistics of every combination (``stats``: parameters, then the train statistics, then ``test_*``
    ones when there was a split), the best combination by the objective, and the overfitting statistics of
    choosing it: deflated Sharpe ratio and probability of backtest overfitting (see metrics.overfitting)."""

    stats: pd.DataFrame
    params: tuple[str, ...]
    objective: str
    maximize: bool
    best_index: int
    overfitting: dict[str, Any]
    train: tuple[int, int]  # first and last bar time (ns) of the in-sample part
    test: tuple[int, int] | None
    executor: str

    @property
    def best(self) -> dict[str, Any]:
        """The parameters of the best combination as plain Python values."""
        return {name: self.stats[name].to_numpy()[self.best_index].item() for name in self.params}

    @property
    def best_stats(self) -> pd.Series:
        return self.stats.iloc[self.best_index]

    def top(self, n: int = 10) -> pd.DataFrame:
        """The n best combinations by the objective."""
        key = self.stats["objective"]
        return self.stats.loc[key.sort_values(ascending=not self.maximize, na_position="last").index[:n]]

    def summary(self) -> list[tuple[str, str]]:
        """The best combination and the overfitting statistics as (label, text) pairs for a table."""
        b = self.best_stats
        o = self.overfitting
        rows = [
            ("combinations", f"{len(self.stats):,}"),
            ("objective", f"{self.objective} ({'max' if self.maximize else 'min'})"),
            ("best parameters", ", ".join(f"{k}={v}" for k, v in self.best.items())),
            ("in-sample return", f"{b['total_return']:.2%}"),
            ("in-sample Sharpe (ann.)", f"{b['sharpe']:.3f}"),
            ("in-sample max drawdown", f"{b['max_drawdown']:.2%}"),
            ("in-sample trades", f"{int(b['n_trades']):,}"),
        ]
        if self.test is not None:
            rows += [
                ("out-of-sample return", f"{b['test_total_return']:.2%}"),
                ("out-of-sample Sharpe (ann.)", f"{b['test_sharpe']:.3f}"),
                ("out-of-sample max drawdown", f"{b['test_max_drawdown']:.2%}"),
                ("out-of-sample trades", f"{int(b['test_n_trades']):,}"),
            ]
        if o:
            rows += [
                ("expected best Sharpe of luck (ann.)", f"{o['expected_max_sharpe_annualized']:.3f}"),
                ("deflated Sharpe ratio", f"{o['deflated_sharpe']:.3f} (significant above 0.95)"),
                ("probability of backtest overfitting", f"{o['pbo']:.3f} (CSCV, {o['n_splits']} blocks)"),
                ("verdict", "significant" if o["significant"] else "NOT significant: likely overfitted or luck"),
            ]
        return rows

    def heatmap(self, x: str, y: str, path: str | Path | None = None, value: str = "objective") -> Any:
        """A plotly heatmap of ``value`` over two parameters (the best over any other parameters); written as
        a self-contained HTML file when path is given."""
        from tradeforge.research.heatmap import sweep_heatmap

        return sweep_heatmap(self, x, y, path=path, value=value)


def sweep(
    fn: SignalFunction,
    data: BarSeries,
    params: Mapping[str, Iterable[Any] | Any],
    *,
    constraint: Constraint | None = None,
    objective: Objective = "sharpe",
    maximize: bool = True,
    split: float | str | None = None,
    cash: float = 10_000.0,
    fees: float = 0.0,
    fixed_fees: float = 0.0,
    slippage: float = 0.0,
    size: float = 1.0,
    size_type: str = "percent",
    lot_size: float = 1.0,
    sl_stop: float | None = None,
    tp_stop: float | None = None,
    tsl_stop: float | None = None,
    fill: str = "next_open",
    executor: str | int | Executor | None = None,
    chunk_size: int | None = None,
    pbo_splits: int = 16,
    pbo_periods: int = 1_000,
    progress: Callable[[int, int], None] | None = None,
    **sim_options: Any,
) -> SweepResult:
    """Backtest ``fn`` for every combination of ``params`` on the fast path and rank them by ``objective``.

    fn(bars, **params) gets the whole history (a ``Bars``: 1-D arrays) and one numpy array per parameter (one
    value per combination of the chunk) and returns boolean signals, each (n_bars,) or (n_bars, n_combinations):
    ``Signals(entries, exits, short_entries, short_exits)``, a dict, or a tuple. A signal at bar i must depend
    only on bars up to i. constraint(**arrays) -> boolean array keeps some combinations (e.g. fast < slow).
    objective: 'sharpe' (default), 'sortino', 'calmar', 'return', 'profit_factor', another statistics column, or
    a callable(stats DataFrame) -> one value per row. split: a fraction (0.7: the first 70% of bars are
    in-sample) or a time ('2023-01-01'); the best is chosen in-sample and every combination is also run on the
    rest (columns test_*), starting flat. The trading settings are those of tradeforge.fast.simulate.
    executor: None/'local' (one process per core), 'serial', a number of processes, 'tcp://HOST:PORT' (Dask)
    or an Executor; results are identical whichever runs them. Memory stays flat: combinations run in chunks
    of about 4M bar-columns.
    """
    if not isinstance(data, BarSeries):
        raise ConfigError(f"data must be a BarSeries (tradeforge.data.load_bars(...)), got {type(data).__name__}")
    grid = make_grid(params, constraint)
    bars = Bars.of(data)
    n = len(bars)
    settings = SimSettings(
        cash, fees, fixed_fees, slippage, size, size_type, lot_size, sl_stop, tp_stop, tsl_stop, fill, sim_options
    )
    segments = _segments(data, split)
    ppy = periods_per_year(data.ts[segments[0][0] : segments[0][1]])
    edges = _period_edges(segments[0][1] - segments[0][0], pbo_periods, pbo_splits)
    payload = Payload(fn, bars, grid, settings, segments, ppy, edges)
    runner = make_executor(executor)
    chunks = _chunks(len(grid), n, runner.workers, chunk_size)
    done_count = 0

    def done(k: int) -> None:
        nonlocal done_count
        done_count += k
        if progress is not None:
            progress(done_count, len(grid))

    if progress is not None:
        progress(0, len(grid))
    results = runner.run(simulate_chunk, payload, chunks, done)
    frame = grid.frame()
    for s, prefix in enumerate(("", "test_")[: len(segments)]):
        block = np.concatenate([r.stats[s] for r in results], axis=0)
        for j, name in enumerate(STAT_COLUMNS):
            frame[prefix + name] = block[:, j]
    label, scores = _objective(frame, objective)
    frame["objective"] = scores
    valid = np.isfinite(scores)
    if not valid.any():
        raise ConfigError(
            f"the objective {label} is undefined for every combination (no trades, or no variation in equity)"
        )
    filled = np.where(valid, scores, -np.inf if maximize else np.inf)
    best = int(np.argmax(filled) if maximize else np.argmin(filled))
    returns = np.concatenate([r.period_returns for r in results], axis=1)
    overfit = _overfitting(returns, best, ppy * (len(edges) - 1) / (segments[0][1] - segments[0][0]), pbo_splits)
    train = (int(data.ts[segments[0][0]]), int(data.ts[segments[0][1] - 1]))
    test = (int(data.ts[segments[1][0]]), int(data.ts[segments[1][1] - 1])) if len(segments) > 1 else None
    return SweepResult(frame, grid.names, label, maximize, best, overfit, train, test, repr(runner))


def _segments(data: BarSeries, split: float | str | None) -> tuple[tuple[int, int], ...]:
    n = len(data)
    if split is None:
        return ((0, n),)
    if isinstance(split, float | int) and not isinstance(split, bool):
        if not 0.0 < float(split) < 1.0:
            raise ConfigError(f"split as a fraction must be between 0 and 1 (0.7: 70% in-sample), got {split}")
        cut = round(n * float(split))
    else:
        try:
            stamp = pd.Timestamp(split)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read split {split!r} as a fraction or a time") from exc
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        cut = int(np.searchsorted(data.ts, stamp.as_unit("ns").value, side="left"))
    if cut < 2 or n - cut < 2:
        raise ConfigError(f"split {split!r} leaves {cut} in-sample and {n - cut} out-of-sample bars; both need more")
    return ((0, cut), (cut, n))


def periods_per_year(ts: np.ndarray) -> float:
    """Bars per year, measured from the time stamps (so 24/7 and exchange-hours data both come out right)."""
    if len(ts) < 2:
        return 1.0
    span = float(ts[-1] - ts[0]) / _NS_PER_YEAR
    return (len(ts) - 1) / span if span > 0 else 1.0


def _period_edges(n: int, periods: int, splits: int) -> np.ndarray:
    """Boundaries of at most ``periods`` equal blocks of bars (a multiple of the PBO splits)."""
    count = max(splits, min(periods, n) // splits * splits)
    count = min(count, n)
    return np.unique(np.linspace(0, n, count + 1).round().astype(np.int64))


def _chunks(total: int, n_bars: int, workers: int, chunk_size: int | None) -> list[tuple[int, int]]:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be at least 1, got {chunk_size}")
        size = chunk_size
    else:
        by_memory = max(1, _CELL_BUDGET // max(n_bars, 1))
        by_workers = math.ceil(total / max(1, workers))
        size = max(1, min(by_memory, by_workers))
    return [(a, min(a + size, total)) for a in range(0, total, size)]


def _objective(frame: pd.DataFrame, objective: Objective) -> tuple[str, np.ndarray]:
    if callable(objective):
        name = getattr(objective, "__name__", "custom")
        try:
            values = np.asarray(objective(frame), dtype=np.float64)
        except Exception as exc:  # the user's code
            raise ConfigError(f"the objective {name} failed: {type(exc).__name__}: {exc}") from exc
        if values.shape != (len(frame),):
            raise ConfigError(f"the objective {name} must return one number per combination, got {values.shape}")
        return name, values
    key = OBJECTIVES.get(str(objective).lower(), str(objective))
    if key not in frame.columns or key in frame.columns[: frame.columns.get_loc("total_return")]:
        raise ConfigError(
            f"unknown objective {objective!r}: use one of {', '.join(sorted(set(OBJECTIVES)))}, a statistics "
            "column, or a function of the statistics frame"
        )
    return key, frame[key].to_numpy(dtype=np.float64)


def _overfitting(returns: np.ndarray, best: int, periods_per_year: float, splits: int) -> dict[str, Any]:
    if returns.shape[1] < 2 or returns.shape[0] < splits:
        return {}
    return overfitting_report(
        returns, best, periods_per_year=periods_per_year, n_splits=splits, max_combinations=PBO_COMBINATIONS
    )
