"""Plots of models, strategies and experiment grids: plotly figures, written as self-contained HTML on request.

    from tradeforge.ml import plots
    plots.decision_boundary(model, X, y, features=("ret_1", "ret_2"), path="boundary.html")
    plots.feature_importance(model, X_test, y_test, path="importance.html")
    plots.equity_vs_buy_and_hold(result, bars, path="equity.html")
    plots.leaderboard_chart(board.frame(), metric="sortino", path="leaderboard.html")

Every function returns the plotly Figure. Given `path=`, it also writes the figure: a path ending in .html (or
.htm) gets one HTML file that works offline (plotly.js is embedded, no CDN); a path ending in .png (or .svg, .pdf,
.jpg, .jpeg, .webp) gets the HTML file beside it (same name, .html) and then the image, which plotly renders with
the kaleido package (>= 1) and a Chrome/Chromium browser. When those are missing the HTML file is still written
and a ConfigError says how to get the image; `image_export_available()` tells beforehand.

The decision-boundary plot is pytrader's: for a model on two inputs (pytrader's last two price moves), the buy /
sell / hold regions it predicts over a grid spanning the data, shaded in pytrader's colours (buy blue, sell red,
hold green), with the points coloured by their true class.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.ml.ensemble import BUY, HOLD, SELL
from tradeforge.ml.models import Model
from tradeforge.sim.result import Result

__all__ = [
    "CLASS_COLORS",
    "CLASS_NAMES",
    "HTML_SUFFIXES",
    "IMAGE_SUFFIXES",
    "METRIC_ALIASES",
    "decision_boundary",
    "equity_vs_buy_and_hold",
    "feature_importance",
    "image_export_available",
    "leaderboard_chart",
    "save_figure",
]

PathArg = str | os.PathLike[str]
ImportanceMethod = Literal["auto", "native", "permutation"]
FloatArray = npt.NDArray[np.float64]

HTML_SUFFIXES = (".html", ".htm")
IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp")

CLASS_NAMES: Mapping[Any, str] = {SELL: "sell", HOLD: "hold", BUY: "buy"}
"""How the buy / sell / hold labels (1 / -1 / 0) are shown."""
CLASS_COLORS: Mapping[Any, str] = {SELL: "#d62728", HOLD: "#2ca02c", BUY: "#1f77b4"}
"""pytrader's colours: buy blue, sell red, hold green."""
_OTHER_COLORS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

METRIC_ALIASES: Mapping[str, str] = {
    "oos_accuracy": "accuracy",
    "oos_balanced_accuracy": "balanced_accuracy",
    "oos_return": "total_return",
    "oos_sortino": "sortino",
    "oos_sharpe": "sharpe",
    "oos_max_drawdown": "max_drawdown",
    "oos_profit_factor": "profit_factor",
    "deflated_sharpe": "dsr",
}
"""leaderboard_chart: a metric absent from the frame is looked up under this name (the grid's leaderboard stores
out-of-sample results without the oos_ prefix)."""

_IN_SAMPLE_PREFIXES = ("is_", "in_sample_", "train_")
_PLOTLY_CONFIG: dict[str, Any] = {"responsive": True, "displaylogo": False, "showSendToCloud": False}
_NS_PER_MS = 1_000_000
_MAX_GRID = 2000


# --- writing ------------------------------------------------------------------------------------------------------


def save_figure(fig: go.Figure, path: PathArg) -> list[Path]:
    """Write `fig` to `path` and return the files written.

    .html / .htm: one self-contained HTML file (plotly.js embedded: it opens offline). An image suffix (.png, .svg,
    .pdf, .jpg, .jpeg, .webp): the HTML file beside it (same name, .html), then the image through kaleido; if the
    image cannot be rendered here (kaleido >= 1 or Chrome missing) a ConfigError says so after the HTML is written.
    """
    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix not in HTML_SUFFIXES + IMAGE_SUFFIXES:
        raise ConfigError(
            f"cannot tell which format to write {str(target)!r}: end the path in .html (a self-contained page) or "
            f"in one of {', '.join(IMAGE_SUFFIXES)} (an image, plus the HTML page beside it)"
        )
    _check_target(target)
    page = target if suffix in HTML_SUFFIXES else target.with_suffix(".html")
    if page != target:
        _check_target(page)
    page.write_text(_html_document(fig), encoding="utf-8")
    written = [page]
    if suffix in IMAGE_SUFFIXES:
        try:
            fig.write_image(str(target))
        except (ImportError, ValueError, RuntimeError, OSError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise ConfigError(
                f"wrote {str(page)!r} but could not render {target.name!r}: plotly exports images with the kaleido "
                f"package (>= 1) and a Chrome or Chromium browser, which this machine lacks ({detail}). Install both "
                "(pip install 'kaleido>=1', then plotly_get_chrome) or open the HTML file and use its camera button."
            ) from exc
        written.append(target)
    return written


@cache
def image_export_available() -> bool:
    """Whether plotly can render PNG here (kaleido >= 1 and a Chrome it can start). Tries a tiny figure, once."""
    try:
        go.Figure().to_image(format="png", width=10, height=10)
    except Exception:  # any failure means "no": a missing package, a missing browser, a browser that won't start
        return False
    return True


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"cannot write the plot to {str(path)!r}: it is a folder; pass a file path such as plot.html")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot overwrite {str(path)!r}: the file is not writable; choose another path")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(path)!r}: creating its folder failed: {exc}") from exc


