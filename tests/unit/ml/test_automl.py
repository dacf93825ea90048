"""AutoML on real bars (ETH-BTC five-minute bars) with a small budget: it finds a model, saves it to the registry
with its features, label, training window, data hash and metrics, and the saved model reloads and predicts the
same; the search is reproducible from its seed, reports every fold to the pruner, and respects its budget."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.data import load_sample
from tradeforge.ml.automl import AutoMLResult, SearchSpace, automl
from tradeforge.ml.experiments_features import bars_feature_builder, feature_set_for
from tradeforge.ml.labels import horizon_labels
from tradeforge.ml.registry import ModelRegistry, data_hash
from tradeforge.ml.serve import create_app

with warnings.catch_warnings():
    # starlette deprecates driving its TestClient with httpx in favour of httpx2, which we do not depend on
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SPACE = SearchSpace(
    models=("Naive Bayes", "Linear Discriminant Analysis", "Decision Tree"),
    granularities=(3, 12),
    datasetinputs=(2, 3),
    windows=(600, 1000),
    features=("returns", "default"),
)


@pytest.fixture(scope="module")
def eth() -> BarSeries:
    return load_sample("ETH-BTC")


@pytest.fixture(scope="module")
def found(eth: BarSeries, tmp_path_factory: pytest.TempPathFactory) -> tuple[AutoMLResult, ModelRegistry]:
    registry = ModelRegistry(tmp_path_factory.mktemp("models"))
    result = automl(eth, space=SPACE, trials=12, seed=7, step=500, registry=registry, name="eth-auto")
    return result, registry


def test_finds_a_model_and_saves_it_with_full_metadata(eth: BarSeries, found: tuple) -> None:
    result, registry = found
    assert result.ref == "eth-auto@1" and registry.versions("eth-auto") == [1]
    assert sum(result.counts.values()) == 12 and result.counts["complete"] >= 1
    best = result.trials.iloc[0]
    assert best["state"] == "COMPLETE" and best["value"] == pytest.approx(result.best_value)
    assert result.best_value == pytest.approx(result.best_metrics["sortino"])
    assert result.best_value == result.study.best_value
    meta = registry.metadata("eth-auto")
    cfg = result.best_config
    assert meta["symbol"] == "ETH-BTC" and meta["timeframe"] == "5m"
    assert meta["model"]["name"] == cfg["model"]
    assert meta["features"]["kind"] == cfg["features"]
    assert meta["features"]["datasetinputs"] == cfg["datasetinputs"]
    assert meta["features"]["granularity"] == cfg["granularity"]
    assert meta["label"] == {
        "type": "horizon", "horizon": cfg["granularity"], "fee_rate": 0.001, "threshold": 0.002,
        "classes": {"1": "buy", "0": "hold", "-1": "sell"}, "definition": meta["label"]["definition"],
    }  # fmt: skip
    assert meta["metrics"]["fitness"] == "sortino" and meta["metrics"]["n_trades"] == result.best_metrics["n_trades"]
    assert 0.0 <= meta["metrics"]["dsr"] <= 1.0 and meta["metrics"]["n_trials"] >= result.counts["complete"]
    # the latest training window: the `window` most recent bars whose label is known
    h, w = cfg["granularity"], cfg["window"]
    last_labelled = len(eth) - 1 - h
    stamps = pd.to_datetime(eth.ts, utc=True)
    assert meta["train_end"] == stamps[last_labelled].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["train_start"] == stamps[last_labelled - w + 1].strftime("%Y-%m-%dT%H:%M:%SZ")
    features = feature_set_for(cfg["features"], cfg["datasetinputs"], h).compute(eth)
    rows = slice(last_labelled - w + 1, last_labelled + 1)
    y = horizon_labels(eth, h, fee_rate=0.001).label[rows].astype(np.int64)
    assert meta["data_hash"] == data_hash(features.iloc[rows], y)


def test_the_saved_model_reloads_and_predicts_the_same(eth: BarSeries, found: tuple) -> None:
    result, registry = found
    cfg = result.best_config
    X = feature_set_for(cfg["features"], cfg["datasetinputs"], cfg["granularity"]).compute(eth).dropna()
    loaded = registry.load(result.ref)
    assert np.array_equal(loaded.predict(X), result.model.predict(X))
    assert set(np.unique(result.model.predict(X))) <= {-1, 0, 1}
    # the inference API rebuilds the features from recent bars with the saved feature spec
    frame = pd.DataFrame(
        {c: getattr(eth, c)[-400:] for c in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex(pd.to_datetime(eth.ts[-400:], utc=True), name="timestamp"),
    )
    meta = registry.metadata(result.ref)
    rebuilt = bars_feature_builder(frame, meta)
    assert np.allclose(rebuilt.iloc[-1].to_numpy(), X.iloc[-1].to_numpy(), rtol=1e-12)
    client = TestClient(create_app(registry, feature_builder=bars_feature_builder))
    bars = [{"timestamp": t.isoformat(), **{c: float(frame[c].iloc[i]) for c in frame.columns}}
            for i, t in enumerate(frame.index)]  # fmt: skip
    response = client.post("/predict", json={"model": "eth-auto", "bars": bars})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["class"] == int(result.model.predict(X.iloc[[-1]])[0])


def test_every_fold_is_reported_to_the_pruner(found: tuple) -> None:
    result, _ = found
    complete = [t for t in result.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    n_folds = result.best_metrics["n_oos"] // 500
    assert all(sorted(t.intermediate_values) == list(range(n_folds - 1)) for t in complete)
    pruned = [t for t in result.study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) == result.counts["pruned"] >= 1  # seed 7 prunes two of the twelve
    assert all(len(t.intermediate_values) < n_folds - 1 for t in pruned)
    assert isinstance(result.study.pruner, optuna.pruners.MedianPruner)


def test_the_search_is_reproducible_from_its_seed(eth: BarSeries, found: tuple) -> None:
    result, _ = found
    again = automl(eth, space=SPACE, trials=12, seed=7, step=500)
    cols = ["number", "state", "value", "model", "features", "granularity", "datasetinputs", "window", "params"]
    pd.testing.assert_frame_equal(result.trials[cols], again.trials[cols])
    assert again.ref is None  # no registry: nothing saved


def test_accuracy_fitness_and_the_time_budget(eth: BarSeries) -> None:
    space = SearchSpace(models=("Naive Bayes",), granularities=(12,), datasetinputs=(2, 3), windows=(600,),
                        features=("returns",))  # fmt: skip
    t0 = time.monotonic()
    result = automl(eth, space=space, fitness="accuracy", timeout=2.0, step=500)
    assert time.monotonic() - t0 < 30
    assert result.best_value == pytest.approx(result.best_metrics["accuracy"])
    assert 0.0 < result.best_value < 1.0


def test_bad_settings_are_clear_errors(eth: BarSeries, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give a budget"):
        automl(eth, space=SPACE)
    with pytest.raises(ConfigError, match="unknown fitness 'calmar'"):
        automl(eth, space=SPACE, trials=1, fitness="calmar")
    with pytest.raises(ConfigError, match="unknown model 'Forest'"):
        automl(eth, space=SearchSpace(models=("Forest",)), trials=1)
    with pytest.raises(ConfigError, match="less than one test block"):
        automl(eth, space=SearchSpace(models=("Naive Bayes",), windows=(6000,)), trials=1)
    with pytest.raises(ConfigError, match="no trial finished"):  # every trial fails: a class is always missing
        automl(load_sample("ETH-BTC"), space=SearchSpace(models=("Naive Bayes",), granularities=(1,),
               datasetinputs=(2,), windows=(600,), features=("returns",)), trials=2, fees=0.05, step=500)  # fmt: skip
