"""The model zoo behind one interface: `make_model(name, **params) -> Model`.

A Model wraps a scikit-learn Pipeline: StandardScaler first for the families that need it (SVMs, nearest
neighbours, naive Bayes, discriminant analysis, the neural net), the classifier last, wrapped in
CalibratedClassifierCV when it has no native probabilities (the SVMs) or when `calibrate=True` is asked for.

Input checks raise tradeforge errors that say what was wrong and how to fix it: an unknown model or hyperparameter
(ConfigError listing the valid ones), NaN or infinite features (DataError naming the column and row), too few rows,
a single class, or a declared class absent from the training window.

A class declared with `fit(X, y, classes=[-1, 0, 1])` but absent from y is an error by default
(`on_missing_class="raise"`), because a buy/sell/hold model that has never seen "sell" is usually a sign the
training window or the label threshold is wrong. Rolling retraining may accept it explicitly with
`on_missing_class="zero"`: the model is fitted on the classes it saw, `classes_` is the declared list, and
`predict_proba` gives the missing classes probability 0 (so they are never predicted).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.ml.zoo import MODEL_NAMES, PYTRADER_NAMES, SPECS, ModelSpec, get_spec, search_space

__all__ = ["MODEL_NAMES", "PYTRADER_NAMES", "SPECS", "Model", "get_spec", "make_model", "search_space"]

MissingClassPolicy = Literal["raise", "zero"]
CalibrationMethod = Literal["sigmoid", "isotonic"]
_MIN_ROWS_PER_CLASS = 2


def make_model(
    name: str,
    *,
    calibrate: bool | None = None,
    calibration_method: CalibrationMethod = "sigmoid",
    calibration_folds: int = 3,
    scale: bool | None = None,
    max_train_rows: int | None = None,
    **params: Any,
) -> Model:
    """A fresh, unfitted model of the family `name` (display name or snake_case alias) with hyperparameters
    `params` on top of the family's defaults.

    calibrate: None (default) calibrates only families without native probabilities (the SVMs); True calibrates
    any family; False never does (then an SVM has no predict_proba). calibration_method / calibration_folds: passed
    to CalibratedClassifierCV (unshuffled stratified folds inside the training window). scale: override whether
    features are standardized first (default: the family's need). max_train_rows: fit on the most recent N rows
    only (rows are assumed to be in time order), e.g. to bound the quadratic cost of "RBF SVM".
    """
    spec = get_spec(name)
    valid = spec.param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, valid, n=1)
            hints.append(f"{u!r} (did you mean {close[0]!r}?)" if close else repr(u))
        raise ConfigError(
            f"unknown hyperparameter(s) for {spec.name!r}: {', '.join(hints)}. Valid ones: {', '.join(valid)}."
        )
    if calibration_method not in ("sigmoid", "isotonic"):
        raise ConfigError(f"calibration_method must be 'sigmoid' or 'isotonic', got {calibration_method!r}")
    if isinstance(calibration_folds, bool) or not isinstance(calibration_folds, int) or calibration_folds < 2:
        raise ConfigError(f"calibration_folds must be an integer >= 2, got {calibration_folds!r}")
    if max_train_rows is not None and (
        isinstance(max_train_rows, bool) or not isinstance(max_train_rows, int) or max_train_rows < 2
    ):
        raise ConfigError(f"max_train_rows must be None or an integer >= 2, got {max_train_rows!r}")
    merged = {**spec.defaults, **params}
    _check_values(spec, merged)
    return Model(
        spec,
        merged,
        calibrate=(not spec.native_proba) if calibrate is None else bool(calibrate),
        calibration_method=calibration_method,
        calibration_folds=calibration_folds,
        scale=spec.scale if scale is None else bool(scale),
        max_train_rows=max_train_rows,
    )


def _check_values(spec: ModelSpec, params: Mapping[str, Any]) -> None:
    """Validate hyperparameter values now rather than at fit time, with scikit-learn's own constraints."""
    estimator = spec.estimator(**params)
    if not getattr(estimator, "_parameter_constraints", None):
        return
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid hyperparameter for {spec.name!r}: {exc}") from exc


class Model:
    """A zoo classifier: a scikit-learn Pipeline plus the checks and metadata tradeforge needs.

    Attributes: name (display name), alias, params (the hyperparameters: defaults + overrides), pipeline,
    feature_names (after fit), classes_ (after fit: the declared classes, or the ones seen in y), has_proba.
    """

    def __init__(
        self,
        spec: ModelSpec,
        params: Mapping[str, Any],
        *,
        calibrate: bool,
        calibration_method: CalibrationMethod = "sigmoid",
        calibration_folds: int = 3,
        scale: bool,
        max_train_rows: int | None = None,
    ) -> None:
        self.spec = spec
        self.params: dict[str, Any] = dict(params)
        self.calibrate = calibrate
        self.calibration_method: CalibrationMethod = calibration_method
        self.calibration_folds = calibration_folds
        self.scale = scale
        self.max_train_rows = max_train_rows
        self.pipeline: Pipeline = self._build_pipeline()
        self.feature_names: tuple[str, ...] | None = None
        self._classes: np.ndarray | None = None
        self._fitted_classes: np.ndarray | None = None

    # --- identity -----------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def alias(self) -> str:
        return self.spec.alias

    @property
    def has_proba(self) -> bool:
        """Whether predict_proba is available: native probabilities or calibration."""
        return self.calibrate or self.spec.native_proba

    @property
    def is_fitted(self) -> bool:
        return self._classes is not None

    @property
    def classes_(self) -> np.ndarray:
        """The classes in the column order of predict_proba."""
        if self._classes is None:
            raise ConfigError(f"model {self.name!r} is not fitted yet: call fit(X, y) first")
        return self._classes

    def __repr__(self) -> str:
        overrides = {k: v for k, v in self.params.items() if self.spec.defaults.get(k, object()) != v}
        state = "fitted" if self.is_fitted else "unfitted"
        return f"Model({self.name!r}, {overrides or 'defaults'}, calibrate={self.calibrate}, {state})"

    def __getstate__(self) -> dict[str, Any]:
        # the family is stored by name: specs hold read-only mappings, which pickle cannot copy (process pools do)
        state = dict(self.__dict__)
        state["spec"] = self.spec.name
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["spec"] = get_spec(state["spec"])
        self.__dict__.update(state)

    def state(self) -> dict[str, Any]:
        """Everything but the fitted pipeline, as JSON-compatible values (the registry stores it in metadata)."""
        if self._classes is None or self._fitted_classes is None or self.feature_names is None:
            raise ConfigError(f"model {self.name!r} is not fitted yet: call fit(X, y) first")
        return {
            "name": self.name,
            "alias": self.alias,
            "params": _jsonable(self.params),
            "calibrate": self.calibrate,
            "calibration_method": self.calibration_method,
            "calibration_folds": self.calibration_folds,
            "scale": self.scale,
            "max_train_rows": self.max_train_rows,
            "feature_names": list(self.feature_names),
            "classes": [_py(c) for c in self._classes],
            "fitted_classes": [_py(c) for c in self._fitted_classes],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], pipeline: Pipeline) -> Model:
        """A fitted Model from `state()` and its fitted pipeline (the inverse of what the registry saves)."""
        try:
            spec = get_spec(state["name"])
            model = cls(
                spec,
                _live_params(pipeline, state["params"]),
                calibrate=bool(state["calibrate"]),
                calibration_method=state["calibration_method"],
                calibration_folds=int(state["calibration_folds"]),
                scale=bool(state["scale"]),
                max_train_rows=state["max_train_rows"],
            )
            feature_names = tuple(str(n) for n in state["feature_names"])
            classes, fitted = np.asarray(state["classes"]), np.asarray(state["fitted_classes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"model state is incomplete or malformed ({exc!r}); was it written by tradeforge?") from exc
        if not isinstance(pipeline, Pipeline) or not np.array_equal(np.asarray(pipeline.classes_), fitted):
            raise DataError("the stored pipeline does not match its model state (classes differ)")
        model.pipeline = pipeline
        model.feature_names = feature_names
        model._classes, model._fitted_classes = classes, fitted
        return model

    def _build_pipeline(self) -> Pipeline:
        estimator = self.spec.estimator(**self.params)
        if self.calibrate:
            estimator = CalibratedClassifierCV(estimator, method=self.calibration_method, cv=self.calibration_folds)
        steps: list[tuple[str, Any]] = [("scale", StandardScaler())] if self.scale else []
        steps.append(("model", estimator))
        return Pipeline(steps)

    # --- fit / predict ------------------------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        classes: Sequence[Any] | None = None,
        on_missing_class: MissingClassPolicy = "raise",
        feature_names: Sequence[str] | None = None,
    ) -> Model:
        """Fit on features X (DataFrame or 2-D array, rows in time order) and labels y; returns self.

        classes: the labels the caller expects (e.g. [-1, 0, 1]); y may hold no other label, and a declared label
        absent from y raises DataError unless on_missing_class="zero". feature_names: names for the columns of an
        array X (a DataFrame's own columns are used otherwise; default "f0", "f1", ...).
        """
        if on_missing_class not in ("raise", "zero"):
            raise ConfigError(f"on_missing_class must be 'raise' or 'zero', got {on_missing_class!r}")
        names = _feature_names(X, feature_names)
        matrix = _as_matrix(X, names, what="X")
        labels = _as_labels(y, len(matrix))
        if self.max_train_rows is not None and len(matrix) > self.max_train_rows:
            matrix, labels = matrix[-self.max_train_rows :], labels[-self.max_train_rows :]
        declared = self._declared_classes(labels, classes, on_missing_class)
        self._check_rows(matrix, labels)
        pipeline = self._build_pipeline()
        try:
            pipeline.fit(matrix, labels)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise DataError(f"{self.name!r} could not be fitted on {len(matrix)} rows: {exc}") from exc
        self.pipeline = pipeline
        self.feature_names = names
        self._fitted_classes = np.asarray(pipeline.classes_)
        self._classes = declared if declared is not None else self._fitted_classes
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class of each row."""
        matrix = self._prepare(X)
        return np.asarray(self.pipeline.predict(matrix))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities, one column per class in `classes_` order (0 for a declared class absent in training)."""
        if not self.has_proba:
            raise ConfigError(
                f"model {self.name!r} was built with calibrate=False and has no probabilities; "
                f"use make_model({self.name!r}, calibrate=True) or call predict()"
            )
        matrix = self._prepare(X)
        proba = np.asarray(self.pipeline.predict_proba(matrix), dtype=np.float64)
        fitted, declared = self._fitted_classes, self.classes_
        if fitted is None or np.array_equal(fitted, declared):
            return proba
        out = np.zeros((len(matrix), len(declared)), dtype=np.float64)
        for j, cls in enumerate(fitted):
            out[:, _index_of(declared, cls)] = proba[:, j]
        return out

    def _prepare(self, X: Any) -> np.ndarray:
        if self.feature_names is None:
            raise ConfigError(f"model {self.name!r} is not fitted yet: call fit(X, y) first")
        expected = self.feature_names
        if isinstance(X, pd.DataFrame):
            got = [str(c) for c in X.columns]
            missing = [n for n in expected if n not in got]
            extra = [n for n in got if n not in expected]
            if missing or extra:
                raise DataError(
                    f"feature columns differ from the ones {self.name!r} was fitted on: missing {missing}, "
                    f"unexpected {extra}. Expected: {list(expected)}"
                )
            X = X.set_axis(got, axis=1)[list(expected)]
        matrix = _as_matrix(X, expected, what="X")
        if matrix.shape[1] != len(expected):
            raise DataError(
                f"X has {matrix.shape[1]} feature column(s) but {self.name!r} was fitted on {len(expected)}: "
                f"{list(expected)}"
            )
        if len(matrix) == 0:
            raise DataError("X has no rows: pass at least one row to predict")
        return matrix

    def _declared_classes(
        self, labels: np.ndarray, classes: Sequence[Any] | None, policy: MissingClassPolicy
    ) -> np.ndarray | None:
        present = np.unique(labels)
        if classes is None:
            return None
        declared = np.asarray(list(classes))
        if declared.ndim != 1 or len(declared) < 2:
            raise ConfigError(f"classes must be a list of at least two labels, got {list(classes)!r}")
        if len(np.unique(declared)) != len(declared):
            raise ConfigError(f"classes has duplicates: {list(classes)!r}")
        unexpected = [_py(c) for c in present if not np.isin(c, declared)]
        if unexpected:
            raise DataError(
                f"y holds label(s) {unexpected} that are not among the declared classes {[_py(c) for c in declared]}; "
                "fix the labels or declare every class"
            )
        missing = [_py(c) for c in declared if not np.isin(c, present)]
        if missing and policy == "raise":
            counts = {_py(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True), strict=True)}
            raise DataError(
                f"class(es) {missing} missing from the training window ({len(labels)} rows, counts {counts}); "
                "use a longer training window or a lower label threshold, or fit(..., on_missing_class='zero') "
                "to give the missing classes probability 0"
            )
        return np.sort(declared)

    def _check_rows(self, matrix: np.ndarray, labels: np.ndarray) -> None:
        values, counts = np.unique(labels, return_counts=True)
        if len(values) < 2:
            raise DataError(
                f"y has a single class {_py(values[0]) if len(values) else None!r} in {len(labels)} rows; a "
                "classifier needs at least two: use a longer training window or a lower label threshold"
            )
        per_class = _MIN_ROWS_PER_CLASS
        reasons = [f"{_MIN_ROWS_PER_CLASS} per class"]
        if self.calibrate:
            per_class = max(per_class, self.calibration_folds)
            reasons.append(f"{self.calibration_folds} per class for {self.calibration_folds}-fold calibration")
        needed = per_class * len(values)
        k = self.params.get("n_neighbors")
        if isinstance(k, int):
            fold_share = (self.calibration_folds - 1) / self.calibration_folds if self.calibrate else 1.0
            knn_rows = int(np.ceil(k / fold_share))
            if knn_rows > needed:
                needed = knn_rows
                reasons.append(f"n_neighbors={k}")
        if len(matrix) < needed or counts.min() < per_class:
            counts_txt = {_py(c): int(n) for c, n in zip(values, counts, strict=True)}
            raise DataError(
                f"too few rows to fit {self.name!r}: {len(matrix)} rows with class counts {counts_txt}; it needs at "
                f"least {needed} rows and {per_class} per class ({', '.join(reasons)}). Use a longer training window."
            )