def _html_document(fig: go.Figure) -> str:
    document = str(fig.to_html(include_plotlyjs=True, full_html=True, config=_PLOTLY_CONFIG))
    text = fig.layout.title.text or "tradeforge plot"
    title = html.escape(re.sub(r"<[^>]+>", " ", text.split("<br>")[0]).strip())
    charset = re.search(r"<meta charset=[^>]*>", document)
    if charset is not None:
        return document[: charset.end()] + f"\n<title>{title}</title>" + document[charset.end() :]
    return document.replace("<head>", f"<head>\n<title>{title}</title>", 1)


def _finish(fig: go.Figure, path: PathArg | None) -> go.Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


# --- models: names, features, classes -----------------------------------------------------------------------------


def _model_name(model: Any) -> str:
    if isinstance(model, Model):
        return model.name
    inner = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return type(inner).__name__


def _is_fitted(model: Any) -> bool:
    if isinstance(model, Model):
        return model.is_fitted
    return hasattr(model, "classes_") or hasattr(model, "n_features_in_")


def _fitted_features(model: Any) -> tuple[tuple[str, ...] | None, int]:
    """(feature names or None when fitted on a bare array, number of features) of a fitted model."""
    if isinstance(model, Model):
        names = model.feature_names or ()
        return tuple(names), len(names)
    names_in = getattr(model, "feature_names_in_", None)
    if names_in is not None:
        return tuple(str(n) for n in names_in), len(names_in)
    return None, int(getattr(model, "n_features_in_", 0))


def _model_classes(model: Any) -> list[Any]:
    classes = model.classes_ if isinstance(model, Model) else getattr(model, "classes_", [])
    return [_py(c) for c in np.asarray(classes).tolist()]


