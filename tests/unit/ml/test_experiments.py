"""Experiment grids on real bars (ETH-BTC, 5760 five-minute bars): the leaderboard's scores are those of its stored
out-of-sample predictions, its backtests those of fast.simulate on the same predictions; walk-forward folds never
share label information with their test blocks; a grid resumes after an interruption without recomputing or
duplicating a cell; failing cells are recorded and the grid goes on; serial and two processes give one leaderboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data import load_sample
from tradeforge.fast import simulate
from tradeforge.ml.experiments import ExperimentGrid, grid_cells, run_grid
from tradeforge.ml.experiments_cell import OOSPlan, plan_oos, prepare_cell, walk_forward_folds
from tradeforge.ml.features import FeatureSet, Returns
from tradeforge.ml.labels import horizon_labels
from tradeforge.ml.leaderboard import Leaderboard
from tradeforge.ml.splitters import leaking_train_samples

FAST = ("Naive Bayes", "Decision Tree", "Linear Discriminant Analysis")
TIMING = ["seconds", "finished_at"]


@pytest.fixture(scope="module")
def eth() -> BarSeries:
    return load_sample("ETH-BTC")


def tiny(**overrides: Any) -> ExperimentGrid:
    settings: dict[str, Any] = {"granularities": (3, 12), "datasetinputs": (2, 4), "windows": (800,),
                                "models": FAST, "step": 400, "fees": 0.001}  # fmt: skip
    settings.update(overrides)
    return ExperimentGrid(**settings)


@pytest.fixture(scope="module")
def board(eth: BarSeries, tmp_path_factory: pytest.TempPathFactory) -> Leaderboard:
    out = tmp_path_factory.mktemp("grid")
    result = run_grid({"ETH-BTC": eth}, tiny(), out, executor="serial")
    assert result.computed == result.cells == 12 and result.skipped == 0 and result.failed == 0
    return result.leaderboard


def test_scores_are_those_of_the_stored_out_of_sample_predictions(eth: BarSeries, board: Leaderboard) -> None:
    frame = board.frame()
    assert len(frame) == 12 and (frame["status"] == "ok").all()
    assert frame["oos_start"].nunique() == 1 and frame["oos_end"].nunique() == 1  # one out-of-sample part
    for _, row in frame.iterrows():
        preds = board.predictions(row["key"])
        assert len(preds) == row["n_oos"] == row["n_folds"] * row["step"]
        assert row["accuracy"] == pytest.approx(accuracy_score(preds["label"], preds["prediction"]), abs=1e-15)
        assert 0.0 <= row["is_accuracy"] <= 1.0  # in-sample, on the newest training rows of each fold
        labels = horizon_labels(eth, int(row["granularity"]), fee_rate=0.001)
        bar = np.searchsorted(eth.ts, preds.index.as_unit("ns").asi8)
        assert np.array_equal(labels.label[bar], preds["label"].to_numpy())  # the true labels, fees covered
        assert np.array_equal(np.diff(bar), np.ones(len(bar) - 1))  # contiguous out-of-sample bars
        cm = np.array(json.loads(row["confusion"]))
        assert np.array_equal(cm, confusion_matrix(preds["label"], preds["prediction"], labels=[-1, 0, 1]))
        buys = preds["prediction"] == 1
        assert row["precision_buy"] == pytest.approx((preds["label"][buys] == 1).mean() if buys.any() else 0.0)
        assert row["support_sell"] == (preds["label"] == -1).sum()


def test_backtest_matches_fast_simulate_on_the_same_predictions(eth: BarSeries, board: Leaderboard) -> None:
    frame = board.frame()
    for _, row in frame.iterrows():
        preds = board.predictions(row["key"])
        bar = np.searchsorted(eth.ts, preds.index.as_unit("ns").asi8)
        a, b = int(bar[0]), int(bar[-1]) + 1
        p = preds["prediction"].to_numpy()
        sim = simulate(
            eth.open[a:b], eth.high[a:b], eth.low[a:b], eth.close[a:b], entries=p == 1, short_entries=p == -1,
            fees=0.001, init_cash=10_000.0, lot_size=0.0, fill="next_open",
        )  # fmt: skip
        trades = sim.trades
        assert row["n_trades"] == len(trades)
        assert row["closed_trades"] == sim.n_trades[0]
        fees = np.nansum(trades["entry_fee"]) + np.nansum(trades["exit_fee"])
        assert row["fees_paid"] == pytest.approx(fees, rel=1e-12)
        assert row["total_return"] == pytest.approx(sim.total_return[0], rel=1e-12, abs=1e-15)
        assert row["buy_hold_return"] == pytest.approx(eth.close[b - 1] / eth.close[a] - 1)
        assert -1.0 <= row["max_drawdown"] <= 0.0
    assert (frame["n_trades"] > 0).any() and (frame["fees_paid"] > 0).any()


def test_deflated_sharpe_counts_every_finished_cell(board: Leaderboard) -> None:
    frame = board.frame()
    assert (frame["n_trials"] == 12).all()
    assert frame["dsr"].between(0.0, 1.0).all()
    assert frame["dsr_benchmark"].nunique() == 1 and (frame["dsr_benchmark"] > 0).all()


def test_grids_sharing_a_leaderboard_deflate_against_all_trials(eth: BarSeries, tmp_path: Path) -> None:
    first = run_grid({"ETH-BTC": eth}, tiny(models=("Naive Bayes",)), tmp_path, executor="serial")
    second = run_grid({"ETH-BTC": eth}, tiny(models=("Decision Tree",)), tmp_path, executor="serial")
    assert set(first.frame["model"]) == {"Naive Bayes"} and set(second.frame["model"]) == {"Decision Tree"}
    everything = Leaderboard(tmp_path).frame()
    assert len(everything) == 8 and (everything["n_trials"] == 8).all()
    with pytest.raises(ConfigError, match="unknown leaderboard column 'sortinoo'"):
        second.top(by="sortinoo")


def test_walk_forward_folds_never_share_label_information(eth: BarSeries) -> None:
    cell = prepare_cell(eth, "returns", 3, 12, fees=0.001)
    plan = plan_oos(eth, 1000, len(eth) - 13, 500)
    folds = list(walk_forward_folds(cell, 700, plan))
    assert len(folds) == plan.n_folds == (len(eth) - 13 - 1000 + 1) // 500
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(tested, np.arange(plan.start, plan.stop))
    for train, test in folds:
        assert len(train) == 700 and np.all(np.diff(train) == 1)
        assert cell.labels.end[train].max() < test.min()  # the last training label ends before the block
        assert train.max() + 12 < test.min() <= train.max() + 13  # the gap is exactly the horizon
        assert leaking_train_samples(train, test, cell.labels.start, cell.labels.end).size == 0
        assert cell.labels.labelled[train].all()


class Killed(BaseException):
    """Stands for the process being interrupted (not an error a cell records)."""


class CountingFeatures:
    """pytrader's returns, counting its calls; raises Killed on call number `kill_at` (1-based)."""

    tradeforge_ref = "counting-returns"

    def __init__(self, kill_at: int | None = None) -> None:
        self.calls = 0
        self.kill_at = kill_at

    def __call__(self, bars: BarSeries, datasetinputs: int, granularity: int) -> FeatureSet:
        self.calls += 1
        if self.calls == self.kill_at:
            raise Killed
        return FeatureSet([Returns(datasetinputs, granularity)])


