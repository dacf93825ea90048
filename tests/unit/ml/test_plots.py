"""tradeforge.ml.plots on real bars (BTC-PERP closes -> simple-return features): the values in each figure are the
model's, the backtest's and the leaderboard's own; the HTML files are self-contained; bad inputs give clear errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score
from sklearn.tree import DecisionTreeClassifier

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import load_sample, sample_instrument
from tradeforge.ml import plots
from tradeforge.ml.features import FeatureSet, Returns
from tradeforge.ml.labels import horizon_labels
from tradeforge.ml.models import Model, make_model
from tradeforge.ml.strategy import MLStrategy
from tradeforge.sim.backtest import run_backtest
from tradeforge.sim.result import Result

CLASSES = [-1, 0, 1]


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return load_sample("BTC-PERP").slice(0, 3000)


@pytest.fixture(scope="module")
def data(bars: BarSeries) -> tuple[pd.DataFrame, np.ndarray]:
    """Three simple-return features and 5-bar buy/sell/hold labels, warm-up and unlabelled rows dropped."""
    features = FeatureSet([Returns(3)]).compute(bars)
    labels = horizon_labels(bars, 5, fee_rate=0.0002)
    keep = features.notna().all(axis=1).to_numpy() & labels.labelled
    X = features[keep].reset_index(drop=True)
    y = labels.label[keep].astype(np.int64)
    assert set(np.unique(y)) == set(CLASSES)
    return X, y


@pytest.fixture(scope="module")
def tree2(data: tuple[pd.DataFrame, np.ndarray]) -> Model:
    X, y = data
    return make_model("Decision Tree", max_depth=4).fit(X[["ret_1", "ret_2"]], y, classes=CLASSES)


def grid_points(fig: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    heat = fig.data[0]
    assert heat.type == "heatmap"
    return np.asarray(heat.x, dtype=float), np.asarray(heat.y, dtype=float), np.asarray(heat.z, dtype=float)


# --- decision boundary --------------------------------------------------------------------------------------------


def test_boundary_regions_are_the_models_predictions_on_the_grid(tree2: Model, data: Any) -> None:
    X, y = data
    fig = plots.decision_boundary(tree2, X, y, grid=60)
    xs, ys, z = grid_points(fig)
    assert z.shape == (60, 60) and len(xs) == 60 and len(ys) == 60
    gx, gy = np.meshgrid(xs, ys)
    expected = tree2.predict(pd.DataFrame({"ret_1": gx.ravel(), "ret_2": gy.ravel()})).reshape(z.shape)
    np.testing.assert_array_equal(z, expected)
    assert len(np.unique(z)) >= 2  # a real boundary, not one flat colour
    # the grid spans the data (plus a margin) on both axes
    assert xs[0] < X["ret_1"].min() and xs[-1] > X["ret_1"].max()
    assert ys[0] < X["ret_2"].min() and ys[-1] > X["ret_2"].max()
    # points coloured by their true class: one trace per class, every row drawn once, at its own coordinates
    points = [t for t in fig.data[1:] if t.type in ("scatter", "scattergl")]
    assert len(points) == 3
    assert sum(len(t.x) for t in points) == len(X)
    sell = next(t for t in points if t.name.startswith("true sell"))
    np.testing.assert_allclose(np.sort(np.asarray(sell.x)), np.sort(X["ret_1"].to_numpy()[y == -1]))
    assert sell.marker.color == plots.CLASS_COLORS[-1]
    accuracy = accuracy_score(y, tree2.predict(X[["ret_1", "ret_2"]]))
    assert fig.layout.meta["accuracy"] == pytest.approx(accuracy)
    assert "Decision Tree" in fig.layout.title.text and f"{accuracy:.1%}" in fig.layout.title.text


def test_boundary_axes_follow_the_order_asked_for(tree2: Model, data: Any) -> None:
    X, y = data
    fig = plots.decision_boundary(tree2, X, y, features=("ret_2", "ret_1"), grid=40)
    xs, ys, z = grid_points(fig)
    gx, gy = np.meshgrid(xs, ys)
    expected = tree2.predict(pd.DataFrame({"ret_2": gx.ravel(), "ret_1": gy.ravel()})).reshape(z.shape)
    np.testing.assert_array_equal(z, expected)
    assert fig.layout.xaxis.title.text == "ret_2" and fig.layout.yaxis.title.text == "ret_1"


def test_boundary_fit_true_fits_a_fresh_copy_on_the_two_columns(data: Any) -> None:
    X, y = data
    three = make_model("Naive Bayes").fit(X, y)
    fig = plots.decision_boundary(three, X, y, features=("ret_1", "ret_3"), fit=True, grid=50, max_points=500)
    assert three.feature_names == ("ret_1", "ret_2", "ret_3")  # the caller's model is left alone
    reference = make_model("Naive Bayes").fit(X[["ret_1", "ret_3"]], y)
    xs, ys, z = grid_points(fig)
    gx, gy = np.meshgrid(xs, ys)
    expected = reference.predict(pd.DataFrame({"ret_1": gx.ravel(), "ret_3": gy.ravel()})).reshape(z.shape)
    np.testing.assert_array_equal(z, expected)
    assert "in-sample" in fig.layout.title.text
    assert sum(len(t.x) for t in fig.data[1:]) == 500  # a sample is drawn, the accuracy still uses every row
    assert fig.layout.meta["accuracy"] == pytest.approx(accuracy_score(y, reference.predict(X[["ret_1", "ret_3"]])))


def test_boundary_works_with_a_plain_sklearn_classifier(data: Any) -> None:
    X, y = data
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[["ret_1", "ret_2"]].to_numpy(), y)
    fig = plots.decision_boundary(tree, X[["ret_1", "ret_2"]].to_numpy(), y, grid=30)
    xs, ys, z = grid_points(fig)
    gx, gy = np.meshgrid(xs, ys)
    np.testing.assert_array_equal(z, tree.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(z.shape))


def test_boundary_refuses_a_model_on_three_features_without_fit(data: Any) -> None:
    X, y = data
    three = make_model("Decision Tree", max_depth=3).fit(X, y)
    with pytest.raises(ConfigError, match=r"fitted on 3 features .*ret_1.*exactly two.*fit=True"):
        plots.decision_boundary(three, X, y, features=("ret_1", "ret_2"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ("ret_1", "nope")}, r"\['nope'\] are not columns of X; X has: \['ret_1', 'ret_2', 'ret_3'\]"),
        ({"features": ("ret_1", "ret_3")}, r"fitted on \['ret_1', 'ret_2'\], not \['ret_1', 'ret_3'\].*fit=True"),
        ({"features": "ret_1"}, "two column names"),
        ({"grid": 1}, "grid must be an integer from 2"),
        ({"quantiles": (0.9, 0.1)}, "low < high"),
    ],
)
def test_boundary_bad_arguments(tree2: Model, data: Any, kwargs: dict[str, Any], message: str) -> None:
    X, y = data
    with pytest.raises(ConfigError, match=message):
        plots.decision_boundary(tree2, X, y, **kwargs)


def test_boundary_unfitted_model_nan_features_and_misaligned_labels(data: Any) -> None:
    X, y = data
    with pytest.raises(ConfigError, match=r"not fitted.*fit=True"):
        plots.decision_boundary(make_model("Naive Bayes"), X, y, features=("ret_1", "ret_2"))
    model = make_model("Naive Bayes").fit(X[["ret_1", "ret_2"]], y)
    holes = X.copy()
    holes.loc[3, "ret_2"] = np.nan
    with pytest.raises(DataError, match=r"NaN.*position 3.*dropna"):
        plots.decision_boundary(model, holes, y)
    with pytest.raises(DataError, match="rows but y has"):
        plots.decision_boundary(model, X, y[:-1])


# --- feature importance -------------------------------------------------------------------------------------------


def test_native_importances_are_the_trees_own_in_order(data: Any) -> None:
    X, y = data
    model = make_model("Decision Tree", max_depth=6).fit(X, y)
    native = model.pipeline.named_steps["model"].feature_importances_
    fig = plots.feature_importance(model, X)
    bar = fig.data[0]
    order = np.argsort(-native, kind="stable")
    assert list(bar.y) == [X.columns[i] for i in order]
    np.testing.assert_allclose(np.asarray(bar.x), native[order])
    assert list(np.asarray(bar.x)) == sorted(native, reverse=True)
    assert fig.layout.meta["method"] == "native" and fig.layout.yaxis.autorange == "reversed"
    top = plots.feature_importance(model, X, top=2).data[0]
    assert list(top.y) == list(bar.y[:2])


def test_linear_importances_are_coefficient_magnitudes(data: Any) -> None:
    X, y = data
    model = make_model("Linear Discriminant Analysis").fit(X, y)
    coef = np.abs(model.pipeline.named_steps["model"].coef_).mean(axis=0)
    bar = plots.feature_importance(model, X).data[0]
    np.testing.assert_allclose(np.asarray(bar.x), np.sort(coef)[::-1])


def test_permutation_importance_when_the_model_has_none(data: Any) -> None:
    X, y = data
    model = make_model("Naive Bayes").fit(X, y)
    fig = plots.feature_importance(model, X, y, n_repeats=3, random_state=7)
    expected = permutation_importance(
        model, X, y, scoring=lambda est, A, b: accuracy_score(b, est.predict(A)), n_repeats=3, random_state=7
    )
    mean = expected["importances_mean"]
    order = np.argsort(-mean, kind="stable")
    bar = fig.data[0]
    assert list(bar.y) == [X.columns[i] for i in order]
    np.testing.assert_allclose(np.asarray(bar.x), mean[order])
    np.testing.assert_allclose(np.asarray(bar.error_x.array), expected["importances_std"][order])
    assert fig.layout.meta["method"] == "permutation"


def test_importance_errors(data: Any) -> None:
    X, y = data
    bayes = make_model("Naive Bayes").fit(X, y)
    with pytest.raises(ConfigError, match=r"no native importances.*pass y"):
        plots.feature_importance(bayes, X)
    with pytest.raises(ConfigError, match="method='permutation'"):
        plots.feature_importance(bayes, X, y, method="native")
    with pytest.raises(ConfigError, match="method must be"):
        plots.feature_importance(bayes, X, y, method="shap")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"lacks feature\(s\) \['ret_3'\]"):
        plots.feature_importance(bayes, X[["ret_1", "ret_2"]], y)
    with pytest.raises(ConfigError, match="not fitted"):
        plots.feature_importance(make_model("Decision Tree"), X, y)
    with pytest.raises(ConfigError, match="top must be"):
        plots.feature_importance(bayes, X, y, top=0)


# --- equity against buy-and-hold ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result(bars: BarSeries) -> Result:
    strategy = MLStrategy(
        model="Decision Tree",
        model_params={"max_depth": 3},
        features=FeatureSet([Returns(3)]),
        horizon=3,
        train_window=800,
        retrain_every=400,
        on_missing_class="zero",
        hold="flat",
    )
    out = run_backtest(
        strategy, bars, cash=5_000.0, commission=0.0005, instruments={"BTC-PERP": sample_instrument("BTC-PERP")}
    )
    assert len(out.closed_trades) >= 5
    return out


def test_equity_and_buy_and_hold_traces(result: Result, bars: BarSeries) -> None:
    fig = plots.equity_vs_buy_and_hold(result, bars)
    equity, hold = fig.data[0], fig.data[1]
    np.testing.assert_array_equal(np.asarray(equity.y), result.equity)
    np.testing.assert_allclose(np.asarray(hold.y), 5_000.0 * bars.close / bars.close[0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(equity.x), result.timestamps / 1e6)
    total = result.equity[-1] / 5_000.0 - 1
    drawdown = (result.equity / np.maximum.accumulate(result.equity) - 1).min()
    assert f"return {total:+.1%}" in equity.name and f"max drawdown {drawdown:.1%}" in equity.name
    hold_total = bars.close[-1] / bars.close[0] - 1
    assert f"return {hold_total:+.1%}" in hold.name and "buy & hold" in hold.name
    # trade markers sit on the equity curve at the trades' entry and exit steps
    by_name = {t.name.split(" (")[0]: t for t in fig.data}
    entries = [t for name, t in by_name.items() if name.endswith("entry")]
    assert sum(len(t.x) for t in entries) == len(result.trades)
    exits = by_name["exit"]
    closed = result.closed_trades
    assert len(exits.x) == len(closed)
    np.testing.assert_array_equal(np.asarray(exits.y), result.equity[[t.exit_bar for t in closed]])
    # the drawdown panel
    dd = [t for t in fig.data if t.name == "drawdown [%]"]
    assert len(dd) == 2
    np.testing.assert_allclose(np.min(dd[0].y), 100 * drawdown)
    # the symbol can be given by name, or left out when the result holds one
    again = plots.equity_vs_buy_and_hold(result)
    np.testing.assert_array_equal(np.asarray(again.data[1].y), np.asarray(hold.y))


def test_equity_refuses_bars_that_do_not_cover_the_backtest(result: Result, bars: BarSeries) -> None:
    with pytest.raises(ConfigError, match=r"do not cover the backtest.*result.bars\['BTC-PERP'\]"):
        plots.equity_vs_buy_and_hold(result, bars.slice(100, 3000))
    with pytest.raises(ConfigError, match=r"'ETH' has no bars.*\['BTC-PERP'\]"):
        plots.equity_vs_buy_and_hold(result, "ETH")


# --- leaderboard --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def board(bars: BarSeries) -> pd.DataFrame:
    """A small real grid: model x granularity x datasetinputs, trained on the first 2/3, scored on the rest."""
    rows = []
    closes = bars.close
    for model in ("Decision Tree", "Naive Bayes"):
        for granularity in (1, 3):
            for inputs in (2, 3):
                features = FeatureSet([Returns(inputs, granularity)]).compute(bars)
                labels = horizon_labels(bars, granularity, fee_rate=0.0002)
                keep = features.notna().all(axis=1).to_numpy() & labels.labelled
                X, y, idx = features[keep], labels.label[keep], np.flatnonzero(keep)
                cut = 2 * len(X) // 3
                fitted = make_model(model).fit(X.iloc[:cut], y[:cut])
                pred = fitted.predict(X.iloc[cut:])
                moves = closes[idx[cut:] + granularity] / closes[idx[cut:]] - 1
                pnl = pred * moves
                downside = np.sqrt(np.mean(np.minimum(pnl, 0.0) ** 2))
                rows.append(
                    {
                        "status": "ok",
                        "model": model,
                        "granularity": granularity,
                        "datasetinputs": inputs,
                        "is_accuracy": accuracy_score(y[:cut], fitted.predict(X.iloc[:cut])),
                        "oos_accuracy": accuracy_score(y[cut:], pred),
                        "oos_return": float(np.prod(1 + pnl / granularity) - 1),
                        "oos_sortino": float(pnl.mean() / downside),
                        "buy_hold_return": float(closes[-1] / closes[idx[cut]] - 1),
                    }
                )
    rows.append({"status": "error", "model": "RBF SVM", "granularity": 1, "datasetinputs": 2})
    return pd.DataFrame(rows)


def test_leaderboard_has_one_group_per_model(board: pd.DataFrame) -> None:
    fig = plots.leaderboard_chart(board)
    boxes = [t for t in fig.data if t.type == "box"]
    assert sorted(t.name for t in boxes) == ["Decision Tree", "Naive Bayes"]  # the failed RBF SVM cell is left out
    for box in boxes:
        expected = board.loc[board["model"] == box.name, "oos_sortino"].to_numpy()
        np.testing.assert_allclose(np.sort(np.asarray(box.y)), np.sort(expected))
    medians = [float(np.median(np.asarray(b.y))) for b in boxes]
    assert medians == sorted(medians, reverse=True)  # best median first
    assert "1 failed cell(s) left out" in fig.layout.title.text
    assert not [t for t in fig.data if t.type == "scatter"]  # no in-sample sortino column: no scatter
    stale = board.copy()
    stale.loc[stale["status"] == "error", "oos_sortino"] = 5.0  # a failed cell is left out even with a value
    assert sorted(t.name for t in plots.leaderboard_chart(stale).data) == ["Decision Tree", "Naive Bayes"]


def test_leaderboard_in_sample_scatter_and_buy_and_hold(board: pd.DataFrame) -> None:
    fig = plots.leaderboard_chart(board, metric="oos_accuracy", by="granularity")
    assert sorted(t.name for t in fig.data if t.type == "box") == ["1", "3"]
    assert fig.layout.meta["in_sample"] == "is_accuracy"
    points = [t for t in fig.data if t.type == "scatter" and t.mode == "markers"]
    assert len(points) == 2
    ok = board[board["status"] == "ok"]
    for trace in points:
        rows = ok[ok["granularity"].astype(str) == trace.name]
        np.testing.assert_allclose(np.asarray(trace.x), rows["is_accuracy"].to_numpy())
        np.testing.assert_allclose(np.asarray(trace.y), rows["oos_accuracy"].to_numpy())
    returns = plots.leaderboard_chart(board, metric="oos_return")
    lines = [s for s in returns.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].y0 == pytest.approx(ok["buy_hold_return"].median())


def test_leaderboard_reads_the_grids_own_column_names(board: pd.DataFrame) -> None:
    renamed = board.rename(columns={"oos_sortino": "sortino"})
    fig = plots.leaderboard_chart(renamed)  # default metric oos_sortino -> the leaderboard's "sortino"
    assert fig.layout.meta["metric"] == "sortino"


def test_leaderboard_missing_columns_list_the_available_ones(board: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"no column 'oos_calmar'.*available columns: \['status', 'model'.*numeric"):
        plots.leaderboard_chart(board, metric="oos_calmar")
    with pytest.raises(ConfigError, match=r"no column 'family' to group by; available columns: \['status'"):
        plots.leaderboard_chart(board, by="family")
    with pytest.raises(ConfigError, match="no in-sample column 'is_sortino'"):
        plots.leaderboard_chart(board, in_sample="is_sortino")
    with pytest.raises(ConfigError, match="DataFrame"):
        plots.leaderboard_chart(board.to_dict())  # type: ignore[arg-type]


# --- files --------------------------------------------------------------------------------------------------------


def test_html_files_are_written_and_self_contained(tree2: Model, data: Any, result: Result, tmp_path: Path) -> None:
    X, y = data
    targets: dict[str, Callable[[Path], Any]] = {
        "boundary": lambda p: plots.decision_boundary(tree2, X, y, grid=20, path=p),
        "importance": lambda p: plots.feature_importance(tree2, X[["ret_1", "ret_2"]], path=p),
        "equity": lambda p: plots.equity_vs_buy_and_hold(result, path=p),
    }
    for name, draw in targets.items():
        path = tmp_path / "out" / f"{name}.html"
        fig = draw(path)
        text = path.read_text(encoding="utf-8")
        assert text.lower().startswith("<!doctype html>") and text.rstrip().endswith("</html>")
        assert not re.search(r"<script[^>]+src=", text)  # nothing fetched: plotly.js is inlined
        assert "plotly.js v" in text and len(text) > 1_000_000
        assert f'"type":"{fig.data[0].type}"' in text
        assert re.search(r'<meta charset="utf-8" />\s*<title>[^<]+</title>', text)


def test_image_paths_write_the_page_and_the_image_or_say_why_not(tree2: Model, data: Any, tmp_path: Path) -> None:
    X, y = data
    target = tmp_path / "boundary.png"
    if plots.image_export_available():
        plots.decision_boundary(tree2, X, y, grid=20, path=target)
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        with pytest.raises(ConfigError, match=r"wrote .*boundary.html.*kaleido.*Chrome"):
            plots.decision_boundary(tree2, X, y, grid=20, path=target)
        assert not target.exists()
    assert (tmp_path / "boundary.html").stat().st_size > 1_000_000


def test_bad_paths(tree2: Model, data: Any, tmp_path: Path) -> None:
    X, y = data
    with pytest.raises(ConfigError, match=r"end the path in .html"):
        plots.decision_boundary(tree2, X, y, grid=20, path=tmp_path / "plot.txt")
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(ConfigError, match="it is a folder"):
        plots.save_figure(plots.feature_importance(tree2, X[["ret_1", "ret_2"]]), tmp_path / "dir.html")