def _predict(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """model.predict on `frame` (a DataFrame when the model knows its feature names, else the bare values)."""
    names, _ = _fitted_features(model)
    data: Any = frame if names is not None else frame.to_numpy(dtype=np.float64)
    return np.asarray(model.predict(data))


def _fresh_copy(model: Any) -> Any:
    """An unfitted model with the same family and settings."""
    if isinstance(model, Model):
        return Model(
            model.spec,
            model.params,
            calibrate=model.calibrate,
            calibration_method=model.calibration_method,
            calibration_folds=model.calibration_folds,
            scale=model.scale,
            max_train_rows=model.max_train_rows,
        )
    try:
        return clone(model)
    except TypeError as exc:
        raise ConfigError(
            f"fit=True needs a tradeforge Model (make_model(...)) or a scikit-learn estimator, got {model!r}"
        ) from exc


def _as_frame(X: Any, model: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.set_axis([str(c) for c in X.columns], axis=1)
    matrix = np.asarray(X)
    if matrix.ndim != 2:
        raise DataError(f"X must be 2-D (rows x features), got shape {matrix.shape}")
    names, n = _fitted_features(model) if _is_fitted(model) else (None, 0)
    columns = list(names) if names is not None and n == matrix.shape[1] else [f"f{i}" for i in range(matrix.shape[1])]
    return pd.DataFrame(matrix, columns=columns)


def _as_labels(y: Any, n_rows: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"y must be 1-D (one label per row), got shape {labels.shape}")
    if len(labels) != n_rows:
        raise DataError(f"X has {n_rows} rows but y has {len(labels)} labels: align them on the same index")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise DataError("y has NaN labels: drop the rows whose label is unknown (the last `horizon` bars)")
        if np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
    return labels


def _check_finite(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    values = frame[list(columns)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(
            f"X has {len(rows)} row(s) with NaN/infinite values in {list(columns)}, the first at position "
            f"{int(rows[0])}: drop the warm-up rows (X.dropna()) and the labels with them"
        )


def _class_name(c: Any) -> str:
    return CLASS_NAMES.get(c, str(c)) if _is_number(c) else str(c)


def _class_colors(classes: Sequence[Any]) -> dict[Any, str]:
    colors: dict[Any, str] = {}
    others = iter(_OTHER_COLORS * (len(classes) // len(_OTHER_COLORS) + 1))
    for c in classes:
        colors[c] = CLASS_COLORS[c] if _is_number(c) and c in CLASS_COLORS else next(others)
    return colors


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- 1. decision boundary -----------------------------------------------------------------------------------------


def decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    features: Sequence[str] | None = None,
    *,
    grid: int = 200,
    fit: bool = False,
    quantiles: tuple[float, float] = (0.0, 1.0),
    max_points: int | None = 20_000,
    path: PathArg | None = None,
) -> go.Figure:
    """pytrader's decision-boundary plot: the classes a two-input model predicts over a grid, with the points.

    model: a fitted tradeforge Model (or scikit-learn classifier) trained on exactly the two columns `features`
    (default: the two it was fitted on). fit=True instead fits a fresh, unfitted copy of it on X[features] and y,
    and the accuracy in the title is then in-sample. X: DataFrame (or array) of features without NaN; y: the true
    class of each row. `features` = (x axis, y axis); pytrader drew the latest move across and the one before up.

    The grid has `grid` x `grid` points spanning the data (between the `quantiles` of each feature, default the
    minimum and maximum, plus a 5% margin; e.g. (0.005, 0.995) zooms past the fat tails of returns). Regions are
    shaded by predicted class, points coloured by true class (at most `max_points` of them drawn, an evenly seeded
    sample; the accuracy always uses every row). Raises ConfigError for a model that is unfitted or not on two
    features (without fit=True), or for features absent from X; DataError for NaN features or misaligned labels.
    """
    if isinstance(grid, bool) or not isinstance(grid, int | np.integer) or not 2 <= grid <= _MAX_GRID:
        raise ConfigError(f"grid must be an integer from 2 to {_MAX_GRID} (points per axis), got {grid!r}")
    lo_q, hi_q = _check_quantiles(quantiles)
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1):
        raise ConfigError(f"max_points must be None (draw every point) or a positive integer, got {max_points!r}")
    name = _model_name(model)
    frame = _as_frame(X, model)
    a, b = _boundary_features(model, frame, features, fit=fit)
    labels = _as_labels(y, len(frame))
    _check_finite(frame, (a, b))
    data = frame[[a, b]]
    if fit:
        model = _fresh_copy(model)
        model.fit(data, labels)

    xs = _axis(data[a].to_numpy(dtype=np.float64), lo_q, hi_q, int(grid))
    ys = _axis(data[b].to_numpy(dtype=np.float64), lo_q, hi_q, int(grid))
    gx, gy = np.meshgrid(xs, ys)  # row i is ys[i], column j is xs[j]: the heatmap's layout
    grid_frame = pd.DataFrame({a: gx.ravel(), b: gy.ravel()})
    predicted = _predict(model, grid_frame).reshape(gy.shape)
    on_points = _predict(model, data)
    accuracy = float(accuracy_score(labels, on_points))

    classes = sorted(set(_model_classes(model)) | {_py(c) for c in np.unique(labels)} | set(np.unique(predicted)))
    classes = [_py(c) for c in classes]
    colors = _class_colors(classes)
    numeric = all(_is_number(c) for c in classes)
    if numeric:
        values = [float(c) for c in classes]
        z = predicted.astype(np.float64)
    else:
        values = [float(i) for i in range(len(classes))]
        codes = {c: i for i, c in enumerate(classes)}
        z = np.vectorize(lambda c: codes[_py(c)], otypes=[np.float64])(predicted)
    colorscale, zmin, zmax = _discrete_colorscale(values, [colors[c] for c in classes])

    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=xs,
            y=ys,
            z=z,
            zmin=zmin,
            zmax=zmax,
            colorscale=colorscale,
            opacity=0.4,
            name="predicted class",
            colorbar={
                "title": {"text": "predicted"},
                "tickvals": values,
                "ticktext": [f"{_class_name(c)} ({c})" if numeric else str(c) for c in classes],
                "len": 0.5,
                "y": 0.25,
            },
            hovertemplate=f"{html.escape(a)}=%{{x:.4g}}<br>{html.escape(b)}=%{{y:.4g}}<br>"
            "predicted %{z}<extra></extra>",
        )
    )
    shown = _sample_rows(len(data), max_points)
    scatter = go.Scattergl if len(shown) > 2000 else go.Scatter
    for c in classes:
        rows = shown[labels[shown] == c]
        if not len(rows):
            continue
        fig.add_trace(
            scatter(
                x=data[a].to_numpy(dtype=np.float64)[rows],
                y=data[b].to_numpy(dtype=np.float64)[rows],
                mode="markers",
                name=f"true {_class_name(c)} ({c}): {len(rows):,}" if numeric else f"true {c}: {len(rows):,}",
                marker={"color": colors[c], "size": 5, "line": {"color": "white", "width": 0.5}},
                hovertemplate=f"{html.escape(a)}=%{{x:.4g}}<br>{html.escape(b)}=%{{y:.4g}}<br>"
                f"true {html.escape(str(c))}<extra></extra>",
            )
        )
    notes = [f"accuracy {accuracy:.1%} on {len(data):,} points"]
    if fit:
        notes.append("in-sample: the model was fitted on these points")
    if len(shown) < len(data):
        notes.append(f"{len(shown):,} of them drawn")
    outside = int(((data[a] < xs[0]) | (data[a] > xs[-1]) | (data[b] < ys[0]) | (data[b] > ys[-1])).sum())
    if outside:
        notes.append(f"{outside:,} outside the plotted range")
    fig.update_layout(
        title={
            "text": f"{html.escape(name)}: decision boundary over {html.escape(a)} and {html.escape(b)}"
            f"<br><sup>{html.escape('; '.join(notes))}</sup>"
        },
        template="plotly_white",
        width=900,
        height=750,
        legend={"orientation": "h", "yanchor": "top", "y": -0.1, "xanchor": "left", "x": 0},
        meta={"model": name, "features": [a, b], "accuracy": accuracy, "classes": classes, "fitted_here": fit},
    )
    fig.update_xaxes(title_text=a, range=[xs[0], xs[-1]], zeroline=True)
    fig.update_yaxes(title_text=b, range=[ys[0], ys[-1]], zeroline=True)
    return _finish(fig, path)


def _boundary_features(model: Any, frame: pd.DataFrame, features: Sequence[str] | None, *, fit: bool) -> list[str]:
    columns = list(frame.columns)
    if features is not None:
        if isinstance(features, str) or len(features) != 2:
            raise ConfigError(f"features must be two column names (x axis, y axis), got {features!r}")
        chosen = [str(f) for f in features]
        if chosen[0] == chosen[1]:
            raise ConfigError(f"features must be two different columns, got {chosen}")
        missing = [f for f in chosen if f not in columns]
        if missing:
            raise ConfigError(f"feature(s) {missing} are not columns of X; X has: {columns}")
    else:
        chosen = []
    if fit:
        if not chosen:
            if len(columns) != 2:
                raise ConfigError(
                    f"X has {len(columns)} columns; with fit=True pass features=(x, y), two of them: {columns}"
                )
            chosen = columns
        return chosen
    name = _model_name(model)
    if not _is_fitted(model):
        raise ConfigError(
            f"model {name!r} is not fitted: fit it on two feature columns first (model.fit(X[[a, b]], y)), or pass "
            "fit=True and features=(a, b) to fit a copy here"
        )
    names, n = _fitted_features(model)
    if n != 2:
        listed = f" {list(names)}" if names else ""
        raise ConfigError(
            f"model {name!r} was fitted on {n} features{listed}; a decision boundary needs a model on exactly two. "
            "Pass fit=True with features=(a, b) to fit a copy on those two columns, or fit the model on X[[a, b]]."
        )
    if names is None:  # fitted on a bare array: the columns are taken in the order given
        if not chosen:
            if len(columns) != 2:
                raise ConfigError(
                    f"model {name!r} was fitted without feature names; pass features=(a, b), the two columns of X "
                    f"it was fitted on, in that order. X has: {columns}"
                )
            chosen = columns
        return chosen
    if not chosen:
        chosen = list(names)
        missing = [f for f in chosen if f not in columns]
        if missing:
            raise ConfigError(f"model {name!r} was fitted on {list(names)} but X lacks {missing}; X has: {columns}")
    elif set(chosen) != set(names):
        raise ConfigError(
            f"model {name!r} was fitted on {list(names)}, not {chosen}: plot those features, or pass fit=True to "
            f"fit a copy on {chosen}"
        )
    return chosen


def _check_quantiles(quantiles: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(q) for q in quantiles)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"quantiles must be two numbers (low, high) in [0, 1], got {quantiles!r}") from exc
    if not 0.0 <= lo < hi <= 1.0:
        raise ConfigError(f"quantiles must satisfy 0 <= low < high <= 1, e.g. (0.005, 0.995); got {quantiles!r}")
    return lo, hi


def _axis(values: FloatArray, lo_q: float, hi_q: float, n: int) -> FloatArray:
    """`n` evenly spaced values over the quantile range of `values`, widened by 5% on each side."""
    lo, hi = (float(v) for v in np.quantile(values, [lo_q, hi_q]))
    span = hi - lo
    pad = 0.05 * span if span > 0 else max(abs(lo) * 0.05, 1e-9)
    return np.linspace(lo - pad, hi + pad, n)


def _discrete_colorscale(values: Sequence[float], colors: Sequence[str]) -> tuple[list[list[Any]], float, float]:
    """A stepped colorscale giving each class value its own colour, with (zmin, zmax)."""
    if len(values) == 1:
        return [[0.0, colors[0]], [1.0, colors[0]]], values[0] - 0.5, values[0] + 0.5
    zmin, zmax = values[0], values[-1]
    span = zmax - zmin
    edges = [0.0] + [((values[i] + values[i + 1]) / 2 - zmin) / span for i in range(len(values) - 1)] + [1.0]
    scale: list[list[Any]] = []
    for i, color in enumerate(colors):
        scale.append([edges[i], color])
        scale.append([edges[i + 1], color])
    return scale, zmin, zmax


def _sample_rows(n: int, max_points: int | None) -> npt.NDArray[np.int64]:
    if max_points is None or n <= max_points:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=max_points, replace=False)).astype(np.int64)


