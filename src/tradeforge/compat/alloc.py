"""minitrade's ``self.alloc``: choose assets and weights for ``self.rebalance()``.

Both of minitrade's allocation APIs work. The first (0.1.29-0.1.37): ``alloc.add(...)`` puts assets into the
candidate pool (conditions in one call are ANDed, separate calls ORed; ``limit=`` caps the pool), then
``alloc.equal_weight()`` or explicit weights. The second (0.1.38 on): ``alloc.assume_zero()`` or
``alloc.assume_previous()`` starts a cycle, then ``alloc.weights["A"] = 0.5`` or named buckets
(``alloc.bucket["equity"].append(...).weight_equally(0.4).apply("update")``). As in minitrade, an allocation
lasts until ``rebalance()`` uses it: afterwards it is the previous one and a new cycle starts empty. Beyond
minitrade: negative weights are shorts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.compat.errors import CompatRuntimeError, CompatTypeError, CompatValueError


def _members(item: Any) -> list[Any]:
    """minitrade's reading of a list or condition: a Series gives its index (only True entries when boolean)."""
    if isinstance(item, pd.Series):
        return [k for k, v in item.items() if not isinstance(v, (bool, np.bool_)) or v]
    if isinstance(item, str):
        return [item]
    return list(item)


class Bucket:
    """A named group of assets with its own weights, merged into the allocation with apply() (minitrade)."""

    def __init__(self, alloc: Allocation) -> None:
        self._alloc = alloc
        self._tickers: list[str] = []
        self._weights: pd.Series | None = None

    @property
    def tickers(self) -> list[str]:
        return list(self._tickers)

    @property
    def weights(self) -> pd.Series:
        if self._weights is None:
            raise CompatRuntimeError("call one of the bucket's weight_*() methods before reading its weights")
        return self._weights.copy()

    def append(self, ranked_list: Any, *conditions: Any) -> Bucket:
        """Add the assets of ranked_list that meet every condition, after those already in (rank kept)."""
        items = [_members(x) for x in (ranked_list, *conditions)]
        allowed = set(items[0]).intersection(*map(set, items[1:]))
        self._alloc._check_known(allowed)
        for ticker in items[0]:
            if ticker in allowed and ticker not in self._tickers:
                self._tickers.append(ticker)
        return self

    def remove(self, *conditions: Any) -> Bucket:
        """Remove the assets that meet every condition."""
        if conditions:
            items = [set(_members(x)) for x in conditions]
            gone = items[0].intersection(*items[1:])
            self._tickers = [t for t in self._tickers if t not in gone]
        return self

    def trim(self, limit: int) -> Bucket:
        self._tickers = self._tickers[:limit]
        return self

    def weight_explicitly(self, weight: float | list[float] | pd.Series) -> Bucket:
        """One weight for every asset, a list in rank order (missing ones 0), or a Series by asset."""
        if not self._tickers:
            self._weights = pd.Series(dtype=float)
        elif isinstance(weight, (int, float, np.integer, np.floating)):
            self._weights = pd.Series(float(weight), index=self._tickers, dtype=float)
        elif isinstance(weight, list):
            values = [float(w) for w in weight[: len(self._tickers)]]
            values += [0.0] * (len(self._tickers) - len(values))
            self._weights = pd.Series(values, index=self._tickers, dtype=float)
        elif isinstance(weight, pd.Series):
            series = pd.Series(0.0, index=self._tickers, dtype=float)
            given = weight[weight.index.isin(self._tickers)]
            series.loc[given.index] = given.astype(float)
            self._weights = series
        else:
            raise CompatTypeError("weight must be a number, a list of numbers or a Series of weights by asset")
        return self

    def weight_equally(self, sum_: float | None = None) -> Bucket:
        """sum_ (default: what the allocation has not allocated yet) split equally over the bucket."""
        total = self._alloc.unallocated if sum_ is None else float(sum_)
        n = len(self._tickers)
        self._weights = pd.Series(total / n if n else 0.0, index=self._tickers, dtype=float)
        return self

    def weight_proportionally(self, relative_weights: list[float], sum_: float | None = None) -> Bucket:
        if len(relative_weights) != len(self._tickers):
            raise CompatValueError(
                f"{len(relative_weights)} relative weights for {len(self._tickers)} assets {self._tickers}"
            )
        total = self._alloc.unallocated if sum_ is None else float(sum_)
        if not self._tickers:
            self._weights = pd.Series(dtype=float)
        else:
            rel = pd.Series([float(w) for w in relative_weights], index=self._tickers, dtype=float)
            self._weights = rel / rel.sum() * total
        return self

    def apply(self, method: str = "update") -> Bucket:
        """Merge into the allocation: "update" sets these assets' weights, "overwrite" also zeroes the others,
        "accumulate" adds to them."""
        if self._weights is None:
            raise CompatRuntimeError("call one of the bucket's weight_*() methods before apply()")
        if self._weights.empty:
            return self
        target = self._alloc.weights  # the live weights
        index = self._weights.index
        if method == "update":
            target.loc[index] = self._weights
        elif method == "overwrite":
            target.loc[:] = 0.0
            target.loc[index] = self._weights
        elif method == "accumulate":
            target.loc[index] = target.loc[index] + self._weights
        else:
            raise CompatValueError(f"apply(method=) is 'update', 'overwrite' or 'accumulate', not {method!r}")
        return self

    def __len__(self) -> int:
        return len(self._tickers)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tickers)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, pd.Series):
            return self._weights is not None and self._weights.equals(other)
        if isinstance(other, list):
            return self._tickers == other
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Bucket(tickers={self._tickers})"