def test_an_interrupted_grid_resumes_without_recomputing_or_duplicating(eth: BarSeries, tmp_path: Path) -> None:
    grid = tiny(features=CountingFeatures(kill_at=6), oos_start=1000)
    with pytest.raises(Killed):
        run_grid({"ETH-BTC": eth}, grid, tmp_path, executor="serial")
    board = Leaderboard(tmp_path)
    first = board.frame()
    assert len(first) == 5 and (first["status"] == "ok").all()  # the five cells before the interruption
    again = CountingFeatures()
    result = run_grid({"ETH-BTC": eth}, tiny(features=again, oos_start=1000), tmp_path, executor="serial")
    assert (result.computed, result.skipped, result.failed) == (7, 5, 0)
    assert again.calls == 7  # the finished cells were not recomputed
    frame = board.frame()
    assert len(frame) == 12 and frame["key"].is_unique and (frame["status"] == "ok").all()
    kept = frame.set_index("key").loc[first["key"], first.columns[1:]]
    pd.testing.assert_frame_equal(
        kept.drop(columns=["dsr", "dsr_benchmark", "n_trials"]).reset_index(drop=True),
        first.drop(columns=["key", "dsr", "dsr_benchmark", "n_trials"]).reset_index(drop=True),
    )
    third = CountingFeatures()
    assert run_grid({"ETH-BTC": eth}, tiny(features=third, oos_start=1000), tmp_path, executor="serial").computed == 0
    assert third.calls == 0 and len(board) == 12


def nan_after_warmup(bars: BarSeries, datasetinputs: int, granularity: int) -> pd.DataFrame:
    frame = FeatureSet([Returns(datasetinputs, granularity)]).compute(bars)
    if datasetinputs == 4:
        frame.iloc[3000, 1] = np.nan  # a gap a broken feature function would leave
    return frame


def test_failing_cells_are_recorded_and_the_grid_goes_on(eth: BarSeries, tmp_path: Path) -> None:
    grid = tiny(features=nan_after_warmup, windows=(800, 100_000), models=("Naive Bayes",))
    result = run_grid({"ETH-BTC": eth}, grid, tmp_path, executor="serial")
    frame = result.frame
    assert result.cells == 8 and result.failed == 6 and len(frame) == 8
    ok = frame[frame["status"] == "ok"]
    assert set(zip(ok["datasetinputs"], ok["window"], strict=True)) == {(2, 800)}
    errors = frame[frame["status"] == "error"].set_index(["datasetinputs", "window", "granularity"])["error"]
    assert "NaN or infinite at bar 3000" in errors[(4, 800, 3)] and "ret3_2" in errors[(4, 800, 3)]
    assert "training window of 100000 bars" in errors[(2, 100_000, 3)]
    assert "use a window of at most" in errors[(2, 100_000, 3)]
    with pytest.raises(ConfigError, match="no predictions stored"):
        result.leaderboard.predictions(frame.loc[frame["status"] == "error", "key"].iloc[0])
    # rerun: failed cells are skipped, unless asked to retry them
    assert run_grid({"ETH-BTC": eth}, grid, tmp_path, executor="serial").computed == 0
    assert run_grid({"ETH-BTC": eth}, grid, tmp_path, executor="serial", retry_errors=True).computed == 6