# --- 2. feature importance ----------------------------------------------------------------------------------------


def feature_importance(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    path: PathArg | None = None,
    top: int = 20,
    method: ImportanceMethod = "auto",
    n_repeats: int = 5,
    random_state: int = 0,
) -> go.Figure:
    """A horizontal bar chart of a fitted model's feature importances, largest first.

    method "native": the model's own importances: feature_importances_ (Decision Tree, Random Forest, AdaBoost,
    LightGBM's split counts) or the mean |coefficient| over classes (linear models; on standardized features when
    the pipeline scales them), averaged over the folds of a calibrated model. "permutation": scikit-learn's
    permutation importance, the drop in accuracy when a column is shuffled (n_repeats times, seeded by
    random_state), on X and y, which should be out-of-sample rows. "auto" (default): native when the model has
    them, else permutation. `top`: show the `top` most important features. Raises ConfigError for an unfitted
    model, unknown method, X without the model's features, or permutation importance without y.
    """
    if method not in ("auto", "native", "permutation"):
        raise ConfigError(f"method must be 'auto', 'native' or 'permutation', got {method!r}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be a positive integer (the number of features shown), got {top!r}")
    name = _model_name(model)
    if not _is_fitted(model):
        raise ConfigError(f"model {name!r} is not fitted: call model.fit(X, y) before plotting its importances")
    frame = _as_frame(X, model)
    names, n = _fitted_features(model)
    if names is None:
        if frame.shape[1] != n:
            raise ConfigError(f"model {name!r} was fitted on {n} columns but X has {frame.shape[1]}")
        names = tuple(frame.columns)
    else:
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ConfigError(f"X lacks feature(s) {missing} that model {name!r} was fitted on; X has: {list(frame)}")
        frame = frame[list(names)]

    native = _native_importances(model) if method != "permutation" else None
    error: FloatArray | None = None
    if native is not None:
        values, source = native
        used = "native"
    elif method == "native":
        raise ConfigError(
            f"model {name!r} has no native importances (neither feature_importances_ nor coefficients); use "
            "method='permutation' (or 'auto') and pass y"
        )
    else:
        if y is None:
            raise ConfigError(
                f"model {name!r} has no native importances, so they are computed by permutation, which needs the "
                "true labels: pass y (ideally out-of-sample rows)"
            )
        labels = _as_labels(y, len(frame))
        _check_finite(frame, list(frame.columns))
        result = permutation_importance(
            model,
            frame if _fitted_features(model)[0] is not None else frame.to_numpy(dtype=np.float64),
            labels,
            scoring=_accuracy,
            n_repeats=n_repeats,
            random_state=random_state,
        )
        values = np.asarray(result["importances_mean"], dtype=np.float64)
        error = np.asarray(result["importances_std"], dtype=np.float64)
        source = f"permutation: drop in accuracy, {n_repeats} repeats, seed {random_state}, {len(frame):,} rows"
        used = "permutation"
    if len(values) != len(names):
        raise ConfigError(f"model {name!r} reports {len(values)} importances for {len(names)} features")

    order = np.argsort(-values, kind="stable")[:top]
    shown_names = [names[i] for i in order]
    fig = go.Figure(
        go.Bar(
            x=values[order],
            y=shown_names,
            orientation="h",
            marker={"color": "#1f77b4"},
            error_x={"type": "data", "array": error[order], "visible": True} if error is not None else None,
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
            name="importance",
        )
    )
    subtitle = source + (f"; top {len(order)} of {len(names)} features" if len(order) < len(names) else "")
    fig.update_layout(
        title={"text": f"{html.escape(name)}: feature importance<br><sup>{html.escape(subtitle)}</sup>"},
        template="plotly_white",
        height=max(320, 26 * len(order) + 160),
        width=900,
        margin={"l": 160},
        meta={"model": name, "method": used, "source": source, "features": shown_names},
    )
    fig.update_yaxes(autorange="reversed", title_text="feature")
    fig.update_xaxes(title_text="importance", zeroline=True)
    return _finish(fig, path)


