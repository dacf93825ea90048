"""The classifier zoo: one immutable table of model families, their defaults and their Optuna search spaces.

The nine pytrader classifiers keep pytrader's names and defaults (the scikit-learn "classifier comparison" settings
pytrader used); "Neural Net" is scikit-learn's MLP and "LightGBM" is gradient boosting. Each family says whether it
needs feature scaling and whether it has native probabilities; `tradeforge.ml.models` builds the pipelines.

Two deliberate departures from a literal copy of pytrader, both for speed on 45k-bar windows:

* "Linear SVM" is liblinear's `LinearSVC` (C=0.025) instead of `SVC(kernel="linear")`: the same linear max-margin
  model, fitted in 0.1 s instead of ~20 s on 36k rows (one-vs-rest and squared hinge instead of one-vs-one and hinge).
* "RBF SVM" stays the exact kernel `SVC(gamma=2, C=1)`; it is quadratic in the number of rows (~2 minutes to fit
  36k x 20). `make_model(..., max_train_rows=N)` trains on the most recent N rows when that is too slow.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from tradeforge.core.errors import ConfigError

if TYPE_CHECKING:
    import optuna

RANDOM_STATE = 0
"""The seed every stochastic family gets by default, so two fits on the same data give the same model."""


def _lgbm_classifier(**params: Any) -> Any:
    try:
        from lightgbm import LGBMClassifier
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("model 'LightGBM' needs the lightgbm package: pip install 'lightgbm>=4.0'") from exc
    return LGBMClassifier(**params)


# LightGBM's scikit-learn wrapper forwards unknown keyword arguments to the native library, which only warns about
# typos. Accept its scikit-learn parameters plus this explicit list of native ones, and reject everything else.
_LIGHTGBM_NATIVE_PARAMS = frozenset(
    {
        "verbose",
        "deterministic",
        "force_row_wise",
        "force_col_wise",
        "max_bin",
        "min_data_in_bin",
        "extra_trees",
        "path_smooth",
        "bagging_seed",
        "feature_fraction_seed",
        "data_random_seed",
        "max_cat_to_onehot",
        "min_sum_hessian_in_leaf",
        "linear_tree",
    }
)


# --- Optuna search spaces: each takes the trial and a prefix (the family's alias) for the parameter names ---------


def _space_knn(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {
        "n_neighbors": trial.suggest_int(f"{p}.n_neighbors", 1, 200, log=True),
        "weights": trial.suggest_categorical(f"{p}.weights", ["uniform", "distance"]),
        "p": trial.suggest_int(f"{p}.p", 1, 2),
    }


def _space_linear_svm(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {"C": trial.suggest_float(f"{p}.C", 1e-4, 10.0, log=True)}


def _space_rbf_svm(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {
        "C": trial.suggest_float(f"{p}.C", 1e-2, 100.0, log=True),
        "gamma": trial.suggest_float(f"{p}.gamma", 1e-4, 10.0, log=True),
    }


def _space_tree(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int(f"{p}.max_depth", 2, 12),
        "min_samples_leaf": trial.suggest_int(f"{p}.min_samples_leaf", 1, 500, log=True),
        "criterion": trial.suggest_categorical(f"{p}.criterion", ["gini", "entropy"]),
    }


def _space_forest(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int(f"{p}.n_estimators", 10, 300, log=True),
        "max_depth": trial.suggest_int(f"{p}.max_depth", 2, 12),
        "max_features": trial.suggest_float(f"{p}.max_features", 0.05, 1.0),
        "min_samples_leaf": trial.suggest_int(f"{p}.min_samples_leaf", 1, 500, log=True),
    }


def _space_adaboost(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int(f"{p}.n_estimators", 10, 300, log=True),
        "learning_rate": trial.suggest_float(f"{p}.learning_rate", 1e-2, 2.0, log=True),
    }


def _space_naive_bayes(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {"var_smoothing": trial.suggest_float(f"{p}.var_smoothing", 1e-12, 1e-2, log=True)}


def _space_lda(trial: optuna.Trial, p: str) -> dict[str, Any]:
    solver = trial.suggest_categorical(f"{p}.solver", ["svd", "lsqr"])
    if solver == "svd":
        return {"solver": "svd"}
    return {"solver": "lsqr", "shrinkage": trial.suggest_float(f"{p}.shrinkage", 0.0, 1.0)}


def _space_qda(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {"reg_param": trial.suggest_float(f"{p}.reg_param", 0.0, 1.0)}


def _space_mlp(trial: optuna.Trial, p: str) -> dict[str, Any]:
    layers = trial.suggest_int(f"{p}.n_layers", 1, 3)
    width = trial.suggest_int(f"{p}.width", 8, 256, log=True)
    return {
        "hidden_layer_sizes": tuple(max(4, width // (2**i)) for i in range(layers)),
        "alpha": trial.suggest_float(f"{p}.alpha", 1e-6, 10.0, log=True),
        "learning_rate_init": trial.suggest_float(f"{p}.learning_rate_init", 1e-4, 1e-2, log=True),
    }


def _space_lightgbm(trial: optuna.Trial, p: str) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int(f"{p}.n_estimators", 25, 1000, log=True),
        "learning_rate": trial.suggest_float(f"{p}.learning_rate", 1e-3, 0.3, log=True),
        "num_leaves": trial.suggest_int(f"{p}.num_leaves", 4, 256, log=True),
        "min_child_samples": trial.suggest_int(f"{p}.min_child_samples", 5, 1000, log=True),
        "subsample": trial.suggest_float(f"{p}.subsample", 0.5, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float(f"{p}.colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float(f"{p}.reg_lambda", 1e-8, 10.0, log=True),
    }


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One family of the zoo.

    name: the display name (pytrader's for the nine); alias: its snake_case name; estimator: the classifier class or
    a factory taking keyword parameters; defaults: tradeforge's default hyperparameters; scale: whether the pipeline
    standardizes features first; native_proba: whether the classifier has predict_proba without calibration;
    space: the Optuna search space; extra_params: accepted parameter names beyond the estimator's get_params().
    """

    name: str
    alias: str
    estimator: Callable[..., Any]
    defaults: Mapping[str, Any]
    scale: bool
    native_proba: bool
    space: Callable[[optuna.Trial, str], dict[str, Any]]
    extra_params: frozenset[str] = frozenset()

    def param_names(self) -> tuple[str, ...]:
        """Every hyperparameter name make_model accepts for this family, sorted."""
        names = set(self.estimator(**self.defaults).get_params(deep=False)) | set(self.extra_params)
        return tuple(sorted(names))