class BucketGroup:
    """``alloc.bucket[name]``: the named buckets of the current cycle (made on first use)."""

    def __init__(self, alloc: Allocation) -> None:
        self._alloc = alloc
        self._buckets: dict[str, Bucket] = {}

    def __getitem__(self, name: str) -> Bucket:
        if name not in self._buckets:
            self._buckets[name] = Bucket(self._alloc)
        return self._buckets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._buckets)

    def __len__(self) -> int:
        return len(self._buckets)

    def clear(self) -> None:
        self._buckets.clear()


class Allocation:
    """The weights ``self.rebalance()`` trades to (fractions of equity by asset; negative = short)."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self._symbols = list(symbols)
        self._known = set(self._symbols)
        self._pool: list[str] = []
        self._previous = self._zeros()
        self._weights = self._zeros()
        self._buckets = BucketGroup(self)

    def _zeros(self) -> pd.Series:
        return pd.Series(0.0, index=self._symbols, dtype=float)

    # ------------------------------------------------------------ lifecycle
    def _next(self) -> None:
        """A rebalance used the allocation: it becomes the previous one and a new cycle starts empty."""
        self._previous = self._weights.copy()
        self._weights = self._zeros()
        self._pool = []
        self._buckets.clear()

    def _clear(self) -> None:
        """Before trade_start_date: no allocation has been traded yet."""
        self._previous = self._zeros()
        self._weights = self._zeros()
        self._pool = []
        self._buckets.clear()

    def assume_zero(self) -> Allocation:
        """Start the cycle from zero weights (minitrade 0.1.38+)."""
        self._weights = self._zeros()
        return self

    def assume_previous(self) -> Allocation:
        """Start the cycle from the weights of the last rebalance."""
        self._weights = self._previous.copy()
        return self

    @property
    def tickers(self) -> list[str]:
        return list(self._symbols)

    @property
    def modified(self) -> bool:
        """Whether the weights differ from those of the last rebalance (rebalance() does nothing otherwise,
        unless force=True)."""
        return not np.array_equal(self._weights.to_numpy(), self._previous.to_numpy())

    @property
    def previous_weights(self) -> pd.Series:
        return self._previous.copy()

    previous = previous_weights  # minitrade 0.1.37's name

    @property
    def unallocated(self) -> float:
        """1 minus the weight allocated so far."""
        return 1.0 - float(self._weights.abs().sum())

    def normalize(self) -> pd.Series:
        """Scale the weights so that their absolute values sum to 1."""
        total = float(self._weights.abs().sum())
        if total:
            self._weights = self._weights / total
        return self._weights

    @property
    def delta(self) -> pd.Series:
        return self._weights - self._previous

    # ------------------------------------------------------------ candidates
    def _check_known(self, chosen: Iterable[Any]) -> None:
        unknown = {str(k) for k in chosen} - self._known
        if unknown:
            raise CompatValueError(f"unknown assets {sorted(unknown)}; this backtest trades {self._symbols}")

    def _selection(self, item: Any) -> set[str]:
        if isinstance(item, pd.Series) and item.dtype == bool:
            chosen = {str(k) for k, v in item.items() if bool(v)}
        elif isinstance(item, pd.Series):
            raise CompatTypeError(
                "alloc.add() takes asset names (an Index or list) or a boolean Series indexed by asset, got a "
                f"Series of {item.dtype}; compare it first, e.g. alloc.add(roc > 0)"
            )
        elif isinstance(item, (pd.Index, list, tuple, set, np.ndarray)):
            chosen = {str(k) for k in item}
        elif isinstance(item, str):
            chosen = {item}
        else:
            raise CompatTypeError(
                f"alloc.add() takes asset names (an Index or list) or a boolean Series indexed by asset, got "
                f"{type(item).__name__}"
            )
        self._check_known(chosen)
        return chosen

    def add(self, items: Any = None, *conditions: Any, limit: int | None = None) -> Allocation:
        """Add the assets selected by items AND every condition to the candidate pool (no argument: all assets);
        limit: the pool grows to at most that many assets."""
        chosen = set(self._known) if items is None else self._selection(items)
        for condition in conditions:
            chosen &= self._selection(condition)
        for symbol in self._symbols:  # keep the data's asset order
            if symbol in chosen and symbol not in self._pool:
                if limit and len(self._pool) >= limit:
                    break
                self._pool.append(symbol)
        return self

    def drop(self, items: Any, *conditions: Any, limit: int | None = None) -> Allocation:
        """Remove the assets selected by items AND every condition from the candidate pool; limit: stop once the
        pool is down to that many."""
        chosen = self._selection(items)
        for condition in conditions:
            chosen &= self._selection(condition)
        for symbol in self._symbols:
            if symbol in chosen and symbol in self._pool:
                if limit and len(self._pool) <= limit:
                    break
                self._pool.remove(symbol)
        return self

    @property
    def selected(self) -> pd.Series:
        """The candidate pool as a boolean Series by asset (minitrade 0.1.37)."""
        return pd.Series([s in self._pool for s in self._symbols], index=self._symbols, dtype=bool)

    @property
    def bucket(self) -> BucketGroup:
        """Named buckets: ``alloc.bucket["equity"].append(...).weight_equally(0.4).apply("update")``."""
        return self._buckets

    # --------------------------------------------------------------- weights
    def equal_weight(self, sum_: float = 1.0, *, total: float | None = None) -> Allocation:
        """Each candidate gets sum_ / len(pool) of equity (negative: equal short weights)."""
        amount = float(sum_ if total is None else total)
        if not math.isfinite(amount):
            raise CompatValueError(f"total weight must be finite, got {amount}")
        weights = self._zeros()
        if self._pool:
            weights[self._pool] = amount / len(self._pool)
        self._weights = weights
        return self

    def weight_explicitly(self, weights: float | Mapping[str, float] | pd.Series | list[float]) -> Allocation:
        """Explicit weights: one number for every candidate, a list in pool order, or a mapping asset -> weight."""
        if isinstance(weights, (int, float)):
            series = self._zeros()
            series[self._pool] = float(weights)
        elif isinstance(weights, list):
            if len(weights) != len(self._pool):
                raise CompatValueError(
                    f"{len(weights)} weights for {len(self._pool)} candidates {self._pool}: give one per candidate"
                )
            series = self._zeros()
            series.loc[self._pool] = np.asarray([float(w) for w in weights], dtype=float)
        else:
            self.set_weights(weights)
            return self
        self._weights = series
        return self

    def set_weights(self, weights: Mapping[str, float] | pd.Series) -> Allocation:
        """Weights by asset (others 0). Negative weights are shorts; the sum of |weights| may exceed 1 only with
        margin (the broker refuses what the account cannot carry)."""
        if not isinstance(weights, (Mapping, pd.Series)):
            raise CompatTypeError(f"weights must be a mapping or Series asset -> weight, got {type(weights).__name__}")
        items = dict(weights.items())
        self._check_known(items)
        series = self._zeros()
        for key, value in items.items():
            value = float(value)
            if not math.isfinite(value):
                raise CompatValueError(f"weight of {key} must be finite, got {value}")
            series[str(key)] = value
        for key in items:
            if str(key) not in self._pool:
                self._pool.append(str(key))
        self._weights = series
        return self

    @property
    def weights(self) -> pd.Series:
        """Target weight per asset (fraction of equity; negative = short). The Series itself: assigning to an
        item (``alloc.weights["AAPL"] = 0.5``) sets that weight."""
        return self._weights

    @weights.setter
    def weights(self, value: Mapping[str, float] | pd.Series) -> None:
        self.set_weights(value)

    current = weights  # minitrade 0.1.37's name

    def __repr__(self) -> str:
        nonzero = {k: round(v, 4) for k, v in self._weights.items() if v}
        return f"<Allocation pool={self._pool} weights={nonzero}>"