def _accuracy(estimator: Any, X: Any, y: Any) -> float:
    return float(accuracy_score(y, estimator.predict(X)))


def _native_importances(model: Any) -> tuple[FloatArray, str] | None:
    """(importance per feature, a description) from feature_importances_ or coef_, or None."""
    pipeline = model.pipeline if isinstance(model, Model) else model
    scaled = False
    estimator = pipeline
    if isinstance(pipeline, Pipeline):
        scaled = len(pipeline.steps) > 1
        estimator = pipeline.steps[-1][1]
    if isinstance(estimator, CalibratedClassifierCV):
        inner = [cc.estimator for cc in getattr(estimator, "calibrated_classifiers_", [])]
        found = [_own_importances(e, scaled) for e in inner]
        if not found or any(f is None for f in found):
            return None
        arrays = [f[0] for f in found if f is not None]
        source = next(f[1] for f in found if f is not None)
        return np.mean(arrays, axis=0), f"{source}, mean of {len(arrays)} calibration folds"
    return _own_importances(estimator, scaled)


def _own_importances(estimator: Any, scaled: bool) -> tuple[FloatArray, str] | None:
    try:
        importances = getattr(estimator, "feature_importances_", None)
    except (AttributeError, ValueError):  # an ensemble whose members have no importances raises here
        importances = None
    if importances is not None:
        kind = getattr(estimator, "importance_type", None)
        label = f"{type(estimator).__name__}.feature_importances_" + (f" ({kind})" if isinstance(kind, str) else "")
        return np.asarray(importances, dtype=np.float64), label
    coef = getattr(estimator, "coef_", None)
    if coef is None:
        return None
    magnitude = np.abs(np.atleast_2d(np.asarray(coef, dtype=np.float64))).mean(axis=0)
    units = "standardized features" if scaled else "raw feature units"
    return magnitude, f"mean |coefficient| over classes ({units})"


