"""Walk-forward optimization: sweep on a train window, trade the chosen parameters on the following test window,
roll forward; the test windows' equity is stitched into one out-of-sample curve, reported beside the in-sample
results that chose the parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError
from tradeforge.fast.colstats import STAT_NAMES, equity_stats_nb
from tradeforge.research.executors import Executor, make_executor
from tradeforge.research.grid import Constraint
from tradeforge.research.signals import Bars, SignalFunction, call_signals
from tradeforge.research.sweep import Objective, SimSettings, _simulate_segment, periods_per_year, sweep


@dataclass(frozen=True)
class Fold:
    """One step: bars [train_start, train_stop) chose ``params``; they traded [test_start, test_stop)."""

    train_start: int
    train_stop: int
    test_start: int
    test_stop: int
    params: dict[str, Any]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]


@dataclass(frozen=True)
class WalkForwardResult:
    folds: list[Fold]
    equity: pd.Series  # stitched out-of-sample equity, one value per test bar, starting from the cash
    out_of_sample: dict[str, float]  # statistics of the stitched curve
    in_sample: dict[str, float]  # the mean over folds of the chosen combination's in-sample statistics
    objective: str
    mode: str

    def table(self) -> pd.DataFrame:
        """One row per fold: windows, chosen parameters, in-sample and out-of-sample return and Sharpe."""
        rows = []
        for i, f in enumerate(self.folds):
            rows.append(
                {
                    "fold": i,
                    "train": f"{iso(f.train_start)} .. {iso(f.train_stop)}",
                    "test": f"{iso(f.test_start)} .. {iso(f.test_stop)}",
                    **f.params,
                    "is_return": f.in_sample["total_return"],
                    "is_sharpe": f.in_sample["sharpe"],
                    "oos_return": f.out_of_sample["total_return"],
                    "oos_sharpe": f.out_of_sample["sharpe"],
                }
            )
        return pd.DataFrame(rows)

    def plot(self, path: str | Path) -> Path:
        """The stitched out-of-sample equity with the fold boundaries, as a self-contained HTML file."""
        import plotly.graph_objects as go

        out = Path(path)
        if not out.parent.is_dir():
            raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist")
        fig = go.Figure(go.Scatter(x=self.equity.index, y=self.equity.to_numpy(), name="out-of-sample equity"))
        for f in self.folds:
            fig.add_vline(x=pd.Timestamp(f.test_start, tz="UTC"), line_dash="dot", line_color="grey")
        oos, ins = self.out_of_sample, self.in_sample
        fig.update_layout(
            title=(
                f"Walk-forward ({self.mode}, {len(self.folds)} folds, objective {self.objective}): out-of-sample "
                f"return {oos['total_return']:.2%}, Sharpe {oos['sharpe']:.2f} vs in-sample mean "
                f"{ins['total_return']:.2%}, {ins['sharpe']:.2f}"
            ),
            template="plotly_white",
            yaxis_title="equity",
        )
        fig.write_html(out, include_plotlyjs=True, full_html=True)
        return out


def walk_forward(
    fn: SignalFunction,
    data: BarSeries,
    params: Mapping[str, Iterable[Any] | Any],
    *,
    train: int,
    test: int,
    mode: str = "rolling",
    constraint: Constraint | None = None,
    objective: Objective = "sharpe",
    maximize: bool = True,
    executor: str | int | Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> WalkForwardResult:
    """Optimize on ``train`` bars, trade the best parameters on the next ``test`` bars, move on by ``test``.

    mode 'rolling': every train window has ``train`` bars; 'expanding': each starts at the first bar. The test
    windows follow each other without overlap and are traded starting flat with the cash; their signals are
    computed on the history up to each test bar (from the train window's start), never on later bars.
    ``settings`` are the trading settings of ``sweep`` (cash, fees, size, stops, fill...).
    """
    if mode not in ("rolling", "expanding"):
        raise ConfigError(f"mode must be 'rolling' or 'expanding', got {mode!r}")
    n = len(data)
    if train < 2 or test < 1:
        raise ConfigError(f"train needs at least 2 bars and test at least 1, got train={train}, test={test}")
    if train + test > n:
        raise ConfigError(f"train ({train}) + test ({test}) bars exceed the {n} bars of {data.symbol}")
    runner = make_executor(executor)
    sim_keys = set(SimSettings.__dataclass_fields__) - {"extra"}
    sim = SimSettings(**{k: v for k, v in settings.items() if k in sim_keys})
    extra = {k: v for k, v in settings.items() if k not in sim_keys}
    starts = list(range(train, n - test + 1, test))
    folds: list[Fold] = []
    pieces: list[np.ndarray] = []
    for k, test_start in enumerate(starts):
        a = 0 if mode == "expanding" else test_start - train
        test_stop = min(test_start + test, n)
        result = sweep(
            fn, data.slice(a, test_start), params, constraint=constraint, objective=objective, maximize=maximize,
            executor=runner, **_sweep_settings(sim), **extra,
        )  # fmt: skip
        chosen = result.best
        window = data.slice(a, test_stop)
        bars = Bars.of(window)
        one = {name: np.asarray([value]) for name, value in chosen.items()}
        signals = call_signals(fn, bars, one)
        sim_result = _simulate_segment(bars, signals, sim, test_start - a, test_stop - a)
        equity = sim_result.equity[:, 0]
        oos = _stats(equity, sim.cash, data.ts[test_start:test_stop])
        best = result.best_stats
        folds.append(
            Fold(
                int(data.ts[a]), int(data.ts[test_start - 1]), int(data.ts[test_start]), int(data.ts[test_stop - 1]),
                chosen, {name: float(best[name]) for name in STAT_NAMES}, oos,
            )
        )  # fmt: skip
        pieces.append(equity / sim.cash)
        if progress is not None:
            progress(k + 1, len(starts))
    growth = np.concatenate([p / np.concatenate([[1.0], p[:-1]]) for p in pieces])  # bar returns, each fold fresh
    stitched = sim.cash * np.cumprod(growth)
    first, last = train, train + sum(len(p) for p in pieces)
    index = pd.DatetimeIndex(pd.to_datetime(data.ts[first:last], utc=True), name="timestamp")
    oos_all = _stats(stitched, sim.cash, data.ts[first:last])
    in_mean = {name: float(np.nanmean([f.in_sample[name] for f in folds])) for name in STAT_NAMES}
    label = result.objective
    return WalkForwardResult(folds, pd.Series(stitched, index=index, name="equity"), oos_all, in_mean, label, mode)


def _sweep_settings(sim: SimSettings) -> dict[str, Any]:
    return {
        "cash": sim.cash, "fees": sim.fees, "fixed_fees": sim.fixed_fees, "slippage": sim.slippage, "size": sim.size,
        "size_type": sim.size_type, "lot_size": sim.lot_size, "sl_stop": sim.sl_stop, "tp_stop": sim.tp_stop,
        "tsl_stop": sim.tsl_stop, "fill": sim.fill,
    }  # fmt: skip


def _stats(equity: np.ndarray, cash: float, ts: np.ndarray) -> dict[str, float]:
    row = equity_stats_nb(np.ascontiguousarray(equity.reshape(1, -1)), np.array([cash]), periods_per_year(ts))[0]
    return {name: float(row[j]) for j, name in enumerate(STAT_NAMES)}
