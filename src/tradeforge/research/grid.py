"""Parameter grids: the product of value lists, filtered by a vectorised constraint, as one array per name."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError

Constraint = Callable[..., Any]


@dataclass(frozen=True)
class Grid:
    """Parameter combinations: ``values[name][i]`` is parameter ``name`` of combination i."""

    names: tuple[str, ...]
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return 0 if not self.names else int(self.values[self.names[0]].shape[0])

    def take(self, rows: np.ndarray | slice) -> dict[str, np.ndarray]:
        """The parameter arrays of some combinations (a chunk)."""
        return {name: self.values[name][rows] for name in self.names}

    def combination(self, i: int) -> dict[str, Any]:
        """Combination i as plain Python values."""
        return {name: self.values[name][i].item() for name in self.names}

    def frame(self) -> pd.DataFrame:
        """One row per combination, one column per parameter."""
        return pd.DataFrame({name: self.values[name] for name in self.names})


def make_grid(params: Mapping[str, Iterable[Any] | Any], constraint: Constraint | None = None) -> Grid:
    """Every combination of the given values (a scalar is a fixed value), in order (the last name varies
    fastest), kept where ``constraint(**arrays)`` is true. The constraint is called once with one array per
    parameter, so write it with array operators: ``lambda fast, slow: fast < slow``."""
    if not params:
        raise ConfigError("give at least one parameter to sweep, e.g. params={'fast': range(5, 51, 5)}")
    names: list[str] = []
    lists: list[list[Any]] = []
    for name, spec in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"parameter names must be Python identifiers, got {name!r}")
        values = list(spec) if isinstance(spec, Iterable) and not isinstance(spec, str | bytes) else [spec]
        if not values:
            raise ConfigError(f"parameter {name!r} has no values to try")
        names.append(name)
        lists.append(values)
    rows = list(itertools.product(*lists))
    arrays = {name: np.asarray([r[k] for r in rows]) for k, name in enumerate(names)}
    for name, arr in arrays.items():
        if arr.dtype == object:
            raise ConfigError(f"parameter {name!r} mixes types ({lists[names.index(name)][:5]}...); use numbers")
    if constraint is not None:
        try:
            keep = np.asarray(constraint(**arrays))
        except Exception as exc:  # the user's code: say where it failed, keep the cause
            raise ConfigError(
                f"the constraint failed on the parameter arrays ({type(exc).__name__}: {exc}); it is called once "
                f"with one numpy array per parameter ({', '.join(names)}): use array operators (&, |, <)"
            ) from exc
        if keep.dtype != bool or keep.shape != (len(rows),):
            raise ConfigError(
                f"the constraint must return one True/False per combination ({len(rows)}), got dtype "
                f"{keep.dtype} and shape {keep.shape}"
            )
        arrays = {name: arr[keep] for name, arr in arrays.items()}
        if not keep.any():
            raise ConfigError("the constraint rejects every combination: nothing to sweep")
    return Grid(tuple(names), arrays)