# --- 3. equity against buy-and-hold -------------------------------------------------------------------------------


def equity_vs_buy_and_hold(
    result: Result,
    series: BarSeries | str | None = None,
    *,
    path: PathArg | None = None,
    title: str | None = None,
) -> go.Figure:
    """A backtest's equity against buying and holding the same bars with the same starting cash, with the trades.

    series: the bars the backtest ran on (a BarSeries, or its symbol in result.bars; default: the result's only
    symbol). Buy-and-hold is result.initial_cash * close / close[0] at each step of the backtest (the close of the
    latest bar at or before the step), without fees. The legend gives each curve's total return and maximum
    drawdown; a second panel shows both drawdowns. Entries are triangles on the equity curve (up: long, down: short),
    exits crosses (green: profit, red: loss). No downsampling: the traces hold every step.
    """
    if not isinstance(result, Result):
        raise ConfigError(f"result must be a backtest Result (run_backtest(...)), got {type(result).__name__}")
    bars = _resolve_series(result, series)
    ts = np.asarray(result.timestamps, dtype=np.int64)
    equity = np.asarray(result.equity, dtype=np.float64)
    if ts.shape[0] == 0:
        raise ConfigError("the result has no steps: run the backtest on at least one bar")
    if bars.ts[0] > ts[0] or bars.ts[-1] < ts[-1]:
        raise ConfigError(
            f"the bars of {bars.symbol} ({_day(bars.ts[0])} to {_day(bars.ts[-1])}) do not cover the backtest "
            f"({_day(ts[0])} to {_day(ts[-1])}): pass the bars it ran on, e.g. result.bars[{bars.symbol!r}]"
        )
    close = bars.close[np.searchsorted(bars.ts, ts, side="right") - 1]
    cash = float(result.initial_cash)
    hold = cash * close / close[0]
    x = ts.astype(np.float64) / _NS_PER_MS
    names = list(result.strategies) or sorted({t.strategy for t in result.trades}) or ["strategy"]
    label = ", ".join(names)

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.72, 0.28])
    strat_color, hold_color = "#1f77b4", "#7f7f7f"
    fig.add_trace(
        go.Scatter(
            x=x,
            y=equity,
            mode="lines",
            name=f"{label}: {_summary(equity, cash)}",
            line={"color": strat_color, "width": 2},
            legendgroup="strategy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=hold,
            mode="lines",
            name=f"buy & hold {bars.symbol} (no fees): {_summary(hold, cash)}",
            line={"color": hold_color, "width": 1.5, "dash": "dot"},
            legendgroup="hold",
        ),
        row=1,
        col=1,
    )
    for trace in _trade_traces(result, bars.symbol, x, equity):
        fig.add_trace(trace, row=1, col=1)
    for values, color, group in ((equity, strat_color, "strategy"), (hold, hold_color, "hold")):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=100.0 * _drawdown(values),
                mode="lines",
                line={"color": color, "width": 1},
                fill="tozeroy",
                showlegend=False,
                legendgroup=group,
                name="drawdown [%]",
            ),
            row=2,
            col=1,
        )
    closed = sum(1 for t in result.trades if not t.is_open)
    subtitle = f"{closed:,} closed trades, fees paid {result.fees_paid:,.2f}, starting cash {cash:,.2f}"
    heading = title if title is not None else f"{label} on {bars.symbol}: equity vs buy-and-hold"
    fig.update_layout(
        title={"text": f"{html.escape(heading)}<br><sup>{html.escape(subtitle)}</sup>"},
        template="plotly_white",
        height=750,
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"t": 130},
        meta={"symbol": bars.symbol, "initial_cash": cash},
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown [%]", row=2, col=1)
    return _finish(fig, path)


def _resolve_series(result: Result, series: BarSeries | str | None) -> BarSeries:
    if isinstance(series, BarSeries):
        return series
    available = sorted(result.bars)
    if series is None:
        if len(available) != 1:
            raise ConfigError(f"the result holds {len(available)} symbols {available}: pass series= one of them")
        return result.bars[available[0]]
    if isinstance(series, str):
        if series not in result.bars:
            raise ConfigError(f"symbol {series!r} has no bars in this result; symbols with bars: {available}")
        return result.bars[series]
    raise ConfigError(f"series must be a BarSeries or a symbol of the result {available}, got {type(series).__name__}")


