"""Splitters never let a train label share bars with a test label (checked on indices, for random horizons and
sparse samples), refuse leaking settings, and work as scikit-learn's cv= on real features and labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError
from tradeforge.data import load_sample
from tradeforge.ml.features import Factors, FeatureSet, Returns
from tradeforge.ml.labels import horizon_labels, triple_barrier_labels
from tradeforge.ml.splitters import (
    CombinatorialPurgedKFold,
    PurgedKFold,
    WalkForward,
    label_horizon,
    leaking_train_samples,
)


def overlapping_pairs(train: np.ndarray, test: np.ndarray, start: np.ndarray, end: np.ndarray) -> int:
    """Brute force: how many (train, test) pairs have overlapping spans [start, end]."""
    s_tr, e_tr = start[train][:, None], end[train][:, None]
    s_te, e_te = start[test][None, :], end[test][None, :]
    return int(((s_tr <= e_te) & (s_te <= e_tr)).sum())


@st.composite
def spans(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Samples at increasing bar indices (with random gaps between them) whose labels reach up to h bars ahead."""
    n = draw(st.integers(40, 300))
    h = draw(st.integers(0, min(25, n // 20)))  # short enough that every split keeps train samples
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sparse = draw(st.booleans())
    steps = rng.integers(1, 4, n) if sparse else np.ones(n, dtype=np.int64)
    start = np.cumsum(steps) - steps[0]
    end = start + (rng.integers(0, h + 1, n) if draw(st.booleans()) else h)
    return start.astype(np.int64), end.astype(np.int64)


def check_splits(splitter: object, start: np.ndarray, end: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    X = np.zeros((start.shape[0], 2))
    splits = list(splitter.split(X))  # type: ignore[attr-defined]
    assert len(splits) == splitter.get_n_splits()  # type: ignore[attr-defined]
    for train, test in splits:
        assert train.size and test.size
        assert np.intersect1d(train, test).size == 0
        assert overlapping_pairs(train, test, start, end) == 0
        assert leaking_train_samples(train, test, start, end).size == 0
    return splits


@settings(max_examples=60, deadline=None)
@given(spans(), st.integers(2, 6), st.integers(0, 10))
def test_purged_kfold_never_shares_a_bar_between_train_and_test(
    s: tuple[np.ndarray, np.ndarray], k: int, extra: int
) -> None:
    start, end = s
    embargo = label_horizon(start, end) + extra
    splits = check_splits(PurgedKFold(k, label_start=start, label_end=end, embargo=embargo), start, end)
    tested = np.sort(np.concatenate([test for _, test in splits]))
    np.testing.assert_array_equal(tested, np.arange(start.shape[0]))  # the folds partition the samples


@settings(max_examples=40, deadline=None)
@given(spans(), st.integers(3, 7), st.data())
def test_combinatorial_purged_cv_never_shares_a_bar_and_tests_each_sample_on_every_path(
    s: tuple[np.ndarray, np.ndarray], n_groups: int, data: st.DataObject
) -> None:
    start, end = s
    k = data.draw(st.integers(1, n_groups - 1))
    cv = CombinatorialPurgedKFold(n_groups, k, label_start=start, label_end=end)
    splits = check_splits(cv, start, end)
    assert len(splits) == math.comb(n_groups, k)
    counts = np.bincount(np.concatenate([test for _, test in splits]), minlength=start.shape[0])
    assert (counts == cv.n_paths).all() and cv.n_paths == math.comb(n_groups - 1, k - 1)


@settings(max_examples=60, deadline=None)
@given(spans(), st.integers(1, 5), st.sampled_from(["expanding", "rolling"]), st.integers(0, 5))
def test_walk_forward_trains_only_on_labels_that_end_before_the_test(
    s: tuple[np.ndarray, np.ndarray], n_splits: int, window: str, extra: int
) -> None:
    start, end = s
    n, horizon = start.shape[0], label_horizon(start, end)
    if n // (n_splits + 1) * n_splits + horizon + extra >= n:
        return  # too few samples for this many splits: a ConfigError, tested below
    cv = WalkForward(n_splits, label_start=start, label_end=end, window=window, gap=horizon + extra)
    for train, test in check_splits(cv, start, end):
        assert end[train].max() < start[test].min()  # every train label is known before the test starts
        assert train.max() + horizon + extra < test.min()


def test_the_horizon_is_counted_in_samples() -> None:
    start = np.array([0, 1, 2, 10, 11, 30])
    assert label_horizon(start, start + 1) == 1
    assert label_horizon(start, start + 9) == 2  # bar 2's label reaches bar 11: two samples later start inside
    assert label_horizon(start, start) == 0


def test_purged_kfold_removes_exactly_the_overlapping_and_embargoed_samples() -> None:
    n, h = 1000, 10
    cv = PurgedKFold(5, label_end=h, embargo=25)
    for k, (train, test) in enumerate(cv.split(np.zeros(n))):
        a, b = 200 * k, 200 * k + 200
        np.testing.assert_array_equal(test, np.arange(a, b))
        before = np.arange(0, max(0, a - h))  # labels of a-h..a-1 reach into the test block
        after = np.arange(b + 25, n) if b < n else np.arange(0)  # b..b+h-1 purged, then embargo up to b+24
        np.testing.assert_array_equal(train, np.concatenate([before, after]))


def test_walk_forward_splits_by_hand() -> None:
    expanding = list(WalkForward(3, label_end=2, test_size=10).split(np.zeros(50)))
    assert [(t[0], t[-1], s[0], s[-1]) for t, s in expanding] == [(0, 17, 20, 29), (0, 27, 30, 39), (0, 37, 40, 49)]
    rolling = list(WalkForward(3, label_end=2, test_size=10, window="rolling", train_size=8).split(np.zeros(50)))
    assert [(t[0], t[-1], s[0]) for t, s in rolling] == [(10, 17, 20), (20, 27, 30), (30, 37, 40)]


def test_backtest_paths_rebuild_every_sample_once_per_path() -> None:
    n = 120
    cv = CombinatorialPurgedKFold(6, 2, label_end=3)
    splits = list(cv.split(np.zeros(n)))
    assert len(splits) == 15 and cv.n_paths == 5
    paths = cv.backtest_paths()
    assert len(paths) == 5 and all([g for _, g in path] == list(range(6)) for path in paths)
    for g in range(6):  # each group's test predictions are used by exactly one path per split that tests it
        users = sorted(s for path in paths for s, h in path if h == g)
        assert users == [s for s, combo in enumerate(cv.combinations()) if g in combo]
    rebuilt = cv.assemble_paths([test.astype(float) for _, test in splits], n)  # "predict" the position
    np.testing.assert_array_equal(rebuilt, np.tile(np.arange(n, dtype=float), (5, 1)))


# ------------------------------------------------------------------------------------------ refusals
def test_settings_that_would_leak_are_refused() -> None:
    X = np.zeros(500)
    with pytest.raises(ConfigError, match="purge=False while labels span more than their own bar"):
        next(PurgedKFold(5, label_end=5, purge=False).split(X))
    with pytest.raises(ConfigError, match=r"embargo of 3 samples is shorter than the label horizon \(5 samples\)"):
        next(PurgedKFold(5, label_end=5, embargo=3).split(X))
    with pytest.raises(ConfigError, match="embargo of 2 samples is shorter"):
        next(PurgedKFold(5, label_end=5, embargo=0.004).split(X))  # 0.4% of 500 samples
    with pytest.raises(ConfigError, match=r"gap=4 is shorter than the label horizon \(5 samples\)"):
        next(WalkForward(3, label_end=5, gap=4).split(X))
    with pytest.raises(ConfigError, match="shorter than the label horizon"):
        next(CombinatorialPurgedKFold(6, 2, label_end=5, embargo=1).split(X))
    with pytest.raises(ConfigError, match="purge=False"):
        next(CombinatorialPurgedKFold(6, 2, label_end=np.arange(500) + 1, purge=False).split(X))
    # labels that use only their own bar need no purge
    assert len(list(PurgedKFold(5, label_end=0, purge=False, embargo=0).split(X))) == 5


def test_bad_splitter_input_is_a_clear_error() -> None:
    X = np.zeros(100)
    with pytest.raises(ConfigError, match="label_end has 50 values but X has 100 samples"):
        next(PurgedKFold(5, label_end=np.arange(50)).split(X))
    with pytest.raises(ConfigError, match="non-decreasing"):
        next(PurgedKFold(5, label_start=np.arange(100)[::-1], label_end=np.arange(100)[::-1]).split(X))
    with pytest.raises(ConfigError, match=r"ends .* before it starts"):
        next(PurgedKFold(5, label_start=np.arange(100), label_end=np.arange(100) - 1).split(X))
    with pytest.raises(ConfigError, match=r"n_test_groups .* must be smaller"):
        CombinatorialPurgedKFold(4, 4, label_end=1)
    with pytest.raises(ConfigError, match="too few for 5 walk-forward splits"):
        next(WalkForward(5, label_end=30, test_size=15).split(X))
    with pytest.raises(ConfigError, match="window must be"):
        WalkForward(3, label_end=1, window="sliding")


# ------------------------------------------------------------------------- real data and scikit-learn
def test_real_labels_and_features_split_without_sharing_information() -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    bars = load_sample("ETH-BTC")
    features = FeatureSet([Returns(5), Factors((10, 20))])
    X = features.compute_array(bars)
    labels = triple_barrier_labels(bars, 12, upper=1.5, lower=1.5, vol_window=50)
    usable = labels.labelled & ~np.isnan(X).any(axis=1)
    start, end = labels.spans(usable)
    X, y = X[usable], labels.label[usable]
    assert label_horizon(start, end) <= 12
    for cv in (
        PurgedKFold(5, label_start=start, label_end=end, embargo=0.01),
        CombinatorialPurgedKFold(6, 2, label_start=start, label_end=end),
        WalkForward(4, label_start=start, label_end=end),
    ):
        for train, test in cv.split(X):
            assert overlapping_pairs(train, test, start, end) == 0
        scores = cross_val_score(DecisionTreeClassifier(max_depth=3, random_state=0), X, y, cv=cv)
        assert scores.shape == (cv.get_n_splits(),) and (scores >= 0.0).all() and (scores <= 1.0).all()


def test_horizon_labels_leak_into_a_plain_kfold_but_not_into_a_purged_one() -> None:
    from sklearn.model_selection import KFold

    bars = load_sample("LTC-BTC")
    labels = horizon_labels(bars, 6)
    start, end = labels.spans()
    X = np.zeros((start.shape[0], 1))
    plain = sum(overlapping_pairs(tr, te, start, end) for tr, te in KFold(5).split(X))
    purged = sum(overlapping_pairs(tr, te, start, end) for tr, te in PurgedKFold(5, label_start=start,
                                                                                   label_end=end).split(X))  # fmt: skip
    assert plain > 0 and purged == 0