# --- input conversion ---------------------------------------------------------------------------------------------


def _feature_names(X: Any, given: Sequence[str] | None) -> tuple[str, ...]:
    if isinstance(X, pd.DataFrame):
        names = tuple(str(c) for c in X.columns)
        if given is not None and tuple(given) != names:
            raise ConfigError(f"feature_names {list(given)} differ from the DataFrame's columns {list(names)}")
    else:
        ncols = np.shape(X)[1] if np.ndim(X) == 2 else 0
        names = tuple(str(n) for n in given) if given is not None else tuple(f"f{i}" for i in range(ncols))
        if given is not None and len(names) != ncols:
            raise ConfigError(f"{len(names)} feature_names given for {ncols} columns of X")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"duplicate feature names {dupes}: give every feature column a distinct name")
    return names


def _as_matrix(X: Any, names: Sequence[str], *, what: str) -> np.ndarray:
    """X as a float64 C-contiguous matrix; raises DataError for a wrong shape, non-numbers, NaN or infinity."""
    index = X.index if isinstance(X, pd.DataFrame | pd.Series) else None
    if isinstance(X, pd.DataFrame):
        bad = [str(c) for c, dt in X.dtypes.items() if not (pd.api.types.is_numeric_dtype(dt))]
        if bad:
            raise DataError(f"{what} has non-numeric column(s) {bad}: features must be numbers")
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be a table of numbers: {exc}") from exc
    if matrix.ndim != 2:
        raise DataError(
            f"{what} must be 2-D (rows x features), got shape {matrix.shape}; a single row is X.reshape(1, -1)"
        )
    if matrix.shape[1] == 0:
        raise DataError(f"{what} has no feature columns")
    finite = np.isfinite(matrix)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        r, c = int(rows[0]), int(cols[0])
        col_name = names[c] if c < len(names) else f"column {c}"
        row_label = f"{index[r]} (position {r})" if index is not None else f"position {r}"
        bad_cols = sorted({names[j] if j < len(names) else str(j) for j in cols.tolist()})
        raise DataError(
            f"{what} has {len(rows)} NaN/infinite value(s) in {len(bad_cols)} column(s) {bad_cols[:10]}; the first "
            f"is in column {col_name!r} at row {row_label}. Drop the warm-up rows (a feature window needs history) "
            "or fill the gaps before fitting or predicting."
        )
    return np.ascontiguousarray(matrix)