def _drawdown(values: FloatArray) -> FloatArray:
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, values / peak - 1.0, 0.0)


def _summary(values: FloatArray, start: float) -> str:
    total = values[-1] / start - 1.0 if start else math.nan
    return f"return {total:+.1%}, max drawdown {float(_drawdown(values).min()):.1%}"


def _day(ns: Any) -> str:
    return str(pd.Timestamp(int(ns), unit="ns", tz="UTC"))


def _trade_traces(result: Result, symbol: str, x: FloatArray, equity: FloatArray) -> list[go.Scatter]:
    trades = [t for t in result.trades if t.symbol == symbol and 0 <= t.entry_bar < len(x)]
    traces: list[go.Scatter] = []
    for is_long, label, marker, color in (
        (True, "long entry", "triangle-up", "#26a69a"),
        (False, "short entry", "triangle-down", "#ef5350"),
    ):
        chosen = [t for t in trades if t.is_long == is_long]
        if not chosen:
            continue
        at = np.array([t.entry_bar for t in chosen], dtype=np.int64)
        text = [f"#{t.id} {label} {abs(t.size):.6g} @ {t.entry_price:.6g}" for t in chosen]
        traces.append(_marker_trace(f"{label} ({len(chosen):,})", x[at], equity[at], text, marker, color))
    exits = [t for t in trades if not t.is_open and t.exit_bar < len(x)]
    if exits:
        at = np.array([t.exit_bar for t in exits], dtype=np.int64)
        text = [
            f"#{t.id} exit @ {t.exit_price:.6g}{' (' + t.exit_reason + ')' if t.exit_reason else ''}<br>"
            f"P&L {t.pnl:,.2f} ({t.return_pct:+.2%}), fees {t.fees:,.2f}"
            for t in exits
        ]
        colors = ["#26a69a" if t.pnl >= 0 else "#ef5350" for t in exits]
        traces.append(_marker_trace(f"exit ({len(exits):,})", x[at], equity[at], text, "x", colors))
    return traces


def _marker_trace(name: str, x: FloatArray, y: FloatArray, text: list[str], symbol: str, color: Any) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=name,
        text=text,
        hovertemplate="%{text}<extra></extra>",
        marker={"symbol": symbol, "size": 8, "color": color, "line": {"width": 0.5, "color": "#444"}},
    )


# --- 4. leaderboard -----------------------------------------------------------------------------------------------


