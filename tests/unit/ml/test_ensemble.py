"""Ensembles: the weighted vote against hand-computed numbers, each member trained on its own window and label
horizon (checked on indices and against a model fitted by hand), pytrader's predictor_configs, several symbols, and
clear errors for bad configs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import load_sample
from tradeforge.ml.ensemble import (
    BUY,
    HOLD,
    SELL,
    Ensemble,
    EnsembleConfig,
    MemberConfig,
    combine,
    combined_scores,
    passes_threshold,
)
from tradeforge.ml.features import FeatureSet, Returns, default_feature_set
from tradeforge.ml.labels import horizon_labels
from tradeforge.ml.models import make_model


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP").slice(0, 6000)


@pytest.fixture(scope="module")
def eth() -> BarSeries:
    return load_sample("ETH-BTC")


def member(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": "Naive Bayes", "weight": 1.0, "granularity": 2, "datasetinputs": 3}
    base.update(kw)
    return base


# ------------------------------------------------------------------------------------------ the vote itself
# three members (weights 2, 1, 1) over three rows; columns are sell, hold, buy
PROBAS = np.array(
    [
        [[0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]],
        [[0.6, 0.3, 0.1], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8]],
        [[0.1, 0.2, 0.7], [0.6, 0.2, 0.2], [0.7, 0.2, 0.1]],
    ]
)
WEIGHTS = [2.0, 1.0, 1.0]


def test_weighted_mean_equals_the_hand_computed_vote() -> None:
    scores = combined_scores(PROBAS, WEIGHTS, "mean")
    # row 0: sell (2*.2 + .6 + .1)/4, hold (2*.3 + .3 + .2)/4, buy (2*.5 + .1 + .7)/4
    np.testing.assert_allclose(scores[0], [1.1 / 4, 1.1 / 4, 1.8 / 4])
    np.testing.assert_allclose(scores[1], [(0.2 + 0.3 + 0.6) / 4, (1.6 + 0.3 + 0.2) / 4, (0.2 + 0.4 + 0.2) / 4])
    np.testing.assert_allclose(scores[2], [(1.0 + 0.1 + 0.7) / 4, (0.2 + 0.1 + 0.2) / 4, (0.8 + 0.8 + 0.1) / 4])
    classes, confidence = combine(PROBAS, WEIGHTS, method="mean", threshold=0.4)
    assert classes.tolist() == [BUY, HOLD, SELL]
    np.testing.assert_allclose(confidence, [0.45, 0.525, 0.45])
    # a threshold of 0.5 keeps only the hold of row 1; the others fall back to hold with their confidence
    classes, confidence = combine(PROBAS, WEIGHTS, method="mean", threshold=0.5)
    assert classes.tolist() == [HOLD, HOLD, HOLD]
    np.testing.assert_allclose(confidence, [0.45, 0.525, 0.45])


def test_weighted_majority_vote_equals_the_hand_computed_vote() -> None:
    # votes: row 0 buy (w2), sell (w1), buy (w1); row 1 hold (w2), buy (w1), sell (w1); row 2 sell, buy, sell
    scores = combined_scores(PROBAS, WEIGHTS, "vote")
    np.testing.assert_allclose(scores, [[0.25, 0.0, 0.75], [0.25, 0.5, 0.25], [0.75, 0.0, 0.25]])
    classes, confidence = combine(PROBAS, WEIGHTS, method="vote", threshold=0.6)
    assert classes.tolist() == [BUY, HOLD, SELL]  # row 1: hold wins with 0.5 < 0.6, which is hold anyway
    np.testing.assert_allclose(confidence, [0.75, 0.5, 0.75])


def test_ties_missing_values_and_the_threshold_ends() -> None:
    tie = np.array([[[0.4, 0.2, 0.4]], [[0.45, 0.1, 0.45]]])
    assert combine(tie, [1, 1], threshold=0.0)[0].tolist() == [HOLD]  # buy and sell tie at the top: hold
    nan = np.array([[[0.1, 0.1, 0.8]], [[np.nan, np.nan, np.nan]]])
    classes, confidence = combine(nan, [1, 1], threshold=0.0)
    assert classes.tolist() == [HOLD] and np.isnan(confidence[0])  # a member without features: no decision
    sure = np.array([[[0.0, 0.0, 1.0]]])
    assert combine(sure, [1], threshold=1.0)[0].tolist() == [HOLD]  # 1 lets nothing pass
    assert combine(sure, [1], threshold=0.0)[0].tolist() == [BUY]
    assert passes_threshold(float("nan"), 0.0) and not passes_threshold(1.0, 1.0)
    assert passes_threshold(0.5, 0.5) and not passes_threshold(0.49, 0.5)


# ---------------------------------------------------------------------------------------- on real bars
def test_each_member_learns_on_its_own_window_and_horizon(btc: BarSeries) -> None:
    config = EnsembleConfig(
        members=[
            member(type="Decision Tree", weight=2, granularity=1, datasetinputs=5, train_window=3000,
                   params={"max_depth": 4}),
            member(type="Naive Bayes", weight=1, granularity=3, datasetinputs=2, train_window=1000),
            member(type="lda", weight=1, granularity=5, datasetinputs=3, train_window=2000, features="default"),
        ],
        threshold=0.4,
        on_missing_class="zero",
    )  # fmt: skip
    ensemble = Ensemble(config).fit(btc)
    n = len(btc)
    for m in ensemble.members:
        w, h = m.config.train_window, m.config.granularity
        window = m.window
        assert window is not None
        assert (window.first, window.last, window.stop, window.horizon) == (n - w, n - 1 - h, n, h)
        # the same model fitted by hand on those rows predicts identically
        X = m.feature_set.compute_array(btc)
        labels = horizon_labels(btc.slice(n - w, n), h)
        rows = np.arange(n - w, n - h)
        keep = np.isfinite(X[rows]).all(axis=1)
        assert window.rows == int(keep.sum())
        by_hand = make_model(m.config.type, **m.config.params)
        by_hand.fit(X[rows][keep], labels.label[: w - h][keep], classes=[-1, 0, 1], on_missing_class="zero")
        finite = np.isfinite(X).all(axis=1)
        assert m.model is not None
        np.testing.assert_array_equal(m.model.predict_proba(X[finite]), by_hand.predict_proba(X[finite]))
    assert ensemble.members[2].feature_set.columns == default_feature_set(datasetinputs=3, granularity=5).columns


def test_predictions_equal_a_weighted_vote_computed_by_hand(btc: BarSeries) -> None:
    members = [
        member(type="Naive Bayes", weight=3, granularity=2, datasetinputs=4, train_window=2000),
        member(type="Decision Tree", weight=1, granularity=1, datasetinputs=2, params={"max_depth": 3}),
    ]
    for method in ("mean", "vote"):
        ensemble = Ensemble(EnsembleConfig(members=members, method=method, threshold=0.5, on_missing_class="zero"))
        ensemble.fit(btc)
        classes, confidence = ensemble.predict(btc)
        p = []
        for m in ensemble.members:
            X = m.feature_set.compute_array(btc)
            proba = np.full((len(btc), 3), np.nan)
            ok = np.isfinite(X).all(axis=1)
            assert m.model is not None
            proba[ok] = m.model.predict_proba(X[ok])
            p.append(proba)
        if method == "mean":
            scores = (3 * p[0] + p[1]) / 4
        else:
            scores = np.zeros_like(p[0])
            for weight, proba in zip((3, 1), p, strict=True):
                scores[np.arange(len(btc)), np.argmax(np.nan_to_num(proba), axis=1)] += weight / 4
        valid = np.isfinite(p[0]).all(axis=1) & np.isfinite(p[1]).all(axis=1)
        top = np.argmax(scores[valid], axis=1)
        np.testing.assert_allclose(confidence[valid], scores[valid][np.arange(valid.sum()), top])
        unique_top = np.sort(scores[valid], axis=1)[:, -2] < scores[valid].max(axis=1) - 1e-9
        expected = np.where(unique_top & (confidence[valid] >= 0.5), np.array([SELL, HOLD, BUY])[top], HOLD)
        np.testing.assert_array_equal(classes[valid], expected)
        assert (classes[~valid] == HOLD).all() and np.isnan(confidence[~valid]).all()
        assert {SELL, BUY} & set(classes.tolist())  # it does trade sometimes
        # the same from feature rows per member
        rows = {m.name: m.feature_set.compute(btc) for m in ensemble.members}
        again, conf_again = ensemble.predict(rows)
        np.testing.assert_array_equal(again, classes)
        np.testing.assert_array_equal(conf_again, confidence)
    first = ensemble.members[0].name
    with pytest.raises(DataError, match=r"the feature rows lack columns \['ret2_1'\]"):
        ensemble.predict({**rows, first: rows[first].drop(columns=["ret2_1"])})
    with pytest.raises(
        ConfigError, match=r"feature rows are needed for members .* missing \['Decision Tree / 1 x 2'\]"
    ):
        ensemble.predict({first: rows[first]})


def test_members_on_other_symbols_vote_with_their_latest_closed_bar(eth: BarSeries) -> None:
    ltc = load_sample("LTC-BTC")
    config = EnsembleConfig(
        members=[
            member(symbol="ETH-BTC", weight=1, train_window=3000),
            member(symbol="LTC-BTC", weight=2, train_window=3000, type="Decision Tree", params={"max_depth": 3}),
        ],
        threshold=0.0,
        on_missing_class="zero",
    )
    ensemble = Ensemble(config).fit({"ETH-BTC": eth, "LTC-BTC": ltc})
    windows = {w.member: w for w in ensemble.windows}
    assert windows["Decision Tree LTC-BTC / 2 x 3"].stop == len(ltc)
    probas = ensemble.member_probabilities({"ETH-BTC": eth, "LTC-BTC": ltc}, on="ETH-BTC")
    ltc_own = ensemble.members[1].predict_proba(ensemble.members[1].feature_set.compute_array(ltc))
    # at each ETH bar, the LTC member's row is that of the LTC bar with the same open time, or the last before it
    pos = np.searchsorted(ltc.ts, eth.ts, side="right") - 1
    np.testing.assert_array_equal(probas["Decision Tree LTC-BTC / 2 x 3"][pos >= 0], ltc_own[pos[pos >= 0]])
    classes, _ = ensemble.predict({"ETH-BTC": eth, "LTC-BTC": ltc})
    assert classes.shape == (len(eth),)
    with pytest.raises(ConfigError, match=r"reads LTC-BTC but the bars are ETH-BTC"):
        ensemble.predict(eth)


def test_pytrader_predictor_configs_as_written_in_the_seed() -> None:
    granularity = 15  # minutes
    predictor_configs = [
        {"type": "nn", "name": "ETH / 5", "symbol": "BTC_ETH", "weight": 0.1, "granularity": granularity,
         "datasetinputs": 5},
        {"type": "nn", "name": "ETH / 5", "symbol": "BTC_ETH", "weight": 0.1, "granularity": granularity,
         "datasetinputs": 4},
        {"type": "classifier", "symbol": "USDT_BTC", "name": "AdaBoost", "weight": 0.1, "granularity": granularity,
         "datasetinputs": 2, "minutes_back": 1000},
        {"type": "classifier", "symbol": "BTC_ETH", "name": "Naive Bayes", "weight": 2,
         "granularity": granularity * 3, "datasetinputs": 2, "minutes_back": 1000},
    ]  # fmt: skip
    config = EnsembleConfig.from_pytrader(
        predictor_configs, timeframe="5m", symbols={"BTC_ETH": "ETH-BTC"}, method="vote", threshold=0.6
    )
    got = [(m.type, m.name, m.symbol, m.weight, m.granularity, m.datasetinputs, m.train_window)
           for m in config.member_configs]  # fmt: skip
    assert got == [
        ("Neural Net", "ETH / 5", "ETH-BTC", 0.1, 3, 5, 1000),
        ("Neural Net", "ETH / 5 #2", "ETH-BTC", 0.1, 3, 4, 1000),
        ("AdaBoost", "AdaBoost USDT_BTC / 2", "USDT_BTC", 0.1, 3, 2, 200),
        ("Naive Bayes", "Naive Bayes ETH-BTC / 2", "ETH-BTC", 2.0, 9, 2, 200),
    ]
    assert (config.method, config.threshold) == ("vote", 0.6)
    with pytest.raises(ConfigError, match=r"granularity = 7 minutes is not a whole number of 5-minute bars"):
        EnsembleConfig.from_pytrader([{**predictor_configs[0], "granularity": 7}], timeframe="5m")
    with pytest.raises(ConfigError, match=r"pytrader's type is 'classifier' or 'nn'"):
        EnsembleConfig.from_pytrader([{**predictor_configs[0], "type": "svm"}])
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['minutes'\]"):
        EnsembleConfig.from_pytrader([{**predictor_configs[0], "minutes": 5}])


def test_a_class_missing_from_a_window_is_a_clear_error(btc: BarSeries) -> None:
    # a 2% threshold over one minute: no bar of the window is buy or sell
    strict = EnsembleConfig(members=[member(granularity=1, train_window=300)], label_threshold=0.02)
    with pytest.raises(
        DataError, match=r"member .* \(training window of bars 5700..5999\): class\(es\) \[-1, 1\] miss"
    ):
        Ensemble(strict).fit(btc)


# ------------------------------------------------------------------------------------------ bad configs
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "Random Forrest"}, r"ensemble member .*unknown model 'Random Forrest'"),
        ({"weight": 0}, r"weight must be a number > 0, got 0"),
        ({"weight": -1.5}, r"weight must be a number > 0"),
        ({"weight": float("nan")}, r"weight must be a number > 0"),
        ({"weight": True}, r"weight must be a number > 0"),
        ({"granularity": 0}, r"granularity must be a whole number >= 1"),
        ({"datasetinputs": 2.5}, r"datasetinputs must be a whole number >= 1"),
        ({"train_window": 3}, r"train_window 3 leaves no labelled bar with granularity 2"),
        ({"params": {"max_dept": 3}, "type": "Decision Tree"}, r"unknown hyperparameter.*did you mean 'max_depth'"),
        ({"features": "all"}, r"features must be 'returns', 'default' or a FeatureSet"),
        ({"symbol": ""}, r"symbol must be a symbol such as 'ETH-BTC' or None"),
    ],
)
def test_bad_members_are_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EnsembleConfig(members=[member(**change)])


def test_bad_keys_and_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"lacks weight: every member needs type, weight, granularity"):
        EnsembleConfig(members=[{"type": "Naive Bayes", "granularity": 1, "datasetinputs": 2}])
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'wieght' \(did you mean 'weight'\?\)"):
        EnsembleConfig(members=[{**member(), "wieght": 1}])
    with pytest.raises(ConfigError, match=r"'minutes_back' \(pytrader's: use train_window"):
        EnsembleConfig(members=[{**member(), "minutes_back": 1000}])
    with pytest.raises(ConfigError, match=r"distinct names; \['a'\] appear more than once"):
        EnsembleConfig(members=[member(name="a"), member(name="a", type="lda")])
    with pytest.raises(ConfigError, match=r"non-empty list of members"):
        EnsembleConfig(members=[])
    with pytest.raises(ConfigError, match=r"method must be 'mean'"):
        EnsembleConfig(members=[member()], method="median")
    with pytest.raises(ConfigError, match=r"threshold must be a probability in \[0, 1\]"):
        EnsembleConfig(members=[member()], threshold=1.5)
    with pytest.raises(ConfigError, match=r"label_threshold applies to labels='horizon'"):
        EnsembleConfig(members=[member()], labels="triple_barrier", label_threshold=0.01)
    with pytest.raises(ConfigError, match=r"unknown ensemble key\(s\) \['predictor_configs'\].*from_pytrader"):
        EnsembleConfig.from_dict({"predictor_configs": []})
    with pytest.raises(ConfigError, match=r"needs 'members'"):
        EnsembleConfig.from_dict({"method": "vote"})
    assert Ensemble({"members": [member()], "method": "vote"}).config.method == "vote"
    with pytest.raises(ConfigError, match=r"not trained yet"):
        Ensemble([member()]).predict(load_sample("ETH-BTC"))


def test_member_defaults_are_pytraders_inputs() -> None:
    m = MemberConfig(type="naive_bayes", weight=2, granularity=3, datasetinputs=4)
    assert (m.type, m.name, m.train_window) == ("Naive Bayes", "Naive Bayes / 3 x 4", 1000)
    assert repr(m.feature_set()) == repr(FeatureSet([Returns(4, 3)]))
