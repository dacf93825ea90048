"""Sweeps on the fast path: the reference 90-combination result, identical results whatever the executor and
chunking, objectives, the train/test split, overfitting statistics, heatmaps and input errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeforge import fast
from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data import load_sample
from tradeforge.research import LocalExecutor, SerialExecutor, Signals, make_grid, sweep
from tradeforge.research.library import breakout, crossed_above, sma_cross
from tradeforge.research.signals import Bars

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from common import random_walk

GRID = {"fast": range(5, 51, 5), "slow": range(20, 201, 20)}


def fast_lt_slow(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    return fast < slow


@pytest.fixture(scope="module")
def walk() -> BarSeries:
    w = random_walk(1_000_000)
    cols = ("open", "high", "low", "close", "volume")
    return BarSeries.from_arrays("RW", 60_000_000_000, w["ts"], *(w[c] for c in cols)).slice(0, 100_000)


def test_the_90_combination_reference_sweep(walk: BarSeries) -> None:
    result = sweep(
        sma_cross, walk, GRID, constraint=fast_lt_slow, cash=1_000_000, fees=0.002, objective="return",
        executor="serial",
    )  # fmt: skip
    assert len(result.stats) == 90
    assert result.best == {"fast": 50, "slow": 200}
    best = result.best_stats
    assert best["final_equity"] == pytest.approx(97_454.71, abs=0.005)
    assert best["n_trades"] == 624
    assert best["total_return"] == pytest.approx(97_454.71 / 1_000_000 - 1, abs=1e-8)


def test_results_are_identical_whatever_runs_them(walk: BarSeries) -> None:
    part = walk.slice(0, 30_000)
    kwargs = {"constraint": fast_lt_slow, "cash": 1_000_000, "fees": 0.002}
    serial = sweep(sma_cross, part, GRID, executor=SerialExecutor(), **kwargs)
    small_chunks = sweep(sma_cross, part, GRID, executor="serial", chunk_size=7, **kwargs)
    processes = sweep(sma_cross, part, GRID, executor=LocalExecutor(2), **kwargs)
    pd.testing.assert_frame_equal(serial.stats, small_chunks.stats)
    pd.testing.assert_frame_equal(serial.stats, processes.stats)
    assert serial.overfitting == pytest.approx(processes.overfitting)
    assert serial.best == processes.best


def test_statistics_match_a_direct_simulation(walk: BarSeries) -> None:
    part = walk.slice(0, 20_000)
    result = sweep(sma_cross, part, {"fast": [10, 20], "slow": [50]}, fees=0.001, executor="serial")
    sig = sma_cross(
        __import__("tradeforge.research.signals", fromlist=["Bars"]).Bars.of(part), np.array([20]), np.array([50])
    )
    direct = fast.simulate(
        part.open, part.high, part.low, part.close, sig.entries, sig.exits, sig.short_entries, sig.short_exits,
        fees=0.001,
    )  # fmt: skip
    row = result.stats.iloc[1]
    equity = direct.equity[:, 0]
    assert row["final_equity"] == equity[-1]
    assert row["total_return"] == pytest.approx(equity[-1] / 10_000 - 1, rel=1e-12)
    returns = np.diff(np.r_[10_000.0, equity]) / np.r_[10_000.0, equity[:-1]]
    years = (len(part) - 1) / (365.25 * 24 * 60)
    sharpe = returns.mean() / returns.std(ddof=1) * np.sqrt((len(part) - 1) / years)
    assert row["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    peak = np.maximum.accumulate(np.r_[10_000.0, equity])[1:]
    assert row["max_drawdown"] == pytest.approx((equity / peak - 1).min(), rel=1e-12)
    closed = direct.trades[direct.trades["exit_reason"] != 4]
    assert row["n_trades"] == len(closed)
    assert row["win_rate"] == pytest.approx((closed["pnl"] > 0).mean(), rel=1e-12)
    gains, losses = closed["pnl"][closed["pnl"] > 0].sum(), -closed["pnl"][closed["pnl"] <= 0].sum()
    assert row["profit_factor"] == pytest.approx(gains / losses, rel=1e-12)


def test_split_chooses_in_sample_and_tests_every_combination_out_of_sample() -> None:
    goog = load_sample("GOOG")
    result = sweep(sma_cross, goog, GRID, constraint=fast_lt_slow, split=0.7, fees=0.002, executor="serial")
    cut = round(len(goog) * 0.7)
    assert result.train == (int(goog.ts[0]), int(goog.ts[cut - 1]))
    assert result.test == (int(goog.ts[cut]), int(goog.ts[-1]))
    assert result.best_index == int(np.nanargmax(result.stats["sharpe"].to_numpy()))
    assert {"test_sharpe", "test_total_return", "test_n_trades"} <= set(result.stats.columns)
    # the test part starts flat: its return equals a run on the test bars with signals from the whole history
    best = result.best
    sig = sma_cross(Bars.of(goog), np.array([best["fast"]]), np.array([best["slow"]]))
    test = fast.simulate(
        goog.open[cut:], goog.high[cut:], goog.low[cut:], goog.close[cut:], sig.entries[cut:], sig.exits[cut:],
        sig.short_entries[cut:], sig.short_exits[cut:], fees=0.002,
    )  # fmt: skip
    assert result.best_stats["test_final_equity"] == test.final_equity[0]
    by_time = sweep(sma_cross, goog, {"fast": [10], "slow": [30]}, split="2011-01-01", executor="serial")
    assert by_time.test is not None and pd.Timestamp(by_time.test[0], tz="UTC") >= pd.Timestamp("2011-01-01", tz="UTC")


@pytest.mark.parametrize("objective", ["sortino", "calmar", "profit_factor", "return", "max_drawdown"])
def test_named_objectives_pick_the_best_row(objective: str) -> None:
    goog = load_sample("GOOG")
    result = sweep(sma_cross, goog, GRID, constraint=fast_lt_slow, objective=objective, executor="serial")
    column = {"return": "total_return"}.get(objective, objective)
    values = result.stats[column].to_numpy()
    assert result.stats["objective"].equals(result.stats[column].rename("objective"))
    assert values[result.best_index] == np.nanmax(values)


def test_callable_objective_and_minimize() -> None:
    goog = load_sample("GOOG")

    def fewest_trades_then_return(stats: pd.DataFrame) -> pd.Series:
        return stats["n_trades"] - stats["total_return"] / 100

    result = sweep(sma_cross, goog, GRID, constraint=fast_lt_slow, objective=fewest_trades_then_return,
                   maximize=False, executor="serial")  # fmt: skip
    assert result.objective == "fewest_trades_then_return"
    assert result.best_stats["n_trades"] == result.stats["n_trades"].min()


def test_planted_overfitting_sweep_is_flagged(walk: BarSeries) -> None:
    """On a random walk the best of a large sweep looks good in-sample; DSR and PBO say it is luck."""
    part = walk.slice(0, 50_000)
    grid = {"fast": range(2, 40, 2), "slow": range(10, 200, 10)}
    result = sweep(sma_cross, part, grid, constraint=fast_lt_slow, executor="serial")
    o = result.overfitting
    assert o["n_trials"] == len(result.stats) > 300
    assert result.best_stats["sharpe"] > 1.0  # looks tradeable
    assert o["deflated_sharpe"] < 0.95  # but is not significant given the number of trials
    assert o["significant"] is False
    assert "NOT significant" in dict(result.summary())["verdict"]


def test_heatmap_is_written(tmp_path: Path) -> None:
    result = sweep(sma_cross, load_sample("GOOG"), GRID, constraint=fast_lt_slow, executor="serial")
    fig = result.heatmap("fast", "slow", tmp_path / "h.html")
    html = (tmp_path / "h.html").read_text()
    assert "plotly" in html.lower() and len(html) > 100_000  # self-contained
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.nanmax(z) == pytest.approx(result.best_stats["objective"])
    assert np.isnan(z).sum() == 10 * 10 - 90  # fast >= slow was not run
    with pytest.raises(ConfigError, match="not a swept parameter"):
        result.heatmap("fast", "window")


def test_grid_and_constraint_errors() -> None:
    assert len(make_grid(GRID, fast_lt_slow)) == 90
    assert make_grid({"a": [1, 2], "b": 5}).combination(1) == {"a": 2, "b": 5}
    with pytest.raises(ConfigError, match="rejects every combination"):
        make_grid({"fast": [50], "slow": [10]}, fast_lt_slow)
    with pytest.raises(ConfigError, match="one True/False per combination"):
        make_grid(GRID, lambda fast, slow: True)
    with pytest.raises(ConfigError, match="use array operators"):
        make_grid(GRID, lambda fast, slow: fast < slow and slow > 3)
    with pytest.raises(ConfigError, match="has no values"):
        make_grid({"fast": []})


def test_bad_signal_functions_and_settings() -> None:
    goog = load_sample("GOOG")
    with pytest.raises(ConfigError, match="must be boolean"):
        sweep(lambda bars, w: Signals(np.zeros(len(bars))), goog, {"w": [1]}, executor="serial")
    with pytest.raises(ConfigError, match=r"expected \(2148,\) or \(2148, 2\)"):
        sweep(lambda bars, w: Signals(np.zeros((10, 2), bool)), goog, {"w": [1, 2]}, executor="serial")
    with pytest.raises(ConfigError, match="signal function <lambda> failed"):
        sweep(lambda bars, w: 1 / 0, goog, {"w": [1]}, executor="serial")
    with pytest.raises(ConfigError, match="unknown objective"):
        sweep(sma_cross, goog, GRID, constraint=fast_lt_slow, objective="happiness", executor="serial")
    with pytest.raises(ConfigError, match="split as a fraction"):
        sweep(sma_cross, goog, GRID, constraint=fast_lt_slow, split=1.5, executor="serial")
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        sweep(sma_cross, goog, GRID, constraint=fast_lt_slow, executor="cluster-please")


def test_library_functions_use_only_the_past() -> None:
    goog = load_sample("GOOG")
    full = breakout(Bars.of(goog), np.array([10, 20]))
    half = breakout(Bars.of(goog.slice(0, 1000)), np.array([10, 20]))
    assert np.array_equal(full.entries[:1000], half.entries)
    assert np.array_equal(full.short_entries[:1000], half.short_entries)
    a = np.array([[1.0], [2.0], [3.0], [1.0]])
    b = np.array([[2.0], [2.0], [2.0], [2.0]])
    assert crossed_above(a, b)[:, 0].tolist() == [False, False, True, False]