def leaderboard_chart(
    frame: pd.DataFrame,
    *,
    metric: str = "oos_sortino",
    by: str = "model",
    in_sample: str | None = None,
    path: PathArg | None = None,
) -> go.Figure:
    """A leaderboard (one row per grid cell) charted: `metric` per `by` group as boxes with every cell drawn as a
    point, best median first; and, when an in-sample column of the same metric exists, out-of-sample against
    in-sample per cell, with the diagonal where the two are equal (cells below it did worse out of sample).

    metric: a numeric column; a name from METRIC_ALIASES (oos_sortino, oos_return, deflated_sharpe, ...) falls back
    to the leaderboard's own column (sortino, total_return, dsr, ...). in_sample: the in-sample column (default:
    the metric with an is_, in_sample_ or train_ prefix instead of oos_, if present). Rows with a status other than
    "ok" (failed cells) or no value are left out and counted in the subtitle. For a return metric the median
    buy-and-hold return is drawn when the frame has buy_hold_return. Missing columns raise a ConfigError listing
    the available ones.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"frame must be a pandas DataFrame (e.g. Leaderboard(...).frame()), got {type(frame)}")
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    column = _resolve_column(frame, metric, "metric")
    if by not in columns:
        raise ConfigError(f"leaderboard has no column {by!r} to group by; available columns: {columns}")
    in_col = _in_sample_column(frame, metric, column, in_sample)

    rows = frame
    notes: list[str] = []
    if "status" in columns:
        failed = int((rows["status"].astype(str) != "ok").sum())
        rows = rows[rows["status"].astype(str) == "ok"]
        if failed:
            notes.append(f"{failed} failed cell(s) left out")
    values = pd.to_numeric(rows[column], errors="coerce")
    missing = int((~np.isfinite(values.to_numpy(dtype=np.float64))).sum())
    rows = rows[np.isfinite(values.to_numpy(dtype=np.float64))]
    if missing:
        notes.append(f"{missing} cell(s) without a {column} value left out")
    if rows.empty:
        raise ConfigError(f"no leaderboard row has a numeric {column!r} value; check the grid finished (status 'ok')")
    groups = rows[by].astype(str)
    medians = pd.to_numeric(rows[column]).groupby(groups).median().sort_values(ascending=False, kind="stable")
    palette = qualitative.Plotly
    colors = {g: palette[i % len(palette)] for i, g in enumerate(medians.index)}
    hover = _hover_text(rows, column, by)

    titles = [f"{column} by {by}"]
    if in_col is not None:
        titles.append(f"out-of-sample vs in-sample ({in_col})")
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.1)
    for group in medians.index:
        mask = (groups == group).to_numpy()
        fig.add_trace(
            go.Box(
                y=pd.to_numeric(rows[column]).to_numpy(dtype=np.float64)[mask],
                name=group,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": colors[group], "size": 5},
                line={"color": colors[group]},
                text=[hover[i] for i in np.flatnonzero(mask)],
                hovertemplate="%{text}<extra></extra>",
                legendgroup=group,
            ),
            row=1,
            col=1,
        )
    if in_col is not None:
        x_all = pd.to_numeric(rows[in_col], errors="coerce").to_numpy(dtype=np.float64)
        y_all = pd.to_numeric(rows[column]).to_numpy(dtype=np.float64)
        for group in medians.index:
            mask = (groups == group).to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=x_all[mask],
                    y=y_all[mask],
                    mode="markers",
                    name=group,
                    marker={"color": colors[group], "size": 7, "opacity": 0.8},
                    text=[hover[i] for i in np.flatnonzero(mask)],
                    hovertemplate=f"{html.escape(in_col)}=%{{x:.4g}}<br>%{{text}}<extra></extra>",
                    legendgroup=group,
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
        both = np.concatenate([x_all, y_all])
        both = both[np.isfinite(both)]
        if both.size:
            lo, hi = float(both.min()), float(both.max())
            fig.add_trace(
                go.Scatter(
                    x=[lo, hi],
                    y=[lo, hi],
                    mode="lines",
                    name="out-of-sample = in-sample",
                    line={"color": "#999", "dash": "dash", "width": 1},
                    hoverinfo="skip",
                ),
                row=1,
                col=2,
            )
        fig.update_xaxes(title_text=f"{in_col} (in-sample)", row=1, col=2)
        fig.update_yaxes(title_text=f"{column} (out-of-sample)", row=1, col=2)
    if "return" in column and column != "buy_hold_return" and "buy_hold_return" in columns:
        reference = float(pd.to_numeric(rows["buy_hold_return"], errors="coerce").median())
        if math.isfinite(reference):
            fig.add_hline(
                y=reference,
                line={"color": "#555", "dash": "dot", "width": 1},
                row=1,
                col=1,
                annotation_text=f"buy & hold (median) {reference:.4g}",
                annotation_position="top left",
            )
    fig.update_yaxes(title_text=column, row=1, col=1)
    fig.update_xaxes(title_text=by, row=1, col=1)
    subtitle = f"{len(rows):,} cells in {len(medians)} groups" + (f"; {'; '.join(notes)}" if notes else "")
    alias = f" ({metric!r} read from column {column!r})" if column != metric else ""
    fig.update_layout(
        title={
            "text": f"Leaderboard: {html.escape(column)} by {html.escape(by)}{html.escape(alias)}"
            f"<br><sup>{html.escape(subtitle)}</sup>"
        },
        template="plotly_white",
        height=600,
        width=1300 if in_col is not None else 900,
        legend={"title": {"text": by}},
        meta={"metric": column, "by": by, "in_sample": in_col, "groups": list(medians.index)},
    )
    return _finish(fig, path)


def _resolve_column(frame: pd.DataFrame, name: str, what: str) -> str:
    columns = [str(c) for c in frame.columns]
    if name in columns:
        column = name
    elif METRIC_ALIASES.get(name) in columns:
        column = METRIC_ALIASES[name]
    else:
        numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
        alias = METRIC_ALIASES.get(name)
        also = f" (nor {alias!r})" if alias else ""
        raise ConfigError(
            f"leaderboard has no column {name!r}{also} for the {what}; available columns: {columns}. "
            f"Pass {what}= one of the numeric ones: {numeric}"
        )
    return column


def _in_sample_column(frame: pd.DataFrame, metric: str, column: str, given: str | None) -> str | None:
    columns = [str(c) for c in frame.columns]
    if given is not None:
        if given not in columns:
            raise ConfigError(f"leaderboard has no in-sample column {given!r}; available columns: {columns}")
        return given
    stems = {column}
    for name in (metric, column):
        if name.startswith("oos_"):
            stems.add(name[4:])
    for stem in sorted(stems):
        for prefix in _IN_SAMPLE_PREFIXES:
            if prefix + stem in columns and prefix + stem != column:
                return prefix + stem
    return None


_HOVER_COLUMNS = ("symbol", "timeframe", "granularity", "datasetinputs", "window", "features", "params")


def _hover_text(rows: pd.DataFrame, column: str, by: str) -> list[str]:
    shown = [c for c in (by, *_HOVER_COLUMNS) if c in rows.columns and c != column]
    shown = list(dict.fromkeys(shown))
    out = []
    metric_values = pd.to_numeric(rows[column]).to_numpy(dtype=np.float64)
    for i, record in enumerate(rows[shown].itertuples(index=False, name=None)):
        parts = [f"{c}: {html.escape(str(v))[:80]}" for c, v in zip(shown, record, strict=True)]
        out.append("<br>".join([f"<b>{html.escape(column)}: {metric_values[i]:.4g}</b>", *parts]))
    return out
