"""The model zoo: names, defaults, pipelines, calibration, determinism, search spaces and clear input errors."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import load_sample_frame
from tradeforge.ml.models import MODEL_NAMES, PYTRADER_NAMES, Model, get_spec, make_model, search_space

PYTRADER = [
    "Nearest Neighbors",
    "Linear SVM",
    "RBF SVM",
    "Decision Tree",
    "Random Forest",
    "AdaBoost",
    "Naive Bayes",
    "Linear Discriminant Analysis",
    "Quadratic Discriminant Analysis",
]
ALIASES = {
    "nearest_neighbors": "Nearest Neighbors",
    "linear_svm": "Linear SVM",
    "rbf_svm": "RBF SVM",
    "decision_tree": "Decision Tree",
    "random_forest": "Random Forest",
    "adaboost": "AdaBoost",
    "naive_bayes": "Naive Bayes",
    "linear_discriminant_analysis": "Linear Discriminant Analysis",
    "quadratic_discriminant_analysis": "Quadratic Discriminant Analysis",
    "neural_net": "Neural Net",
    "lightgbm": "LightGBM",
}
SCALED = {
    "Nearest Neighbors",
    "Linear SVM",
    "RBF SVM",
    "Naive Bayes",
    "Linear Discriminant Analysis",
    "Quadratic Discriminant Analysis",
    "Neural Net",
}


def returns_dataset(rows: int = 2400, inputs: int = 10, horizon: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """pytrader-style data from real BTC-PERP 1m closes: the last `inputs` log returns -> buy (1) / sell (-1) /
    hold (0) over `horizon` bars with a 0.1% threshold. Rows indexed by bar time."""
    close = load_sample_frame("BTC-PERP")["close"].iloc[: rows + inputs + horizon + 1]
    r = np.diff(np.log(close.to_numpy()))
    windows = np.lib.stride_tricks.sliding_window_view(r, inputs)[:-horizon]
    c = close.to_numpy()
    future = np.log(c[inputs + horizon :] / c[inputs:-horizon])
    labels = np.where(future > 0.001, 1, np.where(future < -0.001, -1, 0))
    index = close.index[inputs : inputs + len(windows)]
    X = pd.DataFrame(windows, columns=[f"ret_{i}" for i in range(inputs, 0, -1)], index=index)
    n = min(rows, len(X))
    return X.iloc[:n], labels[:n]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return returns_dataset()


def blobs(rows: int = 600, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Three well-separated Gaussian clusters (labels -1, 0, 1) in features a and c, plus a pure-noise feature b in
    much larger units: the distance-based families only separate them if the pipeline scales the features."""
    rng = np.random.default_rng(seed)
    y = np.repeat([-1, 0, 1], rows // 3)
    centers = np.array([[-4.0, 0.0, 4.0], [0.0, 0.0, -4.0], [4.0, 0.0, 0.0]])
    X = centers[y + 1] + rng.normal(size=(len(y), 3))
    X[:, 1] *= 1e4
    order = rng.permutation(len(y))
    return pd.DataFrame(X[order], columns=["a", "b", "c"]), y[order]


# --- names, defaults, pipelines -------------------------------------------------------------------------------------


def test_names_are_pytraders_nine_then_neural_net_and_lightgbm() -> None:
    assert list(PYTRADER_NAMES) == PYTRADER
    assert list(MODEL_NAMES) == [*PYTRADER, "Neural Net", "LightGBM"]


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_aliases_and_spellings_resolve(alias: str, name: str) -> None:
    assert make_model(alias).name == name
    assert make_model(name.upper()).name == name
    assert make_model(alias.replace("_", "-")).alias == alias


def test_pytrader_defaults() -> None:
    assert make_model("Nearest Neighbors").params["n_neighbors"] == 3
    assert make_model("Linear SVM").params["C"] == 0.025
    rbf = make_model("RBF SVM").params
    assert (rbf["gamma"], rbf["C"], rbf["kernel"]) == (2.0, 1.0, "rbf")
    assert make_model("Decision Tree").params["max_depth"] == 5
    rf = make_model("Random Forest").params
    assert (rf["max_depth"], rf["n_estimators"], rf["max_features"]) == (5, 10, 1)
    for name in ("Linear SVM", "Decision Tree", "Random Forest", "AdaBoost", "Neural Net", "LightGBM"):
        assert make_model(name).params["random_state"] == 0, name


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pipeline_shape(name: str) -> None:
    model = make_model(name)
    steps = dict(model.pipeline.steps)
    assert isinstance(steps.get("scale"), StandardScaler) == (name in SCALED)
    calibrated = isinstance(steps["model"], CalibratedClassifierCV)
    assert calibrated == (name in ("Linear SVM", "RBF SVM"))
    assert model.has_proba


def test_params_override_defaults_and_reach_the_estimator() -> None:
    model = make_model("random_forest", n_estimators=7, min_samples_leaf=3)
    assert model.params["n_estimators"] == 7 and model.params["max_depth"] == 5
    forest = model.pipeline.named_steps["model"]
    assert (forest.n_estimators, forest.min_samples_leaf, forest.max_depth) == (7, 3, 5)


def test_calibration_is_optional() -> None:
    tree = make_model("Decision Tree", calibrate=True, calibration_method="isotonic", calibration_folds=4)
    wrapper = tree.pipeline.named_steps["model"]
    assert isinstance(wrapper, CalibratedClassifierCV)
    assert (wrapper.method, wrapper.cv) == ("isotonic", 4)
    svm = make_model("Linear SVM", calibrate=False)
    assert not svm.has_proba
    assert not isinstance(svm.pipeline.named_steps["model"], CalibratedClassifierCV)
    X, y = blobs()
    svm.fit(X, y)
    assert set(svm.predict(X)) <= {-1, 0, 1}
    with pytest.raises(ConfigError, match="calibrate=True"):
        svm.predict_proba(X)


def test_scale_override() -> None:
    assert "scale" in dict(make_model("Decision Tree", scale=True).pipeline.steps)
    assert "scale" not in dict(make_model("Nearest Neighbors", scale=False).pipeline.steps)


# --- fit / predict on real data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fit_predict_on_real_returns(name: str, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    train, test = slice(0, 1800), slice(1800, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_model(name).fit(X.iloc[train], y[train], classes=[-1, 0, 1])
    assert model.feature_names == tuple(X.columns)
    assert list(model.classes_) == [-1, 0, 1]
    pred = model.predict(X.iloc[test])
    proba = model.predict_proba(X.iloc[test])
    assert pred.shape == (600,) and set(np.unique(pred)) <= {-1, 0, 1}
    assert proba.shape == (600, 3)
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0)
    # the same rows as a plain array, and with the columns shuffled, give the same answer
    assert np.array_equal(model.predict(X.iloc[test].to_numpy()), pred)
    assert np.array_equal(model.predict_proba(X.iloc[test][list(X.columns[::-1])]), proba)
    # out of sample the zoo is no oracle on 1-minute returns: accuracy stays far from 1
    assert 0.2 < float(np.mean(pred == y[test])) < 0.9


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n not in ("Linear SVM", "RBF SVM")])
def test_predict_is_argmax_of_native_probabilities(name: str, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_model(name).fit(X.iloc[:1800], y[:1800])
    proba = model.predict_proba(X.iloc[1800:])
    top = model.classes_[np.argmax(proba, axis=1)]
    unique_max = (proba == proba.max(axis=1, keepdims=True)).sum(axis=1) == 1  # ties may break either way
    assert np.array_equal(model.predict(X.iloc[1800:])[unique_max], top[unique_max])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_family_learns_separable_classes_whatever_the_units(name: str) -> None:
    X, y = blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_model(name).fit(X.iloc[:450], y[:450])
    accuracy = float(np.mean(model.predict(X.iloc[450:]) == y[450:]))
    assert accuracy > 0.9, f"{name}: {accuracy}"


@pytest.mark.parametrize("name", ["Nearest Neighbors", "RBF SVM"])
def test_distance_based_families_need_the_scaler(name: str) -> None:
    X, y = blobs()
    unscaled = make_model(name, scale=False).fit(X.iloc[:450], y[:450])
    assert float(np.mean(unscaled.predict(X.iloc[450:]) == y[450:])) < 0.7


@pytest.mark.parametrize("name", ["Random Forest", "AdaBoost", "Neural Net", "LightGBM", "RBF SVM", "Linear SVM"])
def test_fits_are_deterministic(name: str, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = make_model(name).fit(X.iloc[:1200], y[:1200]).predict_proba(X.iloc[1200:])
        b = make_model(name).fit(X.iloc[:1200], y[:1200]).predict_proba(X.iloc[1200:])
    assert np.array_equal(a, b)


def test_refit_replaces_the_previous_fit(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = make_model("Decision Tree").fit(X.iloc[:1000], y[:1000])
    model.fit(X.iloc[1000:2000], y[1000:2000])
    fresh = make_model("Decision Tree").fit(X.iloc[1000:2000], y[1000:2000])
    assert np.array_equal(model.predict_proba(X), fresh.predict_proba(X))


def test_max_train_rows_uses_the_most_recent_rows(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    capped = make_model("Naive Bayes", max_train_rows=500).fit(X.iloc[:2000], y[:2000])
    recent = make_model("Naive Bayes").fit(X.iloc[1500:2000], y[1500:2000])
    assert np.array_equal(capped.predict_proba(X), recent.predict_proba(X))


def test_array_input_gets_default_or_given_feature_names() -> None:
    X, y = blobs()
    assert make_model("Naive Bayes").fit(X.to_numpy(), y).feature_names == ("f0", "f1", "f2")
    named = make_model("Naive Bayes").fit(X.to_numpy(), y, feature_names=["x", "y", "z"])
    assert named.feature_names == ("x", "y", "z")
    with pytest.raises(ConfigError, match="2 feature_names given for 3 columns"):
        make_model("Naive Bayes").fit(X.to_numpy(), y, feature_names=["x", "y"])


def test_string_labels_work() -> None:
    X, y = blobs()
    words = np.array(["sell", "hold", "buy"])[y + 1]
    model = make_model("lda").fit(X, words, classes=["buy", "hold", "sell"])
    assert list(model.classes_) == ["buy", "hold", "sell"]
    assert float(np.mean(model.predict(X) == words)) > 0.9


def test_models_pickle_for_process_pools() -> None:
    X, y = blobs()
    unfitted = pickle.loads(pickle.dumps(make_model("LightGBM", n_estimators=20)))
    assert unfitted.name == "LightGBM" and unfitted.params["n_estimators"] == 20 and not unfitted.is_fitted
    model = make_model("Random Forest").fit(X, y)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.spec is model.spec
    assert np.array_equal(copy.predict_proba(X), model.predict_proba(X))


def test_state_round_trip_in_memory() -> None:
    X, y = blobs()
    model = make_model("Random Forest", n_estimators=5).fit(X, y, classes=[-1, 0, 1])
    clone = Model.from_state(model.state(), model.pipeline)
    assert clone.name == "Random Forest" and clone.params["n_estimators"] == 5
    assert np.array_equal(clone.predict_proba(X), model.predict_proba(X))
    with pytest.raises(DataError, match="malformed"):
        Model.from_state({"name": "Random Forest"}, model.pipeline)


# --- missing classes ------------------------------------------------------------------------------------------------


def test_missing_declared_class_is_a_clear_error_by_default() -> None:
    X, y = blobs()
    keep = y != 1
    with pytest.raises(DataError, match=r"class\(es\) \[1\] missing from the training window") as err:
        make_model("Random Forest").fit(X[keep], y[keep], classes=[-1, 0, 1])
    assert "on_missing_class='zero'" in str(err.value)
    assert "{-1: 200, 0: 200}" in str(err.value)


def test_missing_class_can_get_zero_probability() -> None:
    X, y = blobs()
    keep = y != 1
    model = make_model("Random Forest").fit(X[keep], y[keep], classes=[1, 0, -1], on_missing_class="zero")
    assert list(model.classes_) == [-1, 0, 1]
    proba = model.predict_proba(X)
    assert proba.shape == (600, 3)
    assert np.all(proba[:, 2] == 0.0)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(model.predict(X))) <= {-1, 0}
    reference = make_model("Random Forest").fit(X[keep], y[keep])
    assert np.array_equal(proba[:, :2], reference.predict_proba(X))


def test_label_outside_declared_classes() -> None:
    X, y = blobs()
    with pytest.raises(DataError, match=r"label\(s\) \[1\] that are not among the declared classes \[-1, 0\]"):
        make_model("Naive Bayes").fit(X, y, classes=[-1, 0])


def test_bad_policy_and_bad_classes() -> None:
    X, y = blobs()
    with pytest.raises(ConfigError, match="on_missing_class"):
        make_model("Naive Bayes").fit(X, y, on_missing_class="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="duplicates"):
        make_model("Naive Bayes").fit(X, y, classes=[-1, 0, 0, 1])


# --- bad input ------------------------------------------------------------------------------------------------------


def test_unknown_model_lists_known_and_suggests() -> None:
    with pytest.raises(ConfigError) as err:
        make_model("Random Forrest")
    message = str(err.value)
    assert "unknown model 'Random Forrest'" in message
    assert "Did you mean 'Random Forest'" in message
    for name in MODEL_NAMES:
        assert repr(name) in message
    with pytest.raises(ConfigError, match="Did you mean 'Nearest Neighbors'"):
        get_spec("nearest_neighbours")
    with pytest.raises(ConfigError, match="must be a string"):
        make_model(3)  # type: ignore[arg-type]


def test_unknown_hyperparameter_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        make_model("Nearest Neighbors", n_neighbor=5)
    message = str(err.value)
    assert "'n_neighbor' (did you mean 'n_neighbors'?)" in message
    assert "Valid ones: algorithm, leaf_size, metric, metric_params, n_jobs, n_neighbors, p, weights" in message
    with pytest.raises(ConfigError, match=r"unknown hyperparameter.*'num_leave'.*did you mean 'num_leaves'"):
        make_model("lightgbm", num_leave=8)
    make_model("lightgbm", deterministic=True, force_row_wise=True)  # listed native LightGBM parameters pass


def test_invalid_hyperparameter_value() -> None:
    with pytest.raises(ConfigError, match=r"invalid hyperparameter for 'Nearest Neighbors'.*n_neighbors"):
        make_model("nearest_neighbors", n_neighbors=-1)
    with pytest.raises(ConfigError, match="calibration_folds"):
        make_model("Linear SVM", calibration_folds=1)
    with pytest.raises(ConfigError, match="calibration_method"):
        make_model("Linear SVM", calibration_method="beta")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_train_rows"):
        make_model("Linear SVM", max_train_rows=0)


def test_nan_feature_names_column_and_row(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    X = X.iloc[:500].copy()
    X.iloc[17, 3] = np.nan
    X.iloc[40, 5] = np.inf
    with pytest.raises(DataError) as err:
        make_model("Decision Tree").fit(X, y[:500])
    message = str(err.value)
    assert "2 NaN/infinite value(s) in 2 column(s) ['ret_5', 'ret_7']" in message
    assert f"column 'ret_7' at row {X.index[17]} (position 17)" in message
    fitted = make_model("Decision Tree").fit(X.iloc[:10].to_numpy(), [0, 1] * 5, feature_names=list(X.columns))
    with pytest.raises(DataError, match=r"column 'ret_7' at row .*position 17"):
        fitted.predict(X)
    with pytest.raises(DataError, match="NaN/infinite label"):
        make_model("Decision Tree").fit(X.iloc[:10].fillna(0), np.array([0, 1] * 4 + [np.nan, 1.0]))


def test_too_few_rows() -> None:
    X, _ = blobs()
    with pytest.raises(
        DataError, match=r"too few rows to fit 'Linear SVM': 6 rows.*3 per class for 3-fold calibration"
    ):
        make_model("Linear SVM").fit(X.iloc[:6], np.array([-1, -1, 0, 0, 1, 1]))
    with pytest.raises(DataError, match=r"too few rows to fit 'Nearest Neighbors'.*n_neighbors=9"):
        make_model("Nearest Neighbors", n_neighbors=9).fit(X.iloc[:8], np.array([-1, 0, 1, -1, 0, 1, -1, 0]))
    with pytest.raises(DataError, match="single class 0 in 5 rows"):
        make_model("Decision Tree").fit(X.iloc[:5], np.zeros(5, dtype=int))
    with pytest.raises(DataError, match=r"needs at least 6 rows and 2 per class"):
        make_model("Decision Tree").fit(X.iloc[:4], np.array([-1, 0, 1, 1]))


def test_shape_and_alignment_errors() -> None:
    X, y = blobs()
    with pytest.raises(DataError, match="must be 2-D"):
        make_model("Naive Bayes").fit(X["a"].to_numpy(), y)
    with pytest.raises(DataError, match="X has 600 rows but y has 599 labels"):
        make_model("Naive Bayes").fit(X, y[:-1])
    with pytest.raises(DataError, match="non-numeric column"):
        make_model("Naive Bayes").fit(X.assign(a=X["a"].astype(str)), y)
    model = make_model("Naive Bayes")
    with pytest.raises(ConfigError, match="not fitted yet"):
        model.predict(X)
    with pytest.raises(ConfigError, match="not fitted yet"):
        _ = model.classes_
    model.fit(X, y)
    with pytest.raises(DataError, match=r"missing \['c'\], unexpected \['d'\]"):
        model.predict(X.rename(columns={"c": "d"}))
    with pytest.raises(DataError, match="X has 2 feature column"):
        model.predict(X[["a", "b"]].to_numpy())
    with pytest.raises(DataError, match="no rows"):
        model.predict(X.iloc[:0])


# --- Optuna search spaces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_search_space_samples_valid_models(name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    X, y = blobs(rows=300)
    alias = get_spec(name).alias
    for _ in range(4):
        trial = study.ask()
        params = search_space(name, trial)
        assert params, name
        assert all(key.startswith(f"{alias}.") for key in trial.params)
        model = make_model(name, **params)
        for key, value in params.items():
            assert model.params[key] == value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        assert model.predict_proba(X).shape == (300, 3)
        study.tell(trial, float(np.mean(model.predict(X) == y)))
    assert len(study.trials) == 4


def test_search_space_unknown_model() -> None:
    study = optuna.create_study()
    with pytest.raises(ConfigError, match="unknown model"):
        search_space("XGBoost", study.ask())
