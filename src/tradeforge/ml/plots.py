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
and a ConfigError says how to get the image; `image_export_available()` tells beforehand. The writing lives in
tradeforge.ml.figures and the two result plots in tradeforge.ml.result_plots; all are re-exported here.

The decision-boundary plot is pytrader's: for a model on two inputs (pytrader's last two price moves), the buy /
sell / hold regions it predicts over a grid spanning the data, shaded in pytrader's colours (buy blue, sell red,
hold green), with the points coloured by their true class.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.ml.ensemble import BUY, HOLD, SELL
from tradeforge.ml.figures import (
    HTML_SUFFIXES,
    IMAGE_SUFFIXES,
    PathArg,
    finish_figure,
    image_export_available,
    save_figure,
)
from tradeforge.ml.models import Model
from tradeforge.ml.result_plots import METRIC_ALIASES, equity_vs_buy_and_hold, leaderboard_chart

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

ImportanceMethod = Literal["auto", "native", "permutation"]
FloatArray = npt.NDArray[np.float64]

CLASS_NAMES: Mapping[Any, str] = {SELL: "sell", HOLD: "hold", BUY: "buy"}
"""How the buy / sell / hold labels (1 / -1 / 0) are shown."""
CLASS_COLORS: Mapping[Any, str] = {SELL: "#d62728", HOLD: "#2ca02c", BUY: "#1f77b4"}
"""pytrader's colours: buy blue, sell red, hold green."""
_OTHER_COLORS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_MAX_GRID = 2000


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
    return finish_figure(fig, path)


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
    return finish_figure(fig, path)


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
