"""minitrade's ``Strategy.record()``: values a strategy notes bar by bar, as time series over the data's index.

``self.record(ratio=0.3)`` notes one number at the current bar; ``self.record(weights={"AAPL": 0.5, ...})`` (a
dict or a Series) notes one value per key, a DataFrame column each. After the run ``strategy._records`` maps each
keyword to its Series / DataFrame (NaN where nothing was noted) with the plot options in ``.attrs``, and
``Backtest.plot()`` draws them like indicators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.compat.errors import CompatTypeError


@dataclass
class _Record:
    """One recorded keyword: a scalar per bar ("series") or a mapping per bar ("frame")."""

    kind: str
    values: dict[int, Any] = field(default_factory=dict)  # bar -> value (series) or {key: value} (frame)
    columns: dict[Any, None] = field(default_factory=dict)  # frame: keys in the order first seen
    attrs: dict[str, Any] = field(default_factory=dict)


class Records:
    """What a strategy recorded, keyed by keyword."""

    def __init__(self) -> None:
        self._store: dict[str, _Record] = {}

    def __bool__(self) -> bool:
        return bool(self._store)

    def note(self, bar: int, attrs: dict[str, Any], values: dict[str, Any]) -> None:
        for key, value in values.items():
            kind = "frame" if isinstance(value, (dict, pd.Series)) else "series"
            if kind == "series":
                if isinstance(value, np.ndarray) and value.ndim == 0:
                    value = value.item()
                elif not isinstance(value, (str, bytes)) and np.ndim(value) > 0:
                    raise CompatTypeError(
                        f"record({key}=...) got a {type(value).__name__} of {np.size(value)} values: record one "
                        f"value per bar, or a dict / Series (one column per key), e.g. record({key}=dict(...))"
                    )
            record = self._store.get(key)
            if record is None:
                record = self._store[key] = _Record(kind)
            elif record.kind != kind:
                was = "a dict or Series" if record.kind == "frame" else "one value"
                raise CompatTypeError(
                    f"record({key}=...) was given {was} before and now {type(value).__name__}: record one value "
                    "per bar, or a dict / Series of values per bar, under one name, not both"
                )
            if kind == "frame":
                mapping = dict(value)
                record.columns.update(dict.fromkeys(mapping))
                record.values.setdefault(bar, {}).update(mapping)
            else:
                record.values[bar] = value
            record.attrs = {**attrs, "name": attrs.get("name") or key}

    def frames(self, index: pd.Index) -> dict[str, pd.Series | pd.DataFrame]:
        """Each record as a Series (scalars) or DataFrame (mappings) over index (bars past its end dropped)."""
        n = len(index)
        out: dict[str, pd.Series | pd.DataFrame] = {}
        for key, record in self._store.items():
            attrs = dict(record.attrs)
            if record.kind == "series":
                series = pd.Series(_column([record.values.get(i, np.nan) for i in range(n)]), index=index)
                series.name = attrs["name"]
                series.attrs.update(attrs)
                out[key] = series
                continue
            columns = list(record.columns)
            rows = [record.values.get(i, {}) for i in range(n)]
            frame = pd.DataFrame(
                {c: _column([row.get(c, np.nan) for row in rows]) for c in columns}, index=index, columns=columns
            )
            frame.attrs.update(attrs)
            out[key] = frame
        return out


def _column(values: list[Any]) -> np.ndarray:
    """Floats when every value is a number (or missing), else the values as objects."""
    if all(isinstance(v, (Number, np.number)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float)
    column = np.empty(len(values), dtype=object)  # item by item: sequences stay single cells
    for i, v in enumerate(values):
        column[i] = v
    return column