def _spec(
    name: str,
    estimator: Callable[..., Any],
    defaults: Mapping[str, Any],
    *,
    scale: bool,
    native_proba: bool,
    space: Callable[[optuna.Trial, str], dict[str, Any]],
    extra_params: frozenset[str] = frozenset(),
) -> ModelSpec:
    alias = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return ModelSpec(name, alias, estimator, MappingProxyType(dict(defaults)), scale, native_proba, space, extra_params)


SPECS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        s.name: s
        for s in (
            _spec("Nearest Neighbors", KNeighborsClassifier, {"n_neighbors": 3}, scale=True, native_proba=True,
                  space=_space_knn),
            _spec("Linear SVM", LinearSVC, {"C": 0.025, "random_state": RANDOM_STATE}, scale=True,
                  native_proba=False, space=_space_linear_svm),
            _spec("RBF SVM", SVC, {"kernel": "rbf", "gamma": 2.0, "C": 1.0, "random_state": RANDOM_STATE},
                  scale=True, native_proba=False, space=_space_rbf_svm),
            _spec("Decision Tree", DecisionTreeClassifier, {"max_depth": 5, "random_state": RANDOM_STATE},
                  scale=False, native_proba=True, space=_space_tree),
            _spec("Random Forest", RandomForestClassifier,
                  {"max_depth": 5, "n_estimators": 10, "max_features": 1, "random_state": RANDOM_STATE},
                  scale=False, native_proba=True, space=_space_forest),
            _spec("AdaBoost", AdaBoostClassifier, {"n_estimators": 50, "random_state": RANDOM_STATE}, scale=False,
                  native_proba=True, space=_space_adaboost),
            _spec("Naive Bayes", GaussianNB, {}, scale=True, native_proba=True, space=_space_naive_bayes),
            _spec("Linear Discriminant Analysis", LinearDiscriminantAnalysis, {}, scale=True, native_proba=True,
                  space=_space_lda),
            _spec("Quadratic Discriminant Analysis", QuadraticDiscriminantAnalysis, {}, scale=True,
                  native_proba=True, space=_space_qda),
            _spec("Neural Net", MLPClassifier,
                  {"hidden_layer_sizes": (64, 32), "alpha": 1e-3, "max_iter": 200, "early_stopping": True,
                   "random_state": RANDOM_STATE},
                  scale=True, native_proba=True, space=_space_mlp),
            _spec("LightGBM", _lgbm_classifier,
                  {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "n_jobs": 1, "verbose": -1,
                   "random_state": RANDOM_STATE},
                  scale=False, native_proba=True, space=_space_lightgbm, extra_params=_LIGHTGBM_NATIVE_PARAMS),
        )
    }
)  # fmt: skip

PYTRADER_NAMES: tuple[str, ...] = tuple(SPECS)[:9]
"""The nine pytrader classifiers, in pytrader's order."""

MODEL_NAMES: tuple[str, ...] = tuple(SPECS)
"""Every family of the zoo by display name: the nine pytrader ones, then "Neural Net" and "LightGBM"."""

_SHORT_ALIASES: Mapping[str, str] = MappingProxyType(
    {"knn": "Nearest Neighbors", "lda": "Linear Discriminant Analysis", "qda": "Quadratic Discriminant Analysis",
     "mlp": "Neural Net", "lgbm": "LightGBM"}
)  # fmt: skip
_BY_KEY: Mapping[str, ModelSpec] = MappingProxyType(
    {key: s for s in SPECS.values() for key in (s.name.lower(), s.alias)}
    | {short: SPECS[name] for short, name in _SHORT_ALIASES.items()}
)


def get_spec(name: str) -> ModelSpec:
    """The family for a display name, its snake_case alias or a short one (knn, lda, qda, mlp, lgbm); case,
    spaces, dashes and underscores do not matter.

    Unknown names raise ConfigError listing the known ones and the closest matches."""
    if not isinstance(name, str):
        raise ConfigError(f"model name must be a string, got {type(name).__name__}: {name!r}")
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    spec = _BY_KEY.get(key)
    if spec is not None:
        return spec
    candidates = {s.alias: s.name for s in SPECS.values()} | {s.name.lower(): s.name for s in SPECS.values()}
    close = difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.5)
    close += difflib.get_close_matches(name.strip().lower(), list(candidates), n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(candidates[c] for c in close))
    hint = f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    known = ", ".join(f"{s.name!r} ({s.alias})" for s in SPECS.values())
    raise ConfigError(f"unknown model {name!r}.{hint} Known models: {known}.")


def search_space(name: str, trial: optuna.Trial) -> dict[str, Any]:
    """Hyperparameters for `make_model(name, **params)` sampled from an Optuna trial.

    Trial parameter names are prefixed with the family's alias ("random_forest.max_depth") so one study can search
    several families without name clashes; the returned keys are the plain hyperparameter names."""
    spec = get_spec(name)
    return spec.space(trial, spec.alias)
