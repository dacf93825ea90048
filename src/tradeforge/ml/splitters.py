"""Cross-validation that does not leak labels across time, in scikit-learn's splitter shape.

Each splitter knows, for every sample, the span of bars its label uses: label_start[i]..label_end[i] (inclusive;
tradeforge.ml.labels gives them as `labels.spans(mask)`), or one horizon h for all (sample i spans i..i+h). A train
sample whose span overlaps a test sample's span shares information with it (the same future prices), so:

- `WalkForward`: train strictly before test with a gap of at least the label horizon between them.
- `PurgedKFold`: contiguous test blocks; train samples whose spans overlap the block are purged and the samples
  just after it are embargoed (López de Prado, Advances in Financial Machine Learning, ch. 7).
- `CombinatorialPurgedKFold`: N groups, every choice of k as the test set (C(N, k) splits), purged and embargoed
  the same way; the test groups assemble into C(N-1, k-1) complete backtest paths (ch. 12).

Settings that would leak are refused with a ConfigError (purging off while labels span several bars, an
embargo or a gap shorter than the label horizon), never silently accepted. `split(X)` yields (train, test)
arrays of row positions, so a splitter works as `cv=` in scikit-learn's cross_val_score and GridSearchCV.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.errors import ConfigError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Split = tuple[IntArray, IntArray]


def label_horizon(label_start: IntArray, label_end: IntArray) -> int:
    """The label horizon in samples: the most later samples that start inside one sample's span. A gap or an
    embargo of this many samples separates every train label from every test label."""
    if label_start.shape[0] == 0:
        return 0
    reach = np.searchsorted(label_start, label_end, side="right") - 1 - np.arange(label_start.shape[0])
    return int(max(0, int(reach.max())))


def leaking_train_samples(
    train: npt.ArrayLike, test: npt.ArrayLike, label_start: npt.ArrayLike, label_end: npt.ArrayLike
) -> IntArray:
    """The train positions whose label span [start, end] overlaps the span of any test position (exact check,
    for tests and audits): empty when the split shares no information."""
    starts = np.asarray(label_start, dtype=np.int64)
    ends = np.asarray(label_end, dtype=np.int64)
    tr = np.asarray(train, dtype=np.int64)
    te = np.asarray(test, dtype=np.int64)
    if te.size == 0 or tr.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(starts[te], kind="stable")
    t_start = starts[te][order]
    t_end_max = np.maximum.accumulate(ends[te][order])
    k = np.searchsorted(t_start, ends[tr], side="right") - 1  # last test span starting at or before each train end
    hit = (k >= 0) & (t_end_max[np.maximum(k, 0)] >= starts[tr])
    return tr[hit]


class _Spans:
    """Label spans given to a splitter: a horizon (int) or arrays, resolved against the number of samples."""

    def __init__(self, label_end: int | npt.ArrayLike, label_start: npt.ArrayLike | None) -> None:
        if isinstance(label_end, bool):
            raise ConfigError("label_end must be a horizon in samples (int) or one end index per sample")
        self.horizon = 0
        self.end: IntArray | None = None  # None: every sample i spans i..i + horizon
        self.start: IntArray | None = None
        if isinstance(label_end, int | np.integer):
            if label_end < 0:
                raise ConfigError(f"the label horizon must be >= 0 samples, got {label_end}")
            if label_start is not None:
                raise ConfigError("give label_start with an array of label ends, not with a horizon")
            self.horizon = int(label_end)
        else:
            self.end = _int_array("label_end", label_end)
            self.start = None if label_start is None else _int_array("label_start", label_start)

    def resolve(self, n: int) -> tuple[IntArray, IntArray]:
        if n < 1:
            raise ConfigError("there are no samples to split")
        if self.end is None:
            start = np.arange(n, dtype=np.int64)
            return start, start + self.horizon
        end = self.end
        start = np.arange(n, dtype=np.int64) if self.start is None else self.start
        for name, arr in (("label_end", end), ("label_start", start)):
            if arr.shape[0] != n:
                raise ConfigError(f"{name} has {arr.shape[0]} values but X has {n} samples: give one per sample")
        if np.any(np.diff(start) < 0):
            raise ConfigError("samples must be in time order: label_start has to be non-decreasing")
        if np.any(end < start):
            i = int(np.flatnonzero(end < start)[0])
            raise ConfigError(f"sample {i}'s label ends (at {end[i]}) before it starts (at {start[i]})")
        return start, end


def _int_array(name: str, values: npt.ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ConfigError(f"{name} must be a 1-D array of integer bar indices (one per sample)")
    return arr.astype(np.int64)


def _n_samples(X: Any) -> int:
    if X is None:
        raise ConfigError("split(X) needs X (or anything with a length) to know the number of samples")
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _embargo_count(embargo: float | int | None, n: int, horizon: int) -> int:
    if embargo is None:
        return horizon
    if isinstance(embargo, bool) or not isinstance(embargo, int | float | np.integer | np.floating):
        raise ConfigError(
            f"embargo must be a count of samples (int) or a fraction of them (0 <= f < 1), got {embargo!r}"
        )
    if isinstance(embargo, int | np.integer):
        if embargo < 0:
            raise ConfigError(f"embargo must be >= 0 samples, got {embargo}")
        return int(embargo)
    if not 0.0 <= float(embargo) < 1.0:
        raise ConfigError(f"an embargo fraction must be in [0, 1), got {embargo}; give an int for a count")
    return math.ceil(float(embargo) * n)


def _check_leak_settings(purge: bool, embargo: int, start: IntArray, end: IntArray, horizon: int) -> None:
    if not purge and np.any(end > start):
        raise ConfigError(
            "purge=False while labels span more than their own bar would let train labels share the test bars' "
            "prices: keep purge=True (or use labels whose end equals their start)"
        )
    if embargo < horizon:
        raise ConfigError(
            f"an embargo of {embargo} samples is shorter than the label horizon ({horizon} samples): samples "
            f"after a test block would carry its information; use embargo >= {horizon} (or leave it None)"
        )


def _purged_train(
    n: int, test_blocks: Sequence[tuple[int, int]], start: IntArray, end: IntArray, purge: bool, embargo: int
) -> IntArray:
    """All samples outside the test blocks [a, b), minus those whose span overlaps a block's span and the
    `embargo` samples after each block."""
    keep = np.ones(n, dtype=bool)
    for a, b in test_blocks:
        keep[a:b] = False
        if purge:
            lo, hi = start[a], end[a:b].max()
            keep &= ~((start <= hi) & (end >= lo))
        keep[b : b + embargo] = False
    return np.flatnonzero(keep).astype(np.int64)


class WalkForward:
    """Walk-forward splits: n_splits consecutive test blocks at the end of the data, each trained on what comes
    before it, minus a gap of at least the label horizon.

    window="expanding" trains on everything from the first sample; "rolling" on the last train_size samples
    (default: what the first split has). test_size defaults to n // (n_splits + 1). gap defaults to the label
    horizon; a shorter one is refused."""

    def __init__(
        self,
        n_splits: int = 5,
        *,
        label_end: int | npt.ArrayLike,
        label_start: npt.ArrayLike | None = None,
        window: str = "expanding",
        train_size: int | None = None,
        test_size: int | None = None,
        gap: int | None = None,
    ) -> None:
        self.n_splits = _count("n_splits", n_splits, 1)
        if window not in ("expanding", "rolling"):
            raise ConfigError(f"window must be 'expanding' or 'rolling', got {window!r}")
        self.window = window
        self.train_size = None if train_size is None else _count("train_size", train_size, 1)
        self.test_size = None if test_size is None else _count("test_size", test_size, 1)
        self.gap = None if gap is None else _count("gap", gap, 0)
        self._spans = _Spans(label_end, label_start)

    def __repr__(self) -> str:
        return (
            f"WalkForward(n_splits={self.n_splits}, window={self.window!r}, train_size={self.train_size}, "
            f"test_size={self.test_size}, gap={self.gap})"
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = _n_samples(X)
        start, end = self._spans.resolve(n)
        horizon = label_horizon(start, end)
        gap = horizon if self.gap is None else self.gap
        if gap < horizon:
            raise ConfigError(
                f"gap={gap} is shorter than the label horizon ({horizon} samples): the last train labels would "
                f"reach into the test period; use gap >= {horizon} (or leave it None)"
            )
        test_size = self.test_size or n // (self.n_splits + 1)
        first_test = n - self.n_splits * test_size
        if test_size < 1 or first_test - gap < 1:
            raise ConfigError(
                f"{n} samples are too few for {self.n_splits} walk-forward splits of {test_size} test samples "
                f"after a gap of {gap}: use fewer splits, a smaller test_size or more data"
            )
        train_size = self.train_size if self.train_size is not None else first_test - gap
        if self.window == "rolling" and train_size > first_test - gap:
            raise ConfigError(
                f"train_size={train_size} is more than the {first_test - gap} samples before the first test block "
                "(after the gap): use a smaller train_size"
            )
        for k in range(self.n_splits):
            a = first_test + k * test_size
            train_end = a - gap
            train_start = 0 if self.window == "expanding" else train_end - train_size
            yield np.arange(train_start, train_end, dtype=np.int64), np.arange(a, a + test_size, dtype=np.int64)


class PurgedKFold:
    """K contiguous test blocks in time order; the train set is every other sample minus the purged (label
    spans overlapping the block's) and the embargoed (the `embargo` samples right after the block).

    embargo: a count of samples, a fraction of them (0.01 = 1%), or None for the label horizon, the least that
    is accepted."""

    def __init__(
        self,
        n_splits: int = 5,
        *,
        label_end: int | npt.ArrayLike,
        label_start: npt.ArrayLike | None = None,
        embargo: float | int | None = None,
        purge: bool = True,
    ) -> None:
        self.n_splits = _count("n_splits", n_splits, 2)
        self.embargo = embargo
        self.purge = bool(purge)
        self._spans = _Spans(label_end, label_start)

    def __repr__(self) -> str:
        return f"PurgedKFold(n_splits={self.n_splits}, embargo={self.embargo}, purge={self.purge})"

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = _n_samples(X)
        start, end = self._spans.resolve(n)
        if n < self.n_splits:
            raise ConfigError(f"{n} samples cannot make {self.n_splits} folds: use fewer folds")
        horizon = label_horizon(start, end)
        embargo = _embargo_count(self.embargo, n, horizon)
        _check_leak_settings(self.purge, embargo, start, end, horizon)
        bounds = np.linspace(0, n, self.n_splits + 1).astype(np.int64)
        for k in range(self.n_splits):
            a, b = int(bounds[k]), int(bounds[k + 1])
            train = _purged_train(n, [(a, b)], start, end, self.purge, embargo)
            if train.size == 0:
                raise ConfigError(f"fold {k} has no train sample left after purging and the embargo: use fewer folds")
            yield train, np.arange(a, b, dtype=np.int64)


class CombinatorialPurgedKFold:
    """Combinatorial purged cross-validation: the samples in n_groups contiguous groups, every choice of
    n_test_groups of them as the test set (C(N, k) splits), each trained on the other groups purged and
    embargoed around every test group.

    Each group is tested in C(N-1, k-1) splits, so the test predictions assemble into that many complete
    backtest paths over all the samples (`backtest_paths`, `assemble_paths`)."""

    def __init__(
        self,
        n_groups: int = 6,
        n_test_groups: int = 2,
        *,
        label_end: int | npt.ArrayLike,
        label_start: npt.ArrayLike | None = None,
        embargo: float | int | None = None,
        purge: bool = True,
    ) -> None:
        self.n_groups = _count("n_groups", n_groups, 2)
        self.n_test_groups = _count("n_test_groups", n_test_groups, 1)
        if self.n_test_groups >= self.n_groups:
            raise ConfigError(
                f"n_test_groups ({self.n_test_groups}) must be smaller than n_groups ({self.n_groups}): some "
                "groups have to remain for training"
            )
        self.embargo = embargo
        self.purge = bool(purge)
        self._spans = _Spans(label_end, label_start)

    def __repr__(self) -> str:
        return (
            f"CombinatorialPurgedKFold(n_groups={self.n_groups}, n_test_groups={self.n_test_groups}, "
            f"embargo={self.embargo}, purge={self.purge})"
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return math.comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """Complete backtest paths the test groups make: C(N-1, k-1)."""
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def combinations(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in split order."""
        return list(combinations(range(self.n_groups), self.n_test_groups))

    def group_bounds(self, n_samples: int) -> list[tuple[int, int]]:
        """[a, b) sample positions of each group."""
        bounds = np.linspace(0, n_samples, self.n_groups + 1).astype(np.int64)
        return [(int(bounds[g]), int(bounds[g + 1])) for g in range(self.n_groups)]

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = _n_samples(X)
        start, end = self._spans.resolve(n)
        if n < self.n_groups:
            raise ConfigError(f"{n} samples cannot make {self.n_groups} groups: use fewer groups")
        horizon = label_horizon(start, end)
        embargo = _embargo_count(self.embargo, n, horizon)
        _check_leak_settings(self.purge, embargo, start, end, horizon)
        bounds = self.group_bounds(n)
        for combo in self.combinations():
            blocks = [bounds[g] for g in combo]
            train = _purged_train(n, blocks, start, end, self.purge, embargo)
            if train.size == 0:
                raise ConfigError(
                    f"the split testing groups {combo} has no train sample left after purging and the embargo: "
                    "use fewer test groups or more data"
                )
            test = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in blocks])
            yield train, test

    def backtest_paths(self) -> list[list[tuple[int, int]]]:
        """For each path, for each group g in time order: (index of the split whose test predictions cover g, g).
        Path p uses, for every group, the p-th split (in split order) that tests it."""
        testing: list[list[int]] = [[] for _ in range(self.n_groups)]
        for s, combo in enumerate(self.combinations()):
            for g in combo:
                testing[g].append(s)
        return [[(testing[g][p], g) for g in range(self.n_groups)] for p in range(self.n_paths)]

    def assemble_paths(self, test_values: Sequence[npt.ArrayLike], n_samples: int) -> FloatArray:
        """Backtest paths from per-split test values (test_values[s] aligned with split s's test positions):
        an array (n_paths, n_samples), each row a full out-of-sample series."""
        combos = self.combinations()
        if len(test_values) != len(combos):
            raise ConfigError(f"give one array of test values per split: {len(combos)}, got {len(test_values)}")
        bounds = self.group_bounds(n_samples)
        values = []
        for s, combo in enumerate(combos):
            arr = np.asarray(test_values[s], dtype=np.float64)
            size = sum(bounds[g][1] - bounds[g][0] for g in combo)
            if arr.shape != (size,):
                raise ConfigError(f"split {s} tests {size} samples but {arr.shape[0]} values were given")
            values.append(arr)
        out = np.full((self.n_paths, n_samples), np.nan)
        for p, path in enumerate(self.backtest_paths()):
            for s, g in path:
                offset = 0
                for h in combos[s]:
                    if h == g:
                        break
                    offset += bounds[h][1] - bounds[h][0]
                a, b = bounds[g]
                out[p, a:b] = values[s][offset : offset + b - a]
        return out