def _as_labels(y: Any, n_rows: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"y must be 1-D (one label per row), got shape {labels.shape}")
    if len(labels) != n_rows:
        raise DataError(f"X has {n_rows} rows but y has {len(labels)} labels: align them on the same index")
    if labels.dtype.kind == "f":
        bad = np.nonzero(~np.isfinite(labels))[0]
        if len(bad):
            raise DataError(
                f"y has {len(bad)} NaN/infinite label(s), first at position {int(bad[0])}: drop the last rows whose "
                "horizon runs past the data"
            )
        if np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
    elif labels.dtype.kind == "O" and any(v is None or (isinstance(v, float) and np.isnan(v)) for v in labels):
        raise DataError("y has missing labels (None/NaN): drop those rows")
    return labels


def _index_of(values: np.ndarray, value: Any) -> int:
    return int(np.nonzero(values == value)[0][0])


def _py(value: Any) -> Any:
    """A numpy scalar as the plain Python value (for messages and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _live_params(pipeline: Any, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The stored hyperparameters with the exact values of the fitted estimator (JSON turned tuples into lists)."""
    inner = pipeline.named_steps.get("model") if isinstance(pipeline, Pipeline) else None
    if isinstance(inner, CalibratedClassifierCV):
        inner = inner.estimator
    live = inner.get_params(deep=False) if inner is not None else {}
    return {k: live.get(k, v) for k, v in stored.items()}


def _jsonable(value: Any) -> Any:
    """Hyperparameters as JSON-compatible values: tuples to lists, numpy scalars to Python, others to repr."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