def test_a_class_missing_from_a_training_window_fails_its_cell(eth: BarSeries, tmp_path: Path) -> None:
    grid = tiny(threshold=0.02, granularities=(3,), datasetinputs=(2,), models=("Naive Bayes",))
    result = run_grid({"ETH-BTC": eth}, grid, tmp_path, executor="serial")
    (error,) = result.frame["error"]
    assert re.search(r"^DataError: walk-forward fold \d+/12 \(training bars 2018-.* class\(es\) \[-1\] missing", error)


def test_serial_and_two_processes_give_the_same_leaderboard(eth: BarSeries, tmp_path: Path) -> None:
    grid = tiny(models=("Naive Bayes", "Random Forest", "Nearest Neighbors"))
    serial = run_grid({"ETH-BTC": eth}, grid, tmp_path / "serial", executor="serial").frame
    parallel = run_grid({"ETH-BTC": eth}, grid, tmp_path / "two", executor=2, batch_size=5).frame
    assert (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(
        serial.drop(columns=TIMING).sort_values("key").reset_index(drop=True),
        parallel.drop(columns=TIMING).sort_values("key").reset_index(drop=True),
    )
    a, b = Leaderboard(tmp_path / "serial"), Leaderboard(tmp_path / "two")
    for key in serial["key"]:
        pd.testing.assert_frame_equal(a.predictions(key), b.predictions(key))


def test_cells_of_one_symbol_share_the_out_of_sample_bars(eth: BarSeries) -> None:
    cells = grid_cells({"ETH-BTC": eth}, tiny(windows=(500, 800), granularities=(3, 12)))
    assert {(c.oos_first, c.oos_stop) for c in cells} == {(cells[0].oos_first, cells[0].oos_stop)}
    plan = OOSPlan(cells[0].oos_first, cells[0].oos_stop, 400)
    assert plan.stop == len(eth) - 12  # the last bar the longest horizon labels, + 1
    assert (plan.stop - plan.start) % 400 == 0
    assert plan.start >= 4 * 12 + 12 + 800  # warm-up of the longest features + horizon + longest window
    assert len({c.key for c in cells}) == len(cells) == 2 * 2 * 2 * 3


def test_bad_grids_fail_before_any_cell_runs(eth: BarSeries, tmp_path: Path) -> None:
    data = {"ETH-BTC": eth}
    with pytest.raises(ConfigError, match="unknown model 'Random Forrest'"):
        run_grid(data, tiny(models=("Random Forrest",)), tmp_path)
    with pytest.raises(ConfigError, match="n_neighbours"):
        run_grid(data, tiny(models=("knn",), model_params={"knn": {"n_neighbours": [3]}}), tmp_path)
    with pytest.raises(ConfigError, match="not among the grid's models"):
        run_grid(data, tiny(model_params={"knn": {"n_neighbors": [3]}}), tmp_path)
    with pytest.raises(ConfigError, match="unknown feature set"):
        run_grid(data, tiny(features="fancy"), tmp_path)
    with pytest.raises(ConfigError, match="sell must be"):
        run_grid(data, tiny(sell="sideways"), tmp_path)
    assert len(Leaderboard(tmp_path)) == 0


def test_model_parameters_are_crossed_and_long_only_trading(eth: BarSeries, tmp_path: Path) -> None:
    grid = tiny(granularities=(12,), datasetinputs=(2,), models=("Decision Tree",),
                model_params={"Decision Tree": {"max_depth": [2, 4], "min_samples_leaf": [1, 50]}},
                sell="flat", hold="flat")  # fmt: skip
    frame = run_grid({"ETH-BTC": eth}, grid, tmp_path, executor="serial").frame
    assert sorted(frame["params"]) == sorted(
        f'{{"max_depth": {d}, "min_samples_leaf": {m}}}' for d in (2, 4) for m in (1, 50)
    )
    board = Leaderboard(tmp_path)
    for _, row in frame.iterrows():
        p = board.predictions(row["key"])["prediction"].to_numpy()
        bar = np.searchsorted(eth.ts, board.predictions(row["key"]).index.as_unit("ns").asi8)
        a, b = int(bar[0]), int(bar[-1]) + 1
        sim = simulate(eth.open[a:b], eth.high[a:b], eth.low[a:b], eth.close[a:b], entries=p == 1, exits=p != 1,
                       fees=0.001, lot_size=0.0)  # fmt: skip
        assert (sim.trades["side"] == 1).all() and row["n_trades"] == len(sim.trades)
        assert row["total_return"] == pytest.approx(sim.total_return[0], abs=1e-15)
