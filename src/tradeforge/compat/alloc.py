"""minitrade's ``self.alloc``: choose assets and weights for ``self.rebalance()``.

At the start of every ``next()`` the allocation is empty. ``alloc.add(...)`` puts assets into the candidate pool
(conditions in one call are ANDed, separate calls ORed), ``alloc.equal_weight()`` gives each candidate the same
weight, ``alloc.weights = {...}`` (or ``alloc.set_weights``) sets explicit weights, negative for shorts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.compat.errors import CompatTypeError, CompatValueError


class Allocation:
    def __init__(self, symbols: Iterable[str]) -> None:
        self._symbols = list(symbols)
        self._known = set(self._symbols)
        self._pool: list[str] = []
        self._weights = pd.Series(0.0, index=self._symbols, dtype=float)
        self._modified = False

    # ------------------------------------------------------------ lifecycle
    def _next(self) -> None:
        """A new bar: the pool and the weights start empty again."""
        self._pool = []
        self._weights = pd.Series(0.0, index=self._symbols, dtype=float)
        self._modified = False

    @property
    def tickers(self) -> list[str]:
        return list(self._symbols)

    @property
    def modified(self) -> bool:
        """Whether weights were set during this bar (rebalance() does nothing otherwise)."""
        return self._modified

    # ------------------------------------------------------------ candidates
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
        unknown = chosen - self._known
        if unknown:
            raise CompatValueError(f"unknown assets {sorted(unknown)}; this backtest trades {self._symbols}")
        return chosen

    def add(self, items: Any = None, *conditions: Any) -> Allocation:
        """Add the assets selected by items AND every condition to the candidate pool. No argument: all assets."""
        chosen = set(self._known) if items is None else self._selection(items)
        for condition in conditions:
            chosen &= self._selection(condition)
        for symbol in self._symbols:  # keep the data's asset order
            if symbol in chosen and symbol not in self._pool:
                self._pool.append(symbol)
        return self

    def drop(self, items: Any, *conditions: Any) -> Allocation:
        """Remove the assets selected by items AND every condition from the candidate pool."""
        chosen = self._selection(items)
        for condition in conditions:
            chosen &= self._selection(condition)
        self._pool = [s for s in self._pool if s not in chosen]
        return self

    @property
    def bucket(self) -> list[str]:
        """The candidate pool, in the data's asset order."""
        return list(self._pool)

    # --------------------------------------------------------------- weights
    def equal_weight(self, total: float = 1.0) -> Allocation:
        """Each candidate gets total / len(pool) of equity (negative total: equal short weights)."""
        if not math.isfinite(total):
            raise CompatValueError(f"total weight must be finite, got {total}")
        weights = pd.Series(0.0, index=self._symbols, dtype=float)
        if self._pool:
            weights[self._pool] = total / len(self._pool)
        self._set(weights)
        return self

    def weight_explicitly(self, weights: float | Mapping[str, float] | pd.Series | list[float]) -> Allocation:
        """Explicit weights: one number for every candidate, a list in pool order, or a mapping asset -> weight."""
        if isinstance(weights, (int, float)):
            series = pd.Series(0.0, index=self._symbols, dtype=float)
            series[self._pool] = float(weights)
        elif isinstance(weights, list):
            if len(weights) != len(self._pool):
                raise CompatValueError(
                    f"{len(weights)} weights for {len(self._pool)} candidates {self._pool}: give one per candidate"
                )
            series = pd.Series(0.0, index=self._symbols, dtype=float)
            series.loc[self._pool] = np.asarray([float(w) for w in weights], dtype=float)
        else:
            self.set_weights(weights)
            return self
        self._set(series)
        return self

    def set_weights(self, weights: Mapping[str, float] | pd.Series) -> Allocation:
        """Weights by asset (others 0). Negative weights are shorts; the sum of |weights| may exceed 1 only with
        margin (the broker refuses what the account cannot carry)."""
        if not isinstance(weights, (Mapping, pd.Series)):
            raise CompatTypeError(f"weights must be a mapping or Series asset -> weight, got {type(weights).__name__}")
        items = dict(weights.items())
        unknown = {str(k) for k in items} - self._known
        if unknown:
            raise CompatValueError(
                f"weights name unknown assets {sorted(unknown)}; this backtest trades {self._symbols}"
            )
        series = pd.Series(0.0, index=self._symbols, dtype=float)
        for key, value in items.items():
            value = float(value)
            if not math.isfinite(value):
                raise CompatValueError(f"weight of {key} must be finite, got {value}")
            series[str(key)] = value
        for key in items:
            if str(key) not in self._pool:
                self._pool.append(str(key))
        self._set(series)
        return self

    def _set(self, weights: pd.Series) -> None:
        self._weights = weights
        self._modified = True

    @property
    def weights(self) -> pd.Series:
        """Target weight per asset (fraction of equity; negative = short)."""
        return self._weights.copy()

    @weights.setter
    def weights(self, value: Mapping[str, float] | pd.Series) -> None:
        self.set_weights(value)

    def __repr__(self) -> str:
        nonzero = {k: round(v, 4) for k, v in self._weights.items() if v}
        return f"<Allocation pool={self._pool} weights={nonzero}>"
